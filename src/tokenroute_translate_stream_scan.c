
/*
 * Copyright (C) tokenroute authors
 *
 * The fast path of an Anthropic stream's events: most of a stream is
 * content_block_delta events, which a pull scan (tokenroute_json_scan.h,
 * strict, no allocation) reads without building the stream's JSON tree,
 * and so are the other events of a stream but an error (the members
 * inside them: tokenroute_translate_stream_scan_msg.c).  The scan reads
 * what tokenroute_stream_ao() reads from the tree, as the tree gives it
 * (the first member of a name, strings decoded), and gives up on anything
 * else: an event it rejects, an escaped key, a double, an error.  The
 * tree then reads the event and gives the verdict, so the verdicts stay
 * the tree's (t/unit/stream_diff.c holds both paths to the same output
 * and usage).
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_json_scan.h"
#include "tokenroute_json_value.h"
#include "tokenroute_translate_response_int.h"


/* the delta's strings, in tokenroute_stream_scan_t's str[] */
#define TR_S_TEXT               0
#define TR_S_JSON               1
#define TR_S_THINKING           2

/* Anthropic's content delta as it sends it, up to the index and after it */
#define TR_SHAPE_HEAD      "{\"type\":\"content_block_delta\",\"index\":"
#define TR_SHAPE_TEXT      ",\"delta\":{\"type\":\"text_delta\",\"text\":"
#define TR_SHAPE_JSON                                                         \
    ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
#define TR_SHAPE_THINKING                                                     \
    ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":"

/* the other events Anthropic sends, up to their numbers and reason */
#define TR_SHAPE_STOP      "{\"type\":\"content_block_stop\",\"index\":"
#define TR_SHAPE_START     "{\"type\":\"content_block_start\",\"index\":"
#define TR_SHAPE_START_TEXT                                                   \
    ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define TR_SHAPE_MSG_DELTA                                                    \
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""
#define TR_SHAPE_MSG_DELTA_USAGE                                              \
    "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":"

#define TR_SHAPE_MSG_START                                                    \
    "{\"type\":\"message_start\",\"message\":{\"id\":\""
#define TR_SHAPE_MSG_MODEL                                                    \
    "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\""
#define TR_SHAPE_MSG_USAGE                                                    \
    "\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"          \
    "\"usage\":{\"input_tokens\":"
#define TR_SHAPE_MSG_TIER  ",\"service_tier\":\"standard\"}}}"

#define tr_shape_at(p, last, lit)                                             \
    ((size_t) ((last) - (p)) > sizeof(lit) - 1                                \
     && memcmp(p, lit, sizeof(lit) - 1) == 0)

#define tr_key_is(p, n, lit)                                                  \
    ((n) == sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0)


static int tokenroute_stream_scan_shape(tokenroute_stream_t *st,
    const char *data, size_t len, tokenroute_stream_scan_t *sc);
static int tokenroute_stream_scan_small(const char *data, size_t len,
    tokenroute_stream_scan_t *sc);
static const char *tokenroute_stream_scan_digits(const char *p,
    const char *last, int64_t *v);
static int tokenroute_stream_scan_start(const char *p, const char *last,
    tokenroute_stream_scan_t *sc);
static const char *tokenroute_stream_scan_plain(const char *p,
    const char *last);
static int tokenroute_stream_scan_delta(tokenroute_json_scan_t *js,
    tokenroute_stream_scan_t *sc);
static int tokenroute_stream_scan_decode(tokenroute_stream_t *st,
    tokenroute_stream_scan_t *sc, int i);


/*
 * Reads an event's data: 1 with *sc filled in, or 0 if the tree must
 * read it.  sc->bytes is set (else -1) when the event is a plain content
 * delta, in Anthropic's own order and members (type, index, delta; the
 * delta's type and one text): the usage reader would count just its
 * decoded text and flag nothing.
 */

