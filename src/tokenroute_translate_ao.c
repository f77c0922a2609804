
/*
 * Copyright (C) tokenroute authors
 *
 * Requests from Anthropic Messages to OpenAI Chat Completions: the top
 * level, "system" as a first message, the parameters and the tools; the
 * messages are tokenroute_translate_ao_messages.c's.
 *
 *   mapped    model, system (a first system message), messages, tools,
 *             tool_choice (disable_parallel_tool_use as
 *             parallel_tool_calls false), max_tokens, stop_sequences (as
 *             stop), temperature, top_p, metadata.user_id (as user),
 *             stream (and stream_options.include_usage if configured)
 *   dropped   top_k, thinking, service_tier, metadata other than user_id,
 *             cache_control and citations anywhere, thinking and
 *             redacted_thinking blocks; and any field not named here
 *   rejected  mcp_servers, server tools (a tool "type" other than
 *             "custom"), blocks other than text, image, tool_use,
 *             tool_result, thinking and redacted_thinking (document,
 *             search_result, server_tool_use...), image sources other
 *             than base64 and url, tool results holding anything but text
 */


#include <string.h>

#include "tokenroute_translate_int.h"


static int tr_ao_system(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_params(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_tools(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_tool_choice(tr_ctx_t *ctx, tr_val_t *root);


/* Anthropic Messages -> OpenAI Chat Completions */

int
tr_ao(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    size_t     i;
    tr_val_t  *messages, *v;

    v = tr_get(root, "mcp_servers");

    if (v != NULL && !(v->type == yajl_t_array && v->len == 0)) {
        return tr_error(ctx, "unsupported field \"mcp_servers\": "
                        "OpenAI-compatible models cannot call MCP servers");
    }

    messages = tr_get(root, "messages");

    if (messages == NULL || messages->type != yajl_t_array) {
        return tr_error(ctx, "\"messages\" must be an array");
    }

    tr_gen_map(ctx);

    rc = tr_gen_model(ctx, root);
    if (rc != 0) {
        return rc;
    }

    tr_gen_key(ctx, "messages");
    tr_gen_array(ctx);

    rc = tr_ao_system(ctx, root);
    if (rc != 0) {
        return rc;
    }

    for (v = messages->first, i = 0; v != NULL; v = v->next, i++) {
        rc = tr_ao_message(ctx, v, i);
        if (rc != 0) {
            return rc;
        }
    }

    tr_gen_array_end(ctx);

    rc = tr_ao_params(ctx, root);
    if (rc != 0) {
        return rc;
    }

    rc = tr_ao_tools(ctx, root);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_ao_system(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    size_t     k;
    tr_val_t  *sys, *b, *text;
    tr_text_t  all;

    sys = tr_get(root, "system");

    if (sys == NULL) {
        return 0;
    }

    memset(&all, 0, sizeof(tr_text_t));

    if (sys->type == yajl_t_string) {
        rc = tr_text_add(ctx, &all, sys->str, sys->len);
        if (rc != 0) {
            return rc;
        }

    } else if (sys->type == yajl_t_array) {

        for (b = sys->first, k = 0; b != NULL; b = b->next, k++) {

            if (!tr_is(tr_get(b, "type"), "text")) {
                return tr_error(ctx, "system[%zu]: unsupported block type "
                                "\"%s\"", k, tr_name(ctx, tr_get(b, "type")));
            }

            text = tr_get(b, "text");

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "system[%zu].text must be a string", k);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }
        }

    } else {
        return tr_error(ctx, "\"system\" must be a string or an array");
    }

    if (all.n == 0) {
        return 0;
    }

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "system");
    tr_gen_key(ctx, "content");

    rc = tr_gen_text(ctx, &all, NULL);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


/*
 * max_tokens stays max_tokens rather than max_completion_tokens: vLLM,
 * Gemini's OpenAI endpoint and other compatible hosts know only the
 * former, and OpenAI still accepts it for non-reasoning models.
 */

static int
tr_ao_params(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t   *v, *e;
    long long   n;

    v = tr_get(root, "max_tokens");

    if (v != NULL) {
        if (tr_integer(v, &n) != 0 || n < 1) {
            return tr_error(ctx, "\"max_tokens\" must be a positive integer");
        }

        tr_gen_key(ctx, "max_tokens");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "temperature");

    if (tr_check(ctx, v, yajl_t_number, "\"temperature\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "temperature");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "top_p");

    if (tr_check(ctx, v, yajl_t_number, "\"top_p\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "top_p");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "stop_sequences");

    if (tr_check(ctx, v, yajl_t_array, "\"stop_sequences\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL && v->len > 0) {
        for (e = v->first; e != NULL; e = e->next) {
            if (e->type != yajl_t_string) {
                return tr_error(ctx, "\"stop_sequences\" must be an array of "
                                "strings");
            }
        }

        tr_gen_key(ctx, "stop");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "metadata");

    if (tr_check(ctx, v, yajl_t_object, "\"metadata\"") != 0) {
        return TR_REJECT;
    }

    v = tr_get(v, "user_id");

    if (tr_check(ctx, v, yajl_t_string, "\"metadata.user_id\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "user");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "stream");

    if (tr_check(ctx, v, yajl_t_true, "\"stream\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "stream");
        tr_gen_value(ctx, v);
    }

    if (v != NULL && v->type == yajl_t_true
        && ctx->opts != NULL && ctx->opts->include_usage)
    {
        tr_gen_key(ctx, "stream_options");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "include_usage");
        tr_gen_bool(ctx, 1);
        tr_gen_map_end(ctx);
    }

    return 0;
}


static int
tr_ao_tools(tr_ctx_t *ctx, tr_val_t *root)
{
    size_t     k;
    tr_val_t  *tools, *t, *type, *name, *desc, *schema;

    tools = tr_get(root, "tools");

    if (tr_check(ctx, tools, yajl_t_array, "\"tools\"") != 0) {
        return TR_REJECT;
    }

    if (tools == NULL || tools->len == 0) {
        return 0;
    }

    tr_gen_key(ctx, "tools");
    tr_gen_array(ctx);

    for (t = tools->first, k = 0; t != NULL; t = t->next, k++) {
        type = tr_get(t, "type");

        /* client tools have no type or "custom"; others run at Anthropic */
        if (type != NULL && !tr_is(type, "custom")) {
            return tr_error(ctx, "tools[%zu]: server tool type \"%s\" is not "
                            "supported by OpenAI-compatible models", k,
                            tr_name(ctx, type));
        }

        name = tr_get(t, "name");
        desc = tr_get(t, "description");
        schema = tr_get(t, "input_schema");

        if (name == NULL || name->type != yajl_t_string) {
            return tr_error(ctx, "tools[%zu].name must be a string", k);
        }

        if (desc != NULL && desc->type != yajl_t_string) {
            return tr_error(ctx, "tools[%zu].description must be a string",
                            k);
        }

        if (schema != NULL && schema->type != yajl_t_object) {
            return tr_error(ctx, "tools[%zu].input_schema must be an object",
                            k);
        }

        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "function");
        tr_gen_key(ctx, "function");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "name");
        tr_gen_value(ctx, name);

        if (desc != NULL) {
            tr_gen_key(ctx, "description");
            tr_gen_value(ctx, desc);
        }

        tr_gen_key(ctx, "parameters");

        if (schema != NULL) {
            tr_gen_value(ctx, schema);

        } else {
            tr_gen_empty_schema(ctx);
        }

        tr_gen_map_end(ctx);
        tr_gen_map_end(ctx);
    }

    tr_gen_array_end(ctx);

    return tr_ao_tool_choice(ctx, root);
}


static int
tr_ao_tool_choice(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t  *tc, *type, *name, *single;

    tc = tr_get(root, "tool_choice");

    if (tc == NULL) {
        return 0;
    }

    if (tc->type != yajl_t_object) {
        return tr_error(ctx, "\"tool_choice\" must be an object");
    }

    type = tr_get(tc, "type");

    if (tr_is(type, "auto")) {
        tr_gen_pair(ctx, "tool_choice", "auto");

    } else if (tr_is(type, "any")) {
        tr_gen_pair(ctx, "tool_choice", "required");

    } else if (tr_is(type, "none")) {
        tr_gen_pair(ctx, "tool_choice", "none");

    } else if (tr_is(type, "tool")) {
        name = tr_get(tc, "name");

        if (name == NULL || name->type != yajl_t_string) {
            return tr_error(ctx, "tool_choice.name must be a string");
        }

        tr_gen_key(ctx, "tool_choice");
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "function");
        tr_gen_key(ctx, "function");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "name");
        tr_gen_value(ctx, name);
        tr_gen_map_end(ctx);
        tr_gen_map_end(ctx);

    } else {
        return tr_error(ctx, "unsupported \"tool_choice\" of type \"%s\"",
                        tr_name(ctx, type));
    }

    single = tr_get(tc, "disable_parallel_tool_use");

    if (single != NULL && single->type == yajl_t_true) {
        tr_gen_key(ctx, "parallel_tool_calls");
        tr_gen_bool(ctx, 0);
    }

    return 0;
}
