
/*
 * Copyright (C) tokenroute authors
 *
 * Requests from OpenAI Chat Completions to Anthropic Messages: the top
 * level, the unsupported fields, the parameters and the tools; the
 * messages are tokenroute_translate_oa_messages.c's.
 *
 *   mapped    model (the upstream id), messages (system and developer
 *             messages hoisted into "system"), tools, tool_choice,
 *             parallel_tool_calls, max_completion_tokens or else
 *             max_tokens (else the configured default), temperature,
 *             top_p, stop, user (as metadata.user_id), stream
 *   dropped   n when 1, presence_penalty, frequency_penalty, logit_bias,
 *             seed, service_tier, store, metadata, prediction,
 *             reasoning_effort, response_format of type "text",
 *             logprobs false, top_logprobs, modalities ["text"],
 *             stream_options (Anthropic streams always carry usage),
 *             messages' "name" and "refusal", tools' "strict", images'
 *             "detail"; and any field not named here, as OpenAI adds
 *             fields often
 *   rejected  n other than 1, logprobs true, response_format json_object
 *             and json_schema, audio, modalities other than "text",
 *             web_search_options, functions, function_call (also in a
 *             message), role "function" and roles other than system,
 *             developer, user, assistant and tool, content parts other
 *             than text and image_url (refusal, input_audio, file...),
 *             image URLs other than http(s) and base64 data:, tools and
 *             tool calls other than "function"
 */


#include <stdlib.h>
#include <string.h>

#include "tokenroute_translate_int.h"


