
/*
 * Copyright (C) tokenroute authors
 *
 * What the skimmer looks for: the containers that matter (the top level,
 * "usage", "choices", a delta...), their keys, and Anthropic's event
 * types, matched as the yajl-based reader of t/unit/ref/usage_ref.c
 * matches them (t/unit/usage_diff.c compares the two).
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenroute_skim_int.h"
#include "tokenroute_usage.h"


/*
 * Per kind of container, a bit for each key it has for us, at tr_hash()
 * of the key: most other keys are turned away on that alone.  None of the
 * keys OpenAI and Anthropic send next to these collides with them.
 */

#define tr_key(lit)             ((uint64_t) 1 << tr_hash(lit, sizeof(lit) - 1))

const uint64_t  tr_skim_keys[] = {
    0,                                              /* TR_K_OTHER */
    tr_key("usage") | tr_key("error"),              /* TR_K_TOP */
    tr_key("usage") | tr_key("error") | tr_key("choices"),
    tr_key("usage") | tr_key("error") | tr_key("type") | tr_key("delta")
        | tr_key("message"),
    tr_key("prompt_tokens") | tr_key("completion_tokens")
        | tr_key("prompt_tokens_details"),
    tr_key("input_tokens") | tr_key("output_tokens")
        | tr_key("cache_read_input_tokens")
        | tr_key("cache_creation_input_tokens") | tr_key("cache_creation"),
    tr_key("cached_tokens"),                        /* TR_K_DETAILS */
    0,                                              /* TR_K_CHOICES */
    tr_key("delta") | tr_key("finish_reason"),      /* TR_K_CHOICE */
    tr_key("content") | tr_key("reasoning_content") | tr_key("tool_calls"),
    tr_key("text") | tr_key("partial_json") | tr_key("thinking"),
    0,                                              /* TR_K_TOOL_CALLS */
    tr_key("function"),                             /* TR_K_TOOL_CALL */
    tr_key("arguments"),                            /* TR_K_FUNCTION */
    tr_key("usage"),                                /* TR_K_MESSAGE */
    tr_key("ephemeral_5m_input_tokens")             /* TR_K_CACHE_CREATION */
        | tr_key("ephemeral_1h_input_tokens")
};


/*
 * What a container that starts is for us, from its key and its parent;
 * an "error" one, the "usage" of the top level and a "choices" array are
 * noted.
 */

unsigned
tokenroute_skim_kind(tokenroute_skim_t *sk, unsigned key, unsigned parent,
    size_t depth, unsigned map)
{
    int  openai;

    if (key == TR_KEY_ERROR) {
        sk->error = 1;
        return TR_K_OTHER;
    }

    /* deeper containers are never looked into */

    if (depth >= TOKENROUTE_SKIM_DEPTH) {
        return TR_K_OTHER;
    }

    if (!map) {

        if (key == TR_KEY_CHOICES) {
            sk->choices_array = 1;
            return TR_K_CHOICES;
        }

        return (key == TR_KEY_TOOL_CALLS) ? TR_K_TOOL_CALLS : TR_K_OTHER;
    }

    openai = (sk->shape == TOKENROUTE_SHAPE_OPENAI);

    switch (key) {

    case TR_KEY_NONE:
        if (depth == 0) {
            return sk->top_kind;
        }

        if (parent == TR_K_CHOICES) {
            return TR_K_CHOICE;
        }

        return (parent == TR_K_TOOL_CALLS) ? TR_K_TOOL_CALL : TR_K_OTHER;

    case TR_KEY_USAGE:
        if (tr_is_top(parent)) {
            sk->usage_object = 1;
        }

        return openai ? TR_K_USAGE_OPENAI : TR_K_USAGE_ANTHROPIC;

    case TR_KEY_DETAILS:
        return TR_K_DETAILS;

    case TR_KEY_DELTA:
        return openai ? TR_K_DELTA_OPENAI : TR_K_DELTA_ANTHROPIC;

    case TR_KEY_FUNCTION:
        return TR_K_FUNCTION;

    case TR_KEY_CACHE_CREATION:
        return TR_K_CACHE_CREATION;

    case TR_KEY_MESSAGE:
        return TR_K_MESSAGE;

    default:
        return TR_K_OTHER;
    }
}


/* the keys read in each container; everything else is skipped */

