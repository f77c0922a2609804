
/*
 * Copyright (C) tokenroute authors
 *
 * An OpenAI stream's chunks as Anthropic stream events: message_start,
 * content blocks opened and closed as text and tool calls come, then
 * message_delta with the stop reason and usage, and message_stop.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_translate_response_int.h"


/* OpenAI tool_calls indices at or above this are ignored */
#define TR_TOOLS_MAX            1024


static void tokenroute_stream_oa_start(tokenroute_stream_t *st,
    const char *id, size_t id_len);
static void tokenroute_stream_oa_text(tokenroute_stream_t *st, const char *s,
    size_t len);
static int tokenroute_stream_oa_tool(tokenroute_stream_t *st,
    tokenroute_json_node_t *tc, int64_t pos);
static void tokenroute_stream_oa_close(tokenroute_stream_t *st);
static void tokenroute_stream_open_event(tokenroute_stream_t *st,
    const char *name);


int
tokenroute_stream_oa(tokenroute_stream_t *st, const char *data, size_t len)
{
    int                      rc;
    size_t                   n;
    int64_t                  v, pos;
    const char              *s;
    tokenroute_json_node_t  *e, *usage, *choice, *delta, *c;
    tokenroute_json_tree_t  *j;

    if (tr_str_is(data, len, "[DONE]")) {
        tokenroute_stream_oa_end(st);
        return 0;
    }

    j = &st->json;

    rc = tokenroute_stream_parse(st, data, len);

    if (rc == -2) {
        return -1;
    }

    if (rc != 0 || j->root->type != TR_J_MAP) {
        return tokenroute_stream_malformed(st);
    }

    e = tokenroute_json_get(j->root, "error");

    if (e != NULL && e->type != TR_J_NULL
        && e->type != TR_J_FALSE)
    {
        return tokenroute_stream_upstream_error(st);
    }

    usage = tokenroute_json_get(j->root, "usage");
    choice = tokenroute_resp_choice(tokenroute_json_get(j->root, "choices"));

    /*
     * Azure OpenAI's first chunk is its prompt filter results alone, with
     * an empty id: nothing to translate, and not the message's id
     */

    if (!st->started && choice == NULL
        && (usage == NULL || usage->type != TR_J_MAP))
    {
        return 0;
    }

    if (!st->started) {

        if (!tokenroute_json_str(tokenroute_json_get(j->root, "id"), &s, &n))
        {
            s = NULL;
            n = 0;
        }

        tokenroute_stream_oa_start(st, s, n);
    }

    if (usage != NULL && usage->type == TR_J_MAP) {
        v = tokenroute_json_int(tokenroute_json_get(usage, "prompt_tokens"),
                                0);
        if (v > st->usage[TR_U_INPUT] && v <= INT64_MAX / 4) {
            st->usage[TR_U_INPUT] = v;
        }

        v = tokenroute_json_int(tokenroute_json_get(usage,
                                                    "completion_tokens"),
                                0);
        if (v > st->usage[TR_U_OUTPUT] && v <= INT64_MAX / 4) {
            st->usage[TR_U_OUTPUT] = v;
        }

        c = tokenroute_json_get(usage, "prompt_tokens_details");
        v = tokenroute_json_int(tokenroute_json_get(c, "cached_tokens"), 0);
        if (v > st->usage[TR_U_CACHE_READ] && v <= INT64_MAX / 4) {
            st->usage[TR_U_CACHE_READ] = v;
        }
    }

    if (choice == NULL) {
        return 0;
    }

    delta = tokenroute_json_get(choice, "delta");

    if (tokenroute_json_str(tokenroute_json_get(delta, "content"), &s,
                            &n)
        && n > 0)
    {
        tokenroute_stream_oa_text(st, s, n);
    }

    if (tokenroute_json_str(tokenroute_json_get(delta, "refusal"), &s,
                            &n)
        && n > 0)
    {
        tokenroute_stream_oa_text(st, s, n);
    }

    c = tokenroute_json_get(delta, "tool_calls");

    if (c != NULL && c->type == TR_J_ARRAY) {

        for (c = c->first, pos = 0; c != NULL; c = c->next) {

            if (tokenroute_stream_oa_tool(st, c, pos++) != 0) {
                return -1;
            }
        }
    }

    if (tokenroute_json_str(tokenroute_json_get(choice, "finish_reason"),
                            &s, &n))
    {
        tokenroute_stream_oa_close(st);
        st->stop_reason = tokenroute_resp_stop_reason(s, n);
        st->finished = 1;
    }

    return 0;
}