static int tr_oa_unsupported(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_params(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_tools(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_tool_def(tr_ctx_t *ctx, tr_val_t *tool, size_t k);
static int tr_oa_tool_choice(tr_ctx_t *ctx, tr_val_t *root);


/* OpenAI Chat Completions -> Anthropic Messages */

int
tr_oa(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    tr_val_t  *messages;

    rc = tr_oa_unsupported(ctx, root);
    if (rc != 0) {
        return rc;
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

    rc = tr_oa_system(ctx, messages);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_messages(ctx, messages);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_params(ctx, root);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_tools(ctx, root);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_oa_unsupported(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t  *v, *e;

    v = tr_get(root, "n");

    if (v != NULL
        && (v->type != yajl_t_number || strtod(v->str, NULL) != 1.0))
    {
        return tr_error(ctx, "unsupported field \"n\": tokenroute cannot "
                        "return several choices from an Anthropic model");
    }

    v = tr_get(root, "logprobs");

    if (v != NULL && v->type != yajl_t_false) {
        return tr_error(ctx, "unsupported field \"logprobs\": Anthropic "
                        "models do not return log probabilities");
    }

    v = tr_get(root, "response_format");

    if (v != NULL && !tr_is(tr_get(v, "type"), "text")) {
        return tr_error(ctx, "unsupported field \"response_format\" of type "
                        "\"%s\": Anthropic models have no JSON mode; "
                        "describe the format in the prompt or use a tool",
                        tr_name(ctx, tr_get(v, "type")));
    }

    if (tr_get(root, "audio") != NULL) {
        return tr_error(ctx, "unsupported field \"audio\": Anthropic models "
                        "do not produce audio");
    }

    v = tr_get(root, "modalities");

    if (v != NULL) {
        if (v->type != yajl_t_array) {
            return tr_error(ctx, "\"modalities\" must be an array");
        }

        for (e = v->first; e != NULL; e = e->next) {
            if (!tr_is(e, "text")) {
                return tr_error(ctx, "unsupported field \"modalities\": "
                                "Anthropic models produce text only");
            }
        }
    }

    if (tr_get(root, "web_search_options") != NULL) {
        return tr_error(ctx, "unsupported field \"web_search_options\": "
                        "tokenroute does not translate web search for "
                        "Anthropic models");
    }

    if (tr_get(root, "functions") != NULL) {
        return tr_error(ctx, "unsupported field \"functions\": use "
                        "\"tools\"");
    }

    if (tr_get(root, "function_call") != NULL) {
        return tr_error(ctx, "unsupported field \"function_call\": use "
                        "\"tool_choice\"");
    }

    return 0;
}


/*
 * max_tokens, sampling, stop, user, stream.  OpenAI's temperature runs
 * from 0 to 2 and Anthropic's from 0 to 1: values above 1 are sent as 1,
 * the most random Anthropic allows, rather than refused.
 */

static int
tr_oa_params(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t    *v, *e;
    long long    n;
    const char  *name;

    name = "max_completion_tokens";
    v = tr_get(root, "max_completion_tokens");

    if (v == NULL) {
        name = "max_tokens";
        v = tr_get(root, "max_tokens");
    }

    tr_gen_key(ctx, "max_tokens");

    if (v != NULL) {
        if (tr_integer(v, &n) != 0 || n < 1) {
            return tr_error(ctx, "\"%s\" must be a positive integer", name);
        }

        tr_gen_value(ctx, v);

    } else if (ctx->opts != NULL && ctx->opts->default_max_tokens > 0) {
        tr_gen_integer(ctx, ctx->opts->default_max_tokens);

    } else {
        return tr_error(ctx, "\"max_tokens\" is required for Anthropic "
                        "models");
    }

    v = tr_get(root, "temperature");

    if (tr_check(ctx, v, yajl_t_number, "\"temperature\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "temperature");

        if (tr_above_one(v)) {
            tr_gen_integer(ctx, 1);

        } else {
            tr_gen_value(ctx, v);
        }
    }

    v = tr_get(root, "top_p");

    if (tr_check(ctx, v, yajl_t_number, "\"top_p\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "top_p");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "stop");

    if (v != NULL && v->type == yajl_t_string) {
        tr_gen_key(ctx, "stop_sequences");
        tr_gen_array(ctx);
        tr_gen_value(ctx, v);
        tr_gen_array_end(ctx);

    } else if (v != NULL) {
        if (v->type != yajl_t_array) {
            return tr_error(ctx, "\"stop\" must be a string or an array of "
                            "strings");
        }

        for (e = v->first; e != NULL; e = e->next) {
            if (e->type != yajl_t_string) {
                return tr_error(ctx, "\"stop\" must be a string or an array "
                                "of strings");
            }
        }

        if (v->len > 0) {
            tr_gen_key(ctx, "stop_sequences");
            tr_gen_value(ctx, v);
        }
    }

    v = tr_get(root, "user");

    if (tr_check(ctx, v, yajl_t_string, "\"user\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "metadata");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "user_id");
        tr_gen_value(ctx, v);
        tr_gen_map_end(ctx);
    }

    v = tr_get(root, "stream");

    if (tr_check(ctx, v, yajl_t_true, "\"stream\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "stream");
        tr_gen_value(ctx, v);
    }

    return 0;
}


/* without tools, tool_choice and parallel_tool_calls mean nothing */

static int
tr_oa_tools(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    size_t     k;
    tr_val_t  *tools, *t;

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
        rc = tr_oa_tool_def(ctx, t, k);
        if (rc != 0) {
            return rc;
        }
    }

    tr_gen_array_end(ctx);

    return tr_oa_tool_choice(ctx, root);
}


static int
tr_oa_tool_def(tr_ctx_t *ctx, tr_val_t *tool, size_t k)
{
    tr_val_t  *type, *fn, *name, *desc, *params, *e;

    type = tr_get(tool, "type");

    if (type != NULL && !tr_is(type, "function")) {
        return tr_error(ctx, "tools[%zu]: unsupported tool type \"%s\"", k,
                        tr_name(ctx, type));
    }

    fn = tr_get(tool, "function");
    name = tr_get(fn, "name");

    if (name == NULL || name->type != yajl_t_string) {
        return tr_error(ctx, "tools[%zu].function.name must be a string", k);
    }

    desc = tr_get(fn, "description");

    if (desc != NULL && desc->type != yajl_t_string) {
        return tr_error(ctx, "tools[%zu].function.description must be a "
                        "string", k);
    }

    params = tr_get(fn, "parameters");

    if (params != NULL && params->type != yajl_t_object) {
        return tr_error(ctx, "tools[%zu].function.parameters must be an "
                        "object", k);
    }

    tr_gen_map(ctx);
    tr_gen_key(ctx, "name");
    tr_gen_value(ctx, name);

    if (desc != NULL) {
        tr_gen_key(ctx, "description");
        tr_gen_value(ctx, desc);
    }

    tr_gen_key(ctx, "input_schema");

    if (params == NULL) {
        tr_gen_empty_schema(ctx);

    } else if (tr_get(params, "type") != NULL) {
        tr_gen_value(ctx, params);

    } else {
        /* Anthropic requires input_schema.type; OpenAI lets it be left */
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "object");

        for (e = params->first; e != NULL; e = e->next) {
            if (!tr_str_is(e->key, e->key_len, "type")) {
                tr_gen_string(ctx, e->key, e->key_len);
                tr_gen_value(ctx, e);
            }
        }

        tr_gen_map_end(ctx);
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_oa_tool_choice(tr_ctx_t *ctx, tr_val_t *root)
{
    int          single;
    tr_val_t    *tc, *parallel, *name;
    const char  *type;

    tc = tr_get(root, "tool_choice");
    parallel = tr_get(root, "parallel_tool_calls");

    if (tr_check(ctx, parallel, yajl_t_true, "\"parallel_tool_calls\"")
        != 0)
    {
        return TR_REJECT;
    }

    single = (parallel != NULL && parallel->type == yajl_t_false);
    name = NULL;

    if (tc == NULL) {
        if (!single) {
            return 0;
        }

        type = "auto";

    } else if (tr_is(tc, "auto")) {
        type = "auto";

    } else if (tr_is(tc, "none")) {
        type = "none";

    } else if (tr_is(tc, "required")) {
        type = "any";

    } else if (tc->type == yajl_t_object
               && tr_is(tr_get(tc, "type"), "function"))
    {
        type = "tool";
        name = tr_get(tr_get(tc, "function"), "name");

        if (name == NULL || name->type != yajl_t_string) {
            return tr_error(ctx, "tool_choice.function.name must be a "
                            "string");
        }

    } else if (tc->type == yajl_t_object) {
        return tr_error(ctx, "unsupported \"tool_choice\" of type \"%s\"",
                        tr_name(ctx, tr_get(tc, "type")));

    } else {
        return tr_error(ctx, "unsupported \"tool_choice\" \"%s\"",
                        tr_name(ctx, tc));
    }

    tr_gen_key(ctx, "tool_choice");
    tr_gen_map(ctx);
    tr_gen_pair(ctx, "type", type);

    if (name != NULL) {
        tr_gen_key(ctx, "name");
        tr_gen_value(ctx, name);
    }

    /* Anthropic's "none" takes no disable_parallel_tool_use */
    if (single && strcmp(type, "none") != 0) {
        tr_gen_key(ctx, "disable_parallel_tool_use");
        tr_gen_bool(ctx, 1);
    }

    tr_gen_map_end(ctx);

    return 0;
}
