
/*
 * Copyright (C) tokenroute authors
 *
 * The fast path of an Anthropic stream's events: most of a stream is
 * content_block_delta events, which a pull scan (tokenroute_json_scan.h,
 * strict, no allocation) reads without building the stream's JSON tree,
 * and so are the other events of a stream but an error (the members
 * inside them: tokenroute_translate_stream_scan_msg.c); the events in
 * Anthropic's own bytes are matched whole first
 * (tokenroute_translate_stream_shape.c).  The scan reads
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


static int tokenroute_stream_scan_delta(tokenroute_json_scan_t *js,
    tokenroute_stream_scan_t *sc);


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
    int                       rc;
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

    for (pos = 0;
         (rc = tokenroute_stream_scan_member(&js, &k, &n, &t)) > 0;
         pos++)
    {
        /* the tree's lookups take the first member of a name */

        if (tr_str_is(k, n, "type") && !(seen & 1)) {
            seen |= 1;
            canonical &= (pos == 0 && t == TOKENROUTE_JSON_STRING);

            if (tokenroute_stream_scan_str(&js, t, &sc->type, &sc->type_len)
                != 0)
            {
                return 0;
            }

            if (t == TOKENROUTE_JSON_STRING) {
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

        } else if (tr_str_is(k, n, "index") && !(seen & 2)) {
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

        } else if (tr_str_is(k, n, "delta") && !(seen & 4)) {
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

        } else if (tr_str_is(k, n, "message") && !(seen & 8)) {
            seen |= 8;
            canonical = 0;

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_message(&js, sc) != 0) {
                    return 0;
                }

                continue;
            }

        } else if (tr_str_is(k, n, "content_block") && !(seen & 32)) {
            seen |= 32;
            canonical = 0;

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_block(&js, &sc->blk) != 0) {
                    return 0;
                }

                continue;
            }

        } else if (tr_str_is(k, n, "usage") && !(seen & 16)) {
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

        if (tokenroute_stream_scan_pass(&js, t) != 0) {
            return 0;
        }
    }

    if (rc < 0 || tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_END) {
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



/* the delta's members, after its '{': 0, or -1 if the tree must read */

static int
tokenroute_stream_scan_delta(tokenroute_json_scan_t *js,
    tokenroute_stream_scan_t *sc)
{
    int                       i, rc;
    size_t                    n;
    unsigned                  pos, seen;
    const char               *k;
    tokenroute_json_token_e   t;

    seen = 0;
    sc->canonical = 1;

    for (pos = 0;
         (rc = tokenroute_stream_scan_member(js, &k, &n, &t)) > 0;
         pos++)
    {
        i = -1;

        if (tr_str_is(k, n, "type")) {
            i = 3;

        } else if (tr_str_is(k, n, "text")) {
            i = TR_S_TEXT;

        } else if (tr_str_is(k, n, "partial_json")) {
            i = TR_S_JSON;

        } else if (tr_str_is(k, n, "thinking")) {
            i = TR_S_THINKING;

        } else if (tr_str_is(k, n, "stop_reason")) {
            i = 4;
        }

        if (i < 0 || (seen & (1u << i))) {
            /* another member, or a name again: the usage reader's */
            sc->canonical = 0;

        } else if (i == 4) {
            seen |= 1u << i;
            sc->canonical = 0;

            if (tokenroute_stream_scan_str(js, t, &sc->stop, &sc->stop_len)
                != 0)
            {
                return -1;
            }

        } else if (i == 3) {
            seen |= 1u << i;
            sc->canonical &= (pos == 0 && t == TOKENROUTE_JSON_STRING);

            if (tokenroute_stream_scan_str(js, t, &sc->dtype, &sc->dtype_len)
                != 0)
            {
                return -1;
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

        if (tokenroute_stream_scan_pass(js, t) != 0) {
            return -1;
        }
    }

    if (rc < 0) {
        return -1;
    }

    sc->canonical &= (pos == 2);

    return 0;
}


/* string i as the tree holds it: 0, or -1 if out of memory */

int
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
