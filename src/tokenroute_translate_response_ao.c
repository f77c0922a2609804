
/*
 * Copyright (C) tokenroute authors
 *
 * A non-streamed Anthropic Messages response as an OpenAI Chat
 * Completions one: the text blocks joined into the content, tool_use
 * blocks as tool_calls, and the usage with the cached tokens counted in
 * the prompt's.
 */


#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tokenroute_translate_response_int.h"


int
tokenroute_resp_ao(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    const char *model, size_t model_len)
{
    int                      texts, tools;
    size_t                   len, i;
    int64_t                  u[4];
    const char              *s;
    tokenroute_json_buf_t    args;
    tokenroute_json_node_t  *content, *c, *n, *usage;

    if (j->root->type != TR_J_MAP) {
        return -1;
    }

    if (tokenroute_json_str(tokenroute_json_get(j->root, "type"), &s, &len)
        && !tr_str_is(s, len, "message"))
    {
        return -1;
    }

    content = tokenroute_json_get(j->root, "content");

    if (content == NULL || content->type != TR_J_ARRAY) {
        return -1;
    }

    tr_add_lit(b, "{\"id\":\"chatcmpl-");

    if (tokenroute_json_str(tokenroute_json_get(j->root, "id"), &s, &len)) {

        if (len > 4 && memcmp(s, "msg_", 4) == 0) {
            s += 4;
            len -= 4;
        }

        tokenroute_json_add_escaped(b, s, len);
    }

    tr_add_lit(b, "\",\"object\":\"chat.completion\",\"created\":");
    tokenroute_json_add_int(b, (int64_t) time(NULL));
    tr_add_lit(b, ",\"model\":");

    if (model_len == 0
        && tokenroute_json_str(tokenroute_json_get(j->root, "model"),
                               &model, &model_len) == 0)
    {
        model = "";
    }

    tokenroute_json_add_str(b, model, model_len);
    tr_add_lit(b, ",\"choices\":[{\"index\":0,\"message\":{"
               "\"role\":\"assistant\",\"content\":");

    texts = 0;
    tools = 0;

    for (c = content->first; c != NULL; c = c->next) {

        if (!tokenroute_json_str(tokenroute_json_get(c, "type"), &s,
                                 &len))
        {
            continue;
        }

        if (tr_str_is(s, len, "tool_use")) {
            tools++;
            continue;
        }

        if (!tr_str_is(s, len, "text")
            || !tokenroute_json_str(tokenroute_json_get(c, "text"), &s,
                                    &len))
        {
            continue;
        }

        if (texts++ == 0) {
            tr_add_lit(b, "\"");
        }

        tokenroute_json_add_escaped(b, s, len);
    }

    if (texts) {
        tr_add_lit(b, "\"");

    } else {
        tr_add_lit(b, "null");
    }

    if (tools) {
        tr_add_lit(b, ",\"tool_calls\":[");

        memset(&args, 0, sizeof(tokenroute_json_buf_t));
        tools = 0;

        for (c = content->first; c != NULL; c = c->next) {

            if (!tokenroute_json_str(tokenroute_json_get(c, "type"), &s,
                                     &len)
                || !tr_str_is(s, len, "tool_use"))
            {
                continue;
            }

            if (tools++) {
                tr_add_lit(b, ",");
            }

            tr_add_lit(b, "{\"id\":");

            if (!tokenroute_json_str(tokenroute_json_get(c, "id"), &s,
                                     &len))
            {
                s = "";
                len = 0;
            }

            tokenroute_json_add_str(b, s, len);
            tr_add_lit(b, ",\"type\":\"function\",\"function\":{\"name\":");

            if (!tokenroute_json_str(tokenroute_json_get(c, "name"), &s,
                                     &len))
            {
                s = "";
                len = 0;
            }

            tokenroute_json_add_str(b, s, len);
            tr_add_lit(b, ",\"arguments\":");

            n = tokenroute_json_get(c, "input");
            args.len = 0;

            if (n != NULL) {
                tokenroute_json_tree_write(&args, n);

            } else {
                tr_add_lit(&args, "{}");
            }

            tokenroute_json_add_str(b, args.data, args.len);
            tr_add_lit(b, "}}");

            if (args.failed) {
                b->failed = 1;
            }
        }

        tokenroute_json_buf_free(&args);

        tr_add_lit(b, "]");
    }

    tr_add_lit(b, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");

    if (!tokenroute_json_str(tokenroute_json_get(j->root, "stop_reason"), &s,
                             &len))
    {
        s = NULL;
        len = 0;
    }

    s = tokenroute_resp_finish_reason(s, len);
    tokenroute_json_add(b, s, strlen(s));

    usage = tokenroute_json_get(j->root, "usage");

    for (i = 0; i < 4; i++) {
        u[i] = tokenroute_resp_usage(usage, i);

        if (u[i] < 0 || u[i] > INT64_MAX / 4) {
            u[i] = 0;
        }
    }

    tr_add_lit(b, "\"}],\"usage\":{\"prompt_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_INPUT] + u[TR_U_CACHE_READ]
                               + u[TR_U_CACHE_WRITE]);
    tr_add_lit(b, ",\"completion_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_OUTPUT]);
    tr_add_lit(b, ",\"total_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_INPUT] + u[TR_U_CACHE_READ]
                               + u[TR_U_CACHE_WRITE] + u[TR_U_OUTPUT]);
    tr_add_lit(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_CACHE_READ]);
    tr_add_lit(b, "}}}");

    return b->failed ? -2 : 0;
}
