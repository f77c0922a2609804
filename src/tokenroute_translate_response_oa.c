
/*
 * Copyright (C) tokenroute authors
 *
 * A non-streamed OpenAI Chat Completions response as an Anthropic
 * Messages one: the first choice's content (or refusal) as a text block,
 * its tool calls and legacy function call as tool_use blocks, and the
 * usage with the cached tokens apart.
 */


#include <string.h>

#include "tokenroute_translate_response_int.h"


static int tokenroute_resp_oa_tool(tokenroute_json_buf_t *b,
    tokenroute_json_node_t *fn, const char *id, size_t id_len, size_t i);


int
tokenroute_resp_oa(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    const char *model, size_t model_len)
{
    int                      blocks;
    size_t                   len, id_len, i;
    int64_t                  prompt, completion, cached;
    const char              *s, *id;
    tokenroute_json_node_t  *choice, *msg, *c, *usage, *n;

    if (j->root->type != TR_J_MAP) {
        return -1;
    }

    n = tokenroute_json_get(j->root, "error");

    if (n != NULL && n->type != TR_J_NULL) {
        return -1;
    }

    choice = tokenroute_resp_choice(tokenroute_json_get(j->root, "choices"));
    msg = tokenroute_json_get(choice, "message");

    if (msg == NULL || msg->type != TR_J_MAP) {
        return -1;
    }

    tr_add_lit(b, "{\"id\":\"msg_");

    if (tokenroute_json_str(tokenroute_json_get(j->root, "id"), &s, &len)) {
        tokenroute_json_add_escaped(b, s, len);
    }

    tr_add_lit(b, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");

    if (model_len == 0
        && tokenroute_json_str(tokenroute_json_get(j->root, "model"),
                               &model, &model_len) == 0)
    {
        model = "";
    }

    tokenroute_json_add_str(b, model, model_len);
    tr_add_lit(b, ",\"content\":[");

    blocks = 0;

    if ((tokenroute_json_str(tokenroute_json_get(msg, "content"), &s,
                             &len)
         && len > 0)
        || (tokenroute_json_str(tokenroute_json_get(msg, "refusal"), &s,
                                &len)
            && len > 0))
    {
        tr_add_lit(b, "{\"type\":\"text\",\"text\":");
        tokenroute_json_add_str(b, s, len);
        tr_add_lit(b, "}");
        blocks++;
    }

    n = tokenroute_json_get(msg, "tool_calls");

    if (n != NULL && n->type == TR_J_ARRAY) {

        for (c = n->first, i = 0; c != NULL; c = c->next, i++) {

            if (!tokenroute_json_str(tokenroute_json_get(c, "id"), &id,
                                     &id_len))
            {
                id = NULL;
                id_len = 0;
            }

            if (blocks++) {
                tr_add_lit(b, ",");
            }

            if (tokenroute_resp_oa_tool(b, tokenroute_json_get(c, "function"),
                                        id, id_len, i)
                != 0)
            {
                return -2;
            }
        }
    }

    /* the legacy single function call */

    n = tokenroute_json_get(msg, "function_call");

    if (n != NULL && n->type == TR_J_MAP) {

        if (blocks++) {
            tr_add_lit(b, ",");
        }

        if (tokenroute_resp_oa_tool(b, n, NULL, 0, 0) != 0) {
            return -2;
        }
    }

    tr_add_lit(b, "],\"stop_reason\":\"");

    if (!tokenroute_json_str(tokenroute_json_get(choice, "finish_reason"),
                             &s, &len))
    {
        s = NULL;
        len = 0;
    }

    s = tokenroute_resp_stop_reason(s, len);
    tokenroute_json_add(b, s, strlen(s));

    usage = tokenroute_json_get(j->root, "usage");

    prompt = tokenroute_json_int(tokenroute_json_get(usage, "prompt_tokens"),
                                 0);
    completion = tokenroute_json_int(tokenroute_json_get(usage,
                                                         "completion_tokens"),
                                     0);

    n = tokenroute_json_get(usage, "prompt_tokens_details");
    cached = tokenroute_json_int(tokenroute_json_get(n, "cached_tokens"), 0);

    if (cached < 0) {
        cached = 0;
    }

    tr_add_lit(b, "\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
    tokenroute_json_add_int(b, (prompt > cached) ? prompt - cached : 0);
    tr_add_lit(b, ",\"output_tokens\":");
    tokenroute_json_add_int(b, (completion > 0) ? completion : 0);
    tr_add_lit(b, ",\"cache_read_input_tokens\":");
    tokenroute_json_add_int(b, cached);
    tr_add_lit(b, ",\"cache_creation_input_tokens\":0}}");

    return b->failed ? -2 : 0;
}


/* a tool_use block from an OpenAI function {name, arguments} */

static int
tokenroute_resp_oa_tool(tokenroute_json_buf_t *b, tokenroute_json_node_t *fn,
    const char *id, size_t id_len, size_t i)
{
    int                     rc;
    size_t                  len;
    const char             *s;
    tokenroute_json_tree_t  args;

    tr_add_lit(b, "{\"type\":\"tool_use\",\"id\":");

    if (id_len > 0) {
        tokenroute_json_add_str(b, id, id_len);

    } else {
        tr_add_lit(b, "\"toolu_tr_");
        tokenroute_json_add_int(b, (int64_t) i);
        tr_add_lit(b, "\"");
    }

    tr_add_lit(b, ",\"name\":");

    if (!tokenroute_json_str(tokenroute_json_get(fn, "name"), &s, &len))
    {
        s = "";
        len = 0;
    }

    tokenroute_json_add_str(b, s, len);
    tr_add_lit(b, ",\"input\":");

    rc = -1;

    if (tokenroute_json_str(tokenroute_json_get(fn, "arguments"), &s,
                            &len))
    {
        memset(&args, 0, sizeof(tokenroute_json_tree_t));

        rc = tokenroute_json_tree_parse(&args, s, len, NULL);

        if (rc == 0 && args.root->type == TR_J_MAP) {
            tokenroute_json_tree_write(b, args.root);

        } else if (rc == 0) {
            rc = -1;
        }

        tokenroute_json_tree_free(&args);

        if (rc == -2) {
            return -2;
        }
    }

    /* arguments that are not a JSON object */

    if (rc != 0) {
        tr_add_lit(b, "{}");
    }

    tr_add_lit(b, "}");

    return 0;
}