static void
tokenroute_stream_oa_start(tokenroute_stream_t *st, const char *id,
    size_t id_len)
{
    if (st->started) {
        return;
    }

    st->started = 1;

    tokenroute_stream_open_event(st, "message_start");
    tr_add_lit(&st->out, "{\"type\":\"message_start\",\"message\":"
               "{\"id\":\"msg_");
    tokenroute_json_add_escaped(&st->out, id, id_len);
    tr_add_lit(&st->out, "\",\"type\":\"message\",\"role\":\"assistant\","
               "\"model\":");
    tokenroute_json_add_str(&st->out, st->model.data, st->model.len);
    tr_add_lit(&st->out, ",\"content\":[],\"stop_reason\":null,"
               "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
               "\"output_tokens\":0}}}\n\n");
}


static void
tokenroute_stream_oa_text(tokenroute_stream_t *st, const char *s, size_t len)
{
    if (!st->block_open || !st->block_text) {
        tokenroute_stream_oa_close(st);

        st->block = st->nblocks++;
        st->block_open = 1;
        st->block_text = 1;

        tokenroute_stream_open_event(st, "content_block_start");
        tr_add_lit(&st->out, "{\"type\":\"content_block_start\",\"index\":");
        tokenroute_json_add_int(&st->out, st->block);
        tr_add_lit(&st->out, ",\"content_block\":{\"type\":\"text\","
                   "\"text\":\"\"}}\n\n");
    }

    tokenroute_stream_open_event(st, "content_block_delta");
    tr_add_lit(&st->out, "{\"type\":\"content_block_delta\",\"index\":");
    tokenroute_json_add_int(&st->out, st->block);
    tr_add_lit(&st->out, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
    tokenroute_json_add_str(&st->out, s, len);
    tr_add_lit(&st->out, "}}\n\n");
}


/*
 * A delta of tool_calls[]: an id, or a tool index not seen yet, starts a
 * tool_use block (Gemini's endpoint gives every call index 0); argument
 * fragments go to the block of their index.
 */

static int
tokenroute_stream_oa_tool(tokenroute_stream_t *st, tokenroute_json_node_t *tc,
    int64_t pos)
{
    size_t                   n, id_len, args_len;
    int32_t                 *tools;
    int64_t                  idx;
    uint32_t                 ntools;
    const char              *id, *name, *args;
    tokenroute_json_node_t  *fn;

    idx = tokenroute_json_int(tokenroute_json_get(tc, "index"), pos);

    if (idx < 0 || idx >= TR_TOOLS_MAX) {
        return 0;
    }

    if (!tokenroute_json_str(tokenroute_json_get(tc, "id"), &id,
                             &id_len))
    {
        id_len = 0;
    }

    fn = tokenroute_json_get(tc, "function");

    if (!tokenroute_json_str(tokenroute_json_get(fn, "arguments"),
                             &args, &args_len))
    {
        args_len = 0;
    }

    if ((uint32_t) idx >= st->ntools) {
        ntools = (st->ntools != 0) ? st->ntools : 8;

        while (ntools <= (uint32_t) idx) {
            ntools *= 2;
        }

        tools = realloc(st->tools, ntools * sizeof(int32_t));
        if (tools == NULL) {
            return -1;
        }

        while (st->ntools < ntools) {
            tools[st->ntools++] = -1;
        }

        st->tools = tools;
    }

    if (id_len > 0 || st->tools[idx] < 0) {
        tokenroute_stream_oa_close(st);

        st->tools[idx] = st->nblocks;
        st->block = st->nblocks++;
        st->block_open = 1;
        st->block_text = 0;

        tokenroute_stream_open_event(st, "content_block_start");
        tr_add_lit(&st->out, "{\"type\":\"content_block_start\",\"index\":");
        tokenroute_json_add_int(&st->out, st->block);
        tr_add_lit(&st->out, ",\"content_block\":{\"type\":\"tool_use\","
                   "\"id\":");

        if (id_len > 0) {
            tokenroute_json_add_str(&st->out, id, id_len);

        } else {
            tr_add_lit(&st->out, "\"toolu_tr_");
            tokenroute_json_add_int(&st->out, st->block);
            tr_add_lit(&st->out, "\"");
        }

        tr_add_lit(&st->out, ",\"name\":");

        if (!tokenroute_json_str(tokenroute_json_get(fn, "name"), &name,
                                 &n))
        {
            name = "";
            n = 0;
        }

        tokenroute_json_add_str(&st->out, name, n);
        tr_add_lit(&st->out, ",\"input\":{}}}\n\n");
    }

    if (args_len > 0) {
        tokenroute_stream_open_event(st, "content_block_delta");
        tr_add_lit(&st->out, "{\"type\":\"content_block_delta\",\"index\":");
        tokenroute_json_add_int(&st->out, st->tools[idx]);
        tr_add_lit(&st->out, ",\"delta\":{\"type\":\"input_json_delta\","
                   "\"partial_json\":");
        tokenroute_json_add_str(&st->out, args, args_len);
        tr_add_lit(&st->out, "}}\n\n");
    }

    return 0;
}


static void
tokenroute_stream_oa_close(tokenroute_stream_t *st)
{
    if (!st->block_open) {
        return;
    }

    st->block_open = 0;

    tokenroute_stream_open_event(st, "content_block_stop");
    tr_add_lit(&st->out, "{\"type\":\"content_block_stop\",\"index\":");
    tokenroute_json_add_int(&st->out, st->block);
    tr_add_lit(&st->out, "}\n\n");
}


void
tokenroute_stream_oa_end(tokenroute_stream_t *st)
{
    int64_t      cached, input;
    const char  *stop;

    if (st->done) {
        return;
    }

    tokenroute_stream_oa_start(st, NULL, 0);
    tokenroute_stream_oa_close(st);

    stop = (st->stop_reason != NULL) ? st->stop_reason : "end_turn";

    cached = st->usage[TR_U_CACHE_READ];
    input = st->usage[TR_U_INPUT] - cached;

    tokenroute_stream_open_event(st, "message_delta");
    tr_add_lit(&st->out, "{\"type\":\"message_delta\",\"delta\":"
               "{\"stop_reason\":");
    tokenroute_json_add_str(&st->out, stop, strlen(stop));
    tr_add_lit(&st->out, ",\"stop_sequence\":null},\"usage\":"
               "{\"output_tokens\":");
    tokenroute_json_add_int(&st->out, st->usage[TR_U_OUTPUT]);
    tr_add_lit(&st->out, ",\"input_tokens\":");
    tokenroute_json_add_int(&st->out, (input > 0) ? input : 0);
    tr_add_lit(&st->out, ",\"cache_read_input_tokens\":");
    tokenroute_json_add_int(&st->out, cached);
    tr_add_lit(&st->out, "}}\n\n");

    tokenroute_stream_open_event(st, "message_stop");
    tr_add_lit(&st->out, "{\"type\":\"message_stop\"}\n\n");

    st->done = 1;
}


static void
tokenroute_stream_open_event(tokenroute_stream_t *st, const char *name)
{
    tr_add_lit(&st->out, "event: ");
    tokenroute_json_add(&st->out, name, strlen(name));
    tr_add_lit(&st->out, "\ndata: ");
}
