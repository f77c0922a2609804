
/*
 * Copyright (C) tokenroute authors
 *
 * Non-streamed response bodies between the two shapes: the entry point,
 * and what bodies and streams read alike (stop and finish reasons, the
 * first choice, Anthropic's usage fields).  The translations are
 * tokenroute_translate_response_ao.c's and _oa.c's.
 */


#include <string.h>

#include "tokenroute_translate_response_int.h"


/* Anthropic usage fields, in st->usage[] order */
const char  *tokenroute_resp_usage_keys[] = {
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens"
};


int
tokenroute_translate_response(int from, int to, const unsigned char *body,
    size_t len, const char *model, size_t model_len, unsigned char **out,
    size_t *out_len)
{
    int                     rc;
    tokenroute_json_buf_t   b;
    tokenroute_json_tree_t  j;

    if (from == to
        || (from != TOKENROUTE_SHAPE_OPENAI
            && from != TOKENROUTE_SHAPE_ANTHROPIC)
        || (to != TOKENROUTE_SHAPE_OPENAI && to != TOKENROUTE_SHAPE_ANTHROPIC))
    {
        return -1;
    }

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    memset(&b, 0, sizeof(tokenroute_json_buf_t));

    rc = tokenroute_json_tree_parse(&j, (const char *) body, len, NULL);

    /* the answer comes out about as long as it came in, plus the frame */
    if (rc == 0 && tokenroute_json_reserve(&b, len + 512) != 0) {
        rc = -2;
    }

    if (rc == 0) {
        if (from == TOKENROUTE_SHAPE_ANTHROPIC) {
            rc = tokenroute_resp_ao(&j, &b, model, model_len);

        } else {
            rc = tokenroute_resp_oa(&j, &b, model, model_len);
        }
    }

    tokenroute_json_tree_free(&j);

    if (rc == 0) {
        tokenroute_json_add(&b, "", 1);

        if (b.failed) {
            rc = -2;
        }
    }

    if (rc != 0) {
        tokenroute_json_buf_free(&b);
        return rc;
    }

    *out = (unsigned char *) b.data;
    *out_len = b.len - 1;

    return 0;
}


/*
 * An Anthropic usage field, by st->usage[] index.  The cache writes are
 * cache_creation_input_tokens, or the sum of their cache_creation split
 * by lifetime if that says more, as the accounting reads them
 * (tokenroute_usage.c), so that prompt_tokens count what is charged.
 */

int64_t
tokenroute_resp_usage(tokenroute_json_node_t *usage, int i)
{
    int64_t                  v, w5, w1;
    tokenroute_json_node_t  *split;

    v = tokenroute_json_int(tokenroute_json_get(usage,
                                                tokenroute_resp_usage_keys[i]),
                            0);

    if (i != TR_U_CACHE_WRITE) {
        return v;
    }

    split = tokenroute_json_get(usage, "cache_creation");

    w5 = tokenroute_json_int(tokenroute_json_get(split,
                                 "ephemeral_5m_input_tokens"), 0);
    w1 = tokenroute_json_int(tokenroute_json_get(split,
                                 "ephemeral_1h_input_tokens"), 0);

    /* the callers take no count above INT64_MAX / 4: neither does this */

    if (w5 < 0 || w1 < 0 || w5 > INT64_MAX / 4 || w1 > INT64_MAX / 4) {
        return v;
    }

    return (w5 + w1 > v) ? w5 + w1 : v;
}


/* stop and finish reasons */


const char *
tokenroute_resp_finish_reason(const char *s, size_t len)
{
    if (tr_str_is(s, len, "max_tokens") || tr_str_is(s, len, "compaction")) {
        return "length";
    }

    if (tr_str_is(s, len, "tool_use")) {
        return "tool_calls";
    }

    if (tr_str_is(s, len, "refusal")) {
        return "content_filter";
    }

    /* end_turn, stop_sequence, pause_turn, unknown */

    return "stop";
}


const char *
tokenroute_resp_stop_reason(const char *s, size_t len)
{
    if (tr_str_is(s, len, "length")) {
        return "max_tokens";
    }

    if (tr_str_is(s, len, "tool_calls") || tr_str_is(s, len, "function_call"))
    {
        return "tool_use";
    }

    if (tr_str_is(s, len, "content_filter")) {
        return "refusal";
    }

    return "end_turn";
}


/* the choice with index 0 of the choices array n */

tokenroute_json_node_t *
tokenroute_resp_choice(tokenroute_json_node_t *n)
{
    tokenroute_json_node_t  *c;

    if (n == NULL || n->type != TR_J_ARRAY) {
        return NULL;
    }

    for (c = n->first; c != NULL; c = c->next) {

        if (c->type == TR_J_MAP
            && tokenroute_json_int(tokenroute_json_get(c, "index"), 0) == 0)
        {
            return c;
        }
    }

    return NULL;
}