unsigned
tokenroute_skim_match(unsigned kind, const u_char_t *s, size_t len)
{
    switch (kind) {

    case TR_K_TOP_ANTHROPIC:
        if (tr_str_is(s, len, "type")) {
            return TR_KEY_TYPE;
        }

        if (tr_str_is(s, len, "delta")) {
            return TR_KEY_DELTA;
        }

        if (tr_str_is(s, len, "message")) {
            return TR_KEY_MESSAGE;
        }

        /* fall through */

    case TR_K_TOP_OPENAI:
        if (tr_str_is(s, len, "choices") && kind == TR_K_TOP_OPENAI) {
            return TR_KEY_CHOICES;
        }

        /* fall through */

    case TR_K_TOP:
        if (tr_str_is(s, len, "usage")) {
            return TR_KEY_USAGE;
        }

        if (tr_str_is(s, len, "error")) {
            return TR_KEY_ERROR;
        }

        break;

    case TR_K_USAGE_OPENAI:
        if (tr_str_is(s, len, "prompt_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_INPUT;
        }

        if (tr_str_is(s, len, "completion_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_OUTPUT;
        }

        if (tr_str_is(s, len, "prompt_tokens_details")) {
            return TR_KEY_DETAILS;
        }

        break;

    case TR_K_USAGE_ANTHROPIC:
        if (tr_str_is(s, len, "input_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_INPUT;
        }

        if (tr_str_is(s, len, "output_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_OUTPUT;
        }

        if (tr_str_is(s, len, "cache_read_input_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_CACHED;
        }

        if (tr_str_is(s, len, "cache_creation_input_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_WRITE;
        }

        if (tr_str_is(s, len, "cache_creation")) {
            return TR_KEY_CACHE_CREATION;
        }

        break;

    case TR_K_CACHE_CREATION:
        if (tr_str_is(s, len, "ephemeral_5m_input_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_WRITE_5M;
        }

        if (tr_str_is(s, len, "ephemeral_1h_input_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_WRITE_1H;
        }

        break;

    case TR_K_DETAILS:
        if (tr_str_is(s, len, "cached_tokens")) {
            return TR_KEY_TOKENS + TOKENROUTE_SKIM_CACHED;
        }

        break;

    case TR_K_CHOICE:
        if (tr_str_is(s, len, "delta")) {
            return TR_KEY_DELTA;
        }

        if (tr_str_is(s, len, "finish_reason")) {
            return TR_KEY_FINISH_REASON;
        }

        break;

    case TR_K_DELTA_OPENAI:
        if (tr_str_is(s, len, "content")
            || tr_str_is(s, len, "reasoning_content"))
        {
            return TR_KEY_TEXT;
        }

        if (tr_str_is(s, len, "tool_calls")) {
            return TR_KEY_TOOL_CALLS;
        }

        break;

    case TR_K_DELTA_ANTHROPIC:
        if (tr_str_is(s, len, "text")
            || tr_str_is(s, len, "partial_json")
            || tr_str_is(s, len, "thinking"))
        {
            return TR_KEY_TEXT;
        }

        break;

    case TR_K_TOOL_CALL:
        if (tr_str_is(s, len, "function")) {
            return TR_KEY_FUNCTION;
        }

        break;

    case TR_K_FUNCTION:
        if (tr_str_is(s, len, "arguments")) {
            return TR_KEY_TEXT;
        }

        break;

    case TR_K_MESSAGE:
        if (tr_str_is(s, len, "usage")) {
            return TR_KEY_USAGE;
        }

        break;

    default:
        break;
    }

    return TR_KEY_NONE;
}


unsigned
tokenroute_skim_type(const u_char_t *s, size_t len)
{
    if (tr_str_is(s, len, "content_block_delta")) {
        return TOKENROUTE_SKIM_BLOCK_DELTA;
    }

    if (tr_str_is(s, len, "message_delta")) {
        return TOKENROUTE_SKIM_MESSAGE_DELTA;
    }

    if (tr_str_is(s, len, "message_start")) {
        return TOKENROUTE_SKIM_MESSAGE_START;
    }

    if (tr_str_is(s, len, "message_stop")) {
        return TOKENROUTE_SKIM_MESSAGE_STOP;
    }

    if (tr_str_is(s, len, "error")) {
        return TOKENROUTE_SKIM_ERROR;
    }

    return TOKENROUTE_SKIM_OTHER;
}