int
tokenroute_stream_scan_ao(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len,
    tokenroute_stream_scan_t *sc)
{
    size_t                    n;
    unsigned                  pos, seen, canonical;
    const char               *k, *type;
    tokenroute_json_scan_t    js;
    tokenroute_json_token_e   t;

    if (!tr_str_is(event, event_len, "error")
        && tokenroute_stream_scan_shape(st, data, len, sc))
    {
        return 1;
    }

    memset(sc, 0, sizeof(tokenroute_stream_scan_t));
    sc->index = -1;
    sc->bytes = -1;
    sc->output = -1;
    sc->blk.id = "";
    sc->blk.name = "";

    if (!tr_str_is(event, event_len, "error")
        && tokenroute_stream_scan_small(data, len, sc))
    {
        return 1;
    }

    tokenroute_json_scan_init(&js, (const unsigned char *) data, len);

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_OBJECT) {
        return 0;
    }

    canonical = 1;
    seen = 0;

    for (pos = 0; /* void */; pos++) {
        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_OBJECT_END) {
            break;
        }

        if (t != TOKENROUTE_JSON_KEY || js.escaped) {
            return 0;
        }

        k = (const char *) js.token + 1;
        n = js.end - js.token - 2;

        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_ERROR) {
            return 0;
        }

        /* the tree's lookups take the first member of a name */

        if (tr_key_is(k, n, "type") && !(seen & 1)) {
            seen |= 1;
            canonical &= (pos == 0 && t == TOKENROUTE_JSON_STRING);

            if (t == TOKENROUTE_JSON_STRING) {

                if (js.escaped) {
                    return 0;
                }

                sc->type = (const char *) js.token + 1;
                sc->type_len = js.end - js.token - 2;
                sc->has_type = 1;

                /* the events the tree path reads more of: no use going on */

                if (!tr_str_is(sc->type, sc->type_len, "content_block_delta")
                    && !tr_str_is(sc->type, sc->type_len, "ping")
                    && !tr_str_is(sc->type, sc->type_len,
                                  "content_block_stop")
                    && !tr_str_is(sc->type, sc->type_len, "message_stop")
                    && !tr_str_is(sc->type, sc->type_len, "message_start")
                    && !tr_str_is(sc->type, sc->type_len, "message_delta")
                    && !tr_str_is(sc->type, sc->type_len,
                                  "content_block_start"))
                {
                    return 0;
                }
            }

        } else if (tr_key_is(k, n, "index") && !(seen & 2)) {
            seen |= 2;

            if (t == TOKENROUTE_JSON_DOUBLE) {
                /* 1.0 or 1e0: the tree's conversion */
                return 0;
            }

            if (t == TOKENROUTE_JSON_INTEGER) {
                sc->index = tokenroute_json_integer(js.token, js.end);
                canonical &= (pos == 1 && js.end - js.token <= 18);

            } else {
                canonical = 0;
            }

        } else if (tr_key_is(k, n, "delta") && !(seen & 4)) {
            seen |= 4;

            if (t == TOKENROUTE_JSON_OBJECT) {
                sc->has_delta = 1;

                if (tokenroute_stream_scan_delta(&js, sc) != 0) {
                    return 0;
                }

                canonical &= (pos == 2 && sc->canonical);
                continue;
            }

            canonical = 0;

        } else if (tr_key_is(k, n, "message") && !(seen & 8)) {
            seen |= 8;
            canonical = 0;

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_message(&js, sc) != 0) {
                    return 0;
                }

                continue;
            }

        } else if (tr_key_is(k, n, "content_block") && !(seen & 32)) {
            seen |= 32;
            canonical = 0;

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_block(&js, &sc->blk) != 0) {
                    return 0;
                }

                continue;
            }

        } else if (tr_key_is(k, n, "usage") && !(seen & 16)) {
            seen |= 16;
            canonical = 0;

            /* not a map: no counts, as the tree's lookups find none */

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_usage(&js, sc->usage) != 0) {
                    return 0;
                }

                continue;
            }

        } else {
            canonical = 0;
        }

        if ((t == TOKENROUTE_JSON_OBJECT || t == TOKENROUTE_JSON_ARRAY)
            && tokenroute_json_scan_skip(&js) == TOKENROUTE_JSON_ERROR)
        {
            return 0;
        }
    }

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_END) {
        return 0;
    }

    if (sc->has_type) {
        type = sc->type;
        n = sc->type_len;

    } else {
        type = event;
        n = event_len;
    }

    if (tr_str_is(type, n, "error")) {
        return 0;
    }

    sc->blk.index = sc->index;

    sc->block_delta = tr_str_is(type, n, "content_block_delta");

    /* the one string the translation or the usage reader wants, decoded */

    if (sc->block_delta) {

        if (tr_str_is(sc->dtype, sc->dtype_len, "text_delta")) {
            sc->want = TR_S_TEXT + 1;

        } else if (tr_str_is(sc->dtype, sc->dtype_len, "input_json_delta")) {
            sc->want = TR_S_JSON + 1;

        } else if (tr_str_is(sc->dtype, sc->dtype_len, "thinking_delta")) {
            /* not translated, but counted by the usage reader */
            sc->want = TR_S_THINKING + 1;
        }
    }

    if (sc->want != 0 && sc->str[sc->want - 1] != NULL
        && tokenroute_stream_scan_decode(st, sc, sc->want - 1) != 0)
    {
        return 0;
    }

    canonical &= (pos == 3 && sc->block_delta && sc->want != 0
                  && sc->canonical_str == sc->want - 1
                  && !tr_str_is(event, event_len, "error"));

    if (canonical) {
        sc->bytes = (int64_t) sc->len;
    }

    return 1;
}


