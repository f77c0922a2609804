
/*
 * Copyright (C) tokenroute authors
 *
 * The events of an Anthropic stream byte for byte as Anthropic sends
 * them, matched whole before any scan (tokenroute_stream_scan_ao()): a
 * content delta, its text checked by the scan; and the other events
 * (message_start, a text block's start, ping, content_block_stop,
 * message_delta, message_stop), whose numbers, id, model and stop reason
 * are read where they stand.  Anything else goes to the general scan.
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_json_scan.h"
#include "tokenroute_translate_response_int.h"


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


static const char *tokenroute_stream_scan_digits(const char *p,
    const char *last, int64_t *v);
static int tokenroute_stream_scan_start(const char *p, const char *last,
    tokenroute_stream_scan_t *sc);
static const char *tokenroute_stream_scan_plain(const char *p,
    const char *last);


/*
 * Most events: a content delta byte for byte as Anthropic sends it (no
 * whitespace, an index without sign or leading zero), the text checked
 * by the scan.  1 with what tokenroute_stream_ao_scanned() and the tap
 * read of *sc set as the general scan sets it (the rest is not cleared:
 * this runs for every event), or 0.
 */

int
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

int
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
