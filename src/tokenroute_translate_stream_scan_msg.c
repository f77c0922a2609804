
/*
 * Copyright (C) tokenroute authors
 *
 * The fast path's readers of the members it takes inside an Anthropic
 * event (tokenroute_translate_stream_scan.c): message_start's message,
 * a usage object and its cache_creation split, content_block_start's
 * block, each as tokenroute_stream_ao() reads it from the tree (the
 * first member of a name; a double, an escaped key or an escaped string
 * it keeps: the tree reads the event).
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_json_scan.h"
#include "tokenroute_json_value.h"
#include "tokenroute_translate_response_int.h"


static int tokenroute_stream_scan_split(tokenroute_json_scan_t *js,
    int64_t *w);
static int tokenroute_stream_scan_int(tokenroute_json_scan_t *js,
    tokenroute_json_token_e t, int64_t *v);


/* message_start's message, after its '{': 0, or -1 if the tree must read */

int
tokenroute_stream_scan_message(tokenroute_json_scan_t *js,
    tokenroute_stream_scan_t *sc)
{
    int                       rc;
    size_t                    n;
    unsigned                  seen;
    const char               *k;
    tokenroute_json_token_e   t;

    seen = 0;

    while ((rc = tokenroute_stream_scan_member(js, &k, &n, &t)) > 0) {
        if (tr_str_is(k, n, "id") && !(seen & 1)) {
            seen |= 1;

            if (tokenroute_stream_scan_str(js, t, &sc->id, &sc->id_len) != 0) {
                return -1;
            }

        } else if (tr_str_is(k, n, "usage") && !(seen & 2)) {
            seen |= 2;

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_usage(js, sc->msg_usage) != 0) {
                    return -1;
                }

                continue;
            }
        }

        if (tokenroute_stream_scan_pass(js, t) != 0) {
            return -1;
        }
    }

    return rc;
}


/*
 * content_block_start's content_block, after its '{': its first type, id
 * and name if they are strings.  0, or -1 if the tree must read it.
 */

int
tokenroute_stream_scan_block(tokenroute_json_scan_t *js,
    tokenroute_stream_blk_t *b)
{
    int                       i, rc;
    size_t                    n, *len[3];
    unsigned                  seen;
    const char               *k, **str[3];
    tokenroute_json_token_e   t;

    str[0] = &b->type;
    len[0] = &b->type_len;
    str[1] = &b->id;
    len[1] = &b->id_len;
    str[2] = &b->name;
    len[2] = &b->name_len;

    seen = 0;

    while ((rc = tokenroute_stream_scan_member(js, &k, &n, &t)) > 0) {
        i = tr_str_is(k, n, "type") ? 0
            : tr_str_is(k, n, "id") ? 1
            : tr_str_is(k, n, "name") ? 2 : -1;

        if (i >= 0 && !(seen & (1u << i))) {
            seen |= 1u << i;

            if (tokenroute_stream_scan_str(js, t, str[i], len[i]) != 0) {
                return -1;
            }
        }

        if (tokenroute_stream_scan_pass(js, t) != 0) {
            return -1;
        }
    }

    return rc;
}


/*
 * A usage object, after its '{': its counts in usage[] as
 * tokenroute_resp_usage() reads them from the tree (the first member of
 * a name, 0 if it is no number, the cache writes from their split if that
 * says more).  0, or -1 if the tree must read it.
 */

int
tokenroute_stream_scan_usage(tokenroute_json_scan_t *js, int64_t *usage)
{
    int                       i, rc;
    size_t                    n;
    int64_t                   w[2];
    unsigned                  seen;
    const char               *k;
    tokenroute_json_token_e   t;

    seen = 0;
    w[0] = 0;
    w[1] = 0;

    while ((rc = tokenroute_stream_scan_member(js, &k, &n, &t)) > 0) {
        for (i = 0; i < 4; i++) {
            if (n == strlen(tokenroute_resp_usage_keys[i])
                && memcmp(k, tokenroute_resp_usage_keys[i], n) == 0)
            {
                break;
            }
        }

        if (i < 4 && !(seen & (1u << i))) {
            seen |= 1u << i;

            if (tokenroute_stream_scan_int(js, t, &usage[i]) != 0) {
                return -1;
            }

            continue;
        }

        if (tr_str_is(k, n, "cache_creation") && !(seen & 16)) {
            seen |= 16;

            if (t == TOKENROUTE_JSON_OBJECT) {

                if (tokenroute_stream_scan_split(js, w) != 0) {
                    return -1;
                }

                continue;
            }
        }

        if (tokenroute_stream_scan_pass(js, t) != 0) {
            return -1;
        }
    }

    if (rc < 0) {
        return -1;
    }

    /* the tree path's arithmetic (tokenroute_resp_usage()) */

    if (w[0] < 0 || w[1] < 0 || w[0] > INT64_MAX / 4
        || w[1] > INT64_MAX / 4)
    {
        return 0;
    }

    if (w[0] + w[1] > usage[TR_U_CACHE_WRITE]) {
        usage[TR_U_CACHE_WRITE] = w[0] + w[1];
    }

    return 0;
}


/* cache_creation, after its '{': the 5-minute and 1-hour writes in w[] */

static int
tokenroute_stream_scan_split(tokenroute_json_scan_t *js, int64_t *w)
{
    int                       i, rc;
    size_t                    n;
    unsigned                  seen;
    const char               *k;
    tokenroute_json_token_e   t;

    seen = 0;

    while ((rc = tokenroute_stream_scan_member(js, &k, &n, &t)) > 0) {
        i = tr_str_is(k, n, "ephemeral_5m_input_tokens") ? 0
            : tr_str_is(k, n, "ephemeral_1h_input_tokens") ? 1 : -1;

        if (i >= 0 && !(seen & (1u << i))) {
            seen |= 1u << i;

            if (tokenroute_stream_scan_int(js, t, &w[i]) != 0) {
                return -1;
            }

        } else if (tokenroute_stream_scan_pass(js, t) != 0) {
            return -1;
        }
    }

    return rc;
}


/* a number as tokenroute_json_int(n, 0) reads it: -1 if a double */

static int
tokenroute_stream_scan_int(tokenroute_json_scan_t *js,
    tokenroute_json_token_e t, int64_t *v)
{
    switch (t) {

    case TOKENROUTE_JSON_INTEGER:
        *v = tokenroute_json_integer(js->token, js->end);
        return 0;

    case TOKENROUTE_JSON_DOUBLE:
        return -1;

    case TOKENROUTE_JSON_OBJECT:
    case TOKENROUTE_JSON_ARRAY:
        *v = 0;
        return (tokenroute_json_scan_skip(js) == TOKENROUTE_JSON_ERROR)
               ? -1 : 0;

    default:
        *v = 0;
        return 0;
    }
}