/*
 * Most events: a content delta byte for byte as Anthropic sends it (no
 * whitespace, an index without sign or leading zero), the text checked
 * by the scan.  1 with what tokenroute_stream_ao_scanned() and the tap
 * read of *sc set as the general scan sets it (the rest is not cleared:
 * this runs for every event), or 0.
 */

static int
tokenroute_stream_scan_shape(tokenroute_stream_t *st, const char *data,
    size_t len, tokenroute_stream_scan_t *sc)
{
    int                       i;
    size_t                    n, dtype_len;
    int64_t                   index;
    const char               *dtype;
    const unsigned char      *p, *last;
    tokenroute_json_scan_t    js;

    p = (const unsigned char *) data;
    last = p + len;

    if (len < sizeof(TR_SHAPE_HEAD) - 1 + sizeof(TR_SHAPE_TEXT) - 1 + 5
        || memcmp(p, TR_SHAPE_HEAD, sizeof(TR_SHAPE_HEAD) - 1) != 0
        || memcmp(last - 2, "}}", 2) != 0)
    {
        return 0;
    }

    p += sizeof(TR_SHAPE_HEAD) - 1;

    /* up to 18 digits: no overflow, and the usage reader's own limit */

    index = 0;

    for (n = 0; p < last && (unsigned) (*p - '0') <= 9 && n < 18; n++) {
        index = index * 10 + (*p++ - '0');
    }

    if (n == 0 || (n > 1 && p[-(ptrdiff_t) n] == '0')) {
        return 0;
    }

    n = last - p;

#define tr_shape_is(lit)                                                      \
    (n > sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0)

    if (tr_shape_is(TR_SHAPE_TEXT)) {
        i = TR_S_TEXT;
        p += sizeof(TR_SHAPE_TEXT) - 1;
        dtype = "text_delta";
        dtype_len = sizeof("text_delta") - 1;

    } else if (tr_shape_is(TR_SHAPE_JSON)) {
        i = TR_S_JSON;
        p += sizeof(TR_SHAPE_JSON) - 1;
        dtype = "input_json_delta";
        dtype_len = sizeof("input_json_delta") - 1;

    } else if (tr_shape_is(TR_SHAPE_THINKING)) {
        i = TR_S_THINKING;
        p += sizeof(TR_SHAPE_THINKING) - 1;
        dtype = "thinking_delta";
        dtype_len = sizeof("thinking_delta") - 1;

    } else {
        return 0;
    }

#undef tr_shape_is

    /*
     * The string, and nothing but the closing braces after it: a string
     * token up to them (the scan ends with it, nothing follows).
     */

    tokenroute_json_scan_init(&js, p, last - 2 - p);

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_STRING
        || js.token != p || js.end != last - 2)
    {
        return 0;
    }

    sc->type = "content_block_delta";
    sc->type_len = sizeof("content_block_delta") - 1;
    sc->dtype = dtype;
    sc->dtype_len = dtype_len;
    sc->quoted = NULL;
    sc->has_type = 1;
    sc->has_delta = 1;
    sc->block_delta = 1;
    sc->final = 0;
    sc->counts = 0;
    sc->output = -1;
    sc->index = index;
    sc->want = i + 1;
    sc->str[i] = p + 1;
    sc->str_end[i] = last - 3;
    sc->escaped[i] = js.escaped;

    if (tokenroute_stream_scan_decode(st, sc, i) != 0) {
        return 0;
    }

    sc->bytes = (int64_t) sc->len;

    return 1;
}


/*
 * The other events byte for byte as Anthropic sends them: ping,
 * content_block_stop, a text block's content_block_start, message_delta
 * with a stop reason of plain letters and its output count, and
 * message_stop (indexes and counts without sign or leading zero, up to
 * 18 digits).  The usage reader would take from them no more than
 * message_delta's count (sc->output) and message_stop's
 * TOKENROUTE_EVENT_FINAL (sc->final).  1 with *sc set (cleared before),
 * or 0.
 */

static int
tokenroute_stream_scan_small(const char *data, size_t len,
    tokenroute_stream_scan_t *sc)
{
    const char  *p, *last, *q;

    p = data;
    last = data + len;

    if (tr_str_is(data, len, "{\"type\":\"ping\"}")) {
        sc->type = "ping";

    } else if (tr_str_is(data, len, "{\"type\":\"message_stop\"}")) {
        sc->type = "message_stop";
        sc->final = 1;

    } else if (tr_shape_at(p, last, TR_SHAPE_STOP)) {
        p = tokenroute_stream_scan_digits(p + sizeof(TR_SHAPE_STOP) - 1,
                                          last, &sc->index);

        if (p == NULL || p + 1 != last || *p != '}') {
            return 0;
        }

        sc->type = "content_block_stop";

    } else if (tr_shape_at(p, last, TR_SHAPE_START)) {
        p = tokenroute_stream_scan_digits(p + sizeof(TR_SHAPE_START) - 1,
                                          last, &sc->index);

        if (p == NULL
            || !tr_str_is(p, last - p, TR_SHAPE_START_TEXT))
        {
            return 0;
        }

        sc->type = "content_block_start";
        sc->blk.type = "text";
        sc->blk.type_len = sizeof("text") - 1;

    } else if (tr_shape_at(p, last, TR_SHAPE_MSG_DELTA)) {
        p += sizeof(TR_SHAPE_MSG_DELTA) - 1;

        for (q = p; q < last && ((*q >= 'a' && *q <= 'z') || *q == '_'); q++)
        {
            /* void */
        }

        if (q == p || !tr_shape_at(q, last, TR_SHAPE_MSG_DELTA_USAGE)) {
            return 0;
        }

        sc->stop = p;
        sc->stop_len = q - p;

        q = tokenroute_stream_scan_digits(
                q + sizeof(TR_SHAPE_MSG_DELTA_USAGE) - 1, last, &sc->output);

        if (q == NULL || !tr_str_is(q, last - q, "}}")) {
            return 0;
        }

        sc->type = "message_delta";
        sc->usage[TR_U_OUTPUT] = sc->output;

    } else if (tr_shape_at(p, last, TR_SHAPE_MSG_START)) {
        return tokenroute_stream_scan_start(p, last, sc);

    } else {
        return 0;
    }

    sc->type_len = strlen(sc->type);
    sc->has_type = 1;
    sc->blk.index = sc->index;
    sc->bytes = 0;

    return 1;
}


/*
 * message_start as Anthropic sends it: an id and a model of plain
 * printable ASCII, the four counts (the usage reader's too, sc->counts),
 * and the service tier or not.
 */

static int
tokenroute_stream_scan_start(const char *p, const char *last,
    tokenroute_stream_scan_t *sc)
{
    int          i;
    const char  *id, *q;

    static const char  *keys[] = {
        ",\"cache_creation_input_tokens\":",
        ",\"cache_read_input_tokens\":",
        ",\"output_tokens\":"
    };
    static const int    index[] = {
        TR_U_CACHE_WRITE, TR_U_CACHE_READ, TR_U_OUTPUT
    };

    id = p + sizeof(TR_SHAPE_MSG_START) - 1;
    q = tokenroute_stream_scan_plain(id, last);

    if (q == NULL || !tr_shape_at(q, last, TR_SHAPE_MSG_MODEL)) {
        return 0;
    }

    sc->id = id;
    sc->id_len = q - id;

    q = tokenroute_stream_scan_plain(q + sizeof(TR_SHAPE_MSG_MODEL) - 1, last);

    if (q == NULL || !tr_shape_at(q, last, TR_SHAPE_MSG_USAGE)) {
        return 0;
    }

    q = tokenroute_stream_scan_digits(q + sizeof(TR_SHAPE_MSG_USAGE) - 1,
                                      last, &sc->msg_usage[TR_U_INPUT]);

    for (i = 0; i < 3; i++) {

        if (q == NULL || (size_t) (last - q) <= strlen(keys[i])
            || memcmp(q, keys[i], strlen(keys[i])) != 0)
        {
            return 0;
        }

        q = tokenroute_stream_scan_digits(q + strlen(keys[i]), last,
                                          &sc->msg_usage[index[i]]);
    }

    if (q == NULL
        || !(tr_str_is(q, last - q, "}}}")
             || tr_str_is(q, last - q, TR_SHAPE_MSG_TIER)))
    {
        return 0;
    }

    sc->type = "message_start";
    sc->type_len = sizeof("message_start") - 1;
    sc->has_type = 1;
    sc->counts = 1;
    sc->bytes = 0;

    return 1;
}


/* a string's bytes of printable ASCII but quote and backslash: its end */

static const char *
tokenroute_stream_scan_plain(const char *p, const char *last)
{
    for ( /* void */ ; p < last; p++) {

        if (*p == '"') {
            return p;
        }

        if (*p < 0x20 || *p > 0x7e || *p == '\\') {
            return NULL;
        }
    }

    return NULL;
}


/* an integer without sign or leading zero, up to 18 digits: its end */

static const char *
tokenroute_stream_scan_digits(const char *p, const char *last, int64_t *v)
{
    size_t   n;
    int64_t  k;

    k = 0;

    for (n = 0; p < last && (unsigned) (*p - '0') <= 9; n++, p++) {
        k = k * 10 + (*p - '0');

        if (n == 18) {
            return NULL;
        }
    }

    if (n == 0 || (n > 1 && p[-(ptrdiff_t) n] == '0')) {
        return NULL;
    }

    *v = k;

    return p;
}


/* the delta's members, after its '{': 0, or -1 if the tree must read */

static int
tokenroute_stream_scan_delta(tokenroute_json_scan_t *js,
    tokenroute_stream_scan_t *sc)
{
    int                       i;
    size_t                    n;
    unsigned                  pos, seen;
    const char               *k;
    tokenroute_json_token_e   t;

    seen = 0;
    sc->canonical = 1;

    for (pos = 0; /* void */; pos++) {
        t = tokenroute_json_scan_next(js);

        if (t == TOKENROUTE_JSON_OBJECT_END) {
            break;
        }

        if (t != TOKENROUTE_JSON_KEY || js->escaped) {
            return -1;
        }

        k = (const char *) js->token + 1;
        n = js->end - js->token - 2;

        t = tokenroute_json_scan_next(js);

        if (t == TOKENROUTE_JSON_ERROR) {
            return -1;
        }

        i = -1;

        if (tr_key_is(k, n, "type")) {
            i = 3;

        } else if (tr_key_is(k, n, "text")) {
            i = TR_S_TEXT;

        } else if (tr_key_is(k, n, "partial_json")) {
            i = TR_S_JSON;

        } else if (tr_key_is(k, n, "thinking")) {
            i = TR_S_THINKING;

        } else if (tr_key_is(k, n, "stop_reason")) {
            i = 4;
        }

        if (i < 0 || (seen & (1u << i))) {
            /* another member, or a name again: the usage reader's */
            sc->canonical = 0;

        } else if (i == 4) {
            seen |= 1u << i;
            sc->canonical = 0;

            if (t == TOKENROUTE_JSON_STRING) {

                if (js->escaped) {
                    return -1;
                }

                sc->stop = (const char *) js->token + 1;
                sc->stop_len = js->end - js->token - 2;
            }

        } else if (i == 3) {
            seen |= 1u << i;
            sc->canonical &= (pos == 0 && t == TOKENROUTE_JSON_STRING);

            if (t == TOKENROUTE_JSON_STRING) {

                if (js->escaped) {
                    return -1;
                }

                sc->dtype = (const char *) js->token + 1;
                sc->dtype_len = js->end - js->token - 2;
            }

        } else {
            seen |= 1u << i;
            sc->canonical &= (pos == 1 && t == TOKENROUTE_JSON_STRING);
            sc->canonical_str = i;

            if (t == TOKENROUTE_JSON_STRING) {
                sc->str[i] = js->token + 1;
                sc->str_end[i] = js->end - 1;
                sc->escaped[i] = js->escaped;
            }
        }

        if ((t == TOKENROUTE_JSON_OBJECT || t == TOKENROUTE_JSON_ARRAY)
            && tokenroute_json_scan_skip(js) == TOKENROUTE_JSON_ERROR)
        {
            return -1;
        }
    }

    sc->canonical &= (pos == 2);

    return 0;
}


/* string i as the tree holds it: 0, or -1 if out of memory */

static int
tokenroute_stream_scan_decode(tokenroute_stream_t *st,
    tokenroute_stream_scan_t *sc, int i)
{
    size_t  n;

    n = sc->str_end[i] - sc->str[i];

    if (!sc->escaped[i]) {
        /* no quote, backslash or control in it: its JSON is its token */
        sc->s = (const char *) sc->str[i];
        sc->len = n;
        sc->quoted = sc->s - 1;
        return 0;
    }

    /* decoding never lengthens: an escape is longer than what it gives */

    st->scratch.len = 0;

    if (tokenroute_json_reserve(&st->scratch, n + 1) != 0) {
        return -1;
    }

    sc->len = tokenroute_json_unescape(sc->str[i], sc->str_end[i],
                                       (unsigned char *) st->scratch.data, n);
    sc->s = st->scratch.data;

    return 0;
}
