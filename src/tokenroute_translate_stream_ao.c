
/*
 * Copyright (C) tokenroute authors
 *
 * An Anthropic stream's events as OpenAI chat.completion.chunk events:
 * the role chunk, text and tool input deltas, the finish reason, and the
 * usage chunk if the client asked for it.
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_translate_response_int.h"


/* a chunk after its delta, up to the finish reason */
#define TR_AO_CLOSE  ",\"logprobs\":null,\"finish_reason\":"


static void tokenroute_stream_ao_start(tokenroute_stream_t *st,
    const char *id, size_t id_len);
static void tokenroute_stream_ao_open(tokenroute_stream_t *st);
static void tokenroute_stream_ao_close(tokenroute_stream_t *st,
    const char *finish);
static void tokenroute_stream_ao_usage(tokenroute_stream_t *st,
    tokenroute_json_node_t *n);
static void tokenroute_stream_ao_counts(tokenroute_stream_t *st,
    const int64_t *v);
static void tokenroute_stream_ao_stop(tokenroute_stream_t *st, const char *s,
    size_t n);
static void tokenroute_stream_ao_block(tokenroute_stream_t *st,
    tokenroute_stream_blk_t *b);
static void tokenroute_stream_ao_text(tokenroute_stream_t *st, const char *s,
    size_t n, const char *quoted);
static void tokenroute_stream_ao_json(tokenroute_stream_t *st, int64_t k,
    const char *s, size_t n, const char *quoted);
static void tokenroute_stream_ao_str(tokenroute_stream_t *st, const char *s,
    size_t n, const char *quoted);


int
tokenroute_stream_ao(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len)
{
    int                      rc;
    size_t                   type_len, n;
    int64_t                  k;
    const char              *type, *s;
    tokenroute_json_node_t  *msg, *cb, *delta;
    tokenroute_stream_blk_t  b;
    tokenroute_json_tree_t  *j;

    j = &st->json;

    rc = tokenroute_stream_parse(st, data, len);

    if (rc == -2) {
        return -1;
    }

    if (rc != 0 || j->root->type != TR_J_MAP) {
        return tokenroute_stream_malformed(st);
    }

    if (!tokenroute_json_str(tokenroute_json_get(j->root, "type"), &type,
                             &type_len))
    {
        type = event;
        type_len = event_len;
    }

    if (tr_str_is(type, type_len, "content_block_delta")) {
        delta = tokenroute_json_get(j->root, "delta");

        if (!tokenroute_json_str(tokenroute_json_get(delta, "type"),
                                 &type, &type_len))
        {
            return 0;
        }

        if (tr_str_is(type, type_len, "text_delta")) {

            if (!tokenroute_json_str(tokenroute_json_get(delta, "text"),
                                     &s, &n)
                || n == 0)
            {
                return 0;
            }

            tokenroute_stream_ao_text(st, s, n, NULL);
            return 0;
        }

        if (!tr_str_is(type, type_len, "input_json_delta")
            || !tokenroute_json_str(tokenroute_json_get(delta, "partial_json"),
                                    &s, &n)
            || n == 0)
        {
            /* thinking and signature deltas are dropped */
            return 0;
        }

        /* server_tool_use blocks have input deltas too */

        k = tokenroute_json_int(tokenroute_json_get(j->root, "index"), -1);

        tokenroute_stream_ao_json(st, k, s, n, NULL);

        return 0;
    }

    if (tr_str_is(type, type_len, "content_block_start")) {
        cb = tokenroute_json_get(j->root, "content_block");

        b.index = tokenroute_json_int(tokenroute_json_get(j->root, "index"),
                                      -1);

        if (!tokenroute_json_str(tokenroute_json_get(cb, "type"), &b.type,
                                 &b.type_len))
        {
            b.type = NULL;
        }

        if (!tokenroute_json_str(tokenroute_json_get(cb, "id"), &b.id,
                                 &b.id_len))
        {
            b.id = "";
            b.id_len = 0;
        }

        if (!tokenroute_json_str(tokenroute_json_get(cb, "name"), &b.name,
                                 &b.name_len))
        {
            b.name = "";
            b.name_len = 0;
        }

        tokenroute_stream_ao_block(st, &b);

        return 0;
    }

    if (tr_str_is(type, type_len, "message_start")) {
        msg = tokenroute_json_get(j->root, "message");

        tokenroute_stream_ao_usage(st, tokenroute_json_get(msg, "usage"));

        if (!tokenroute_json_str(tokenroute_json_get(msg, "id"), &s, &n))
        {
            s = NULL;
            n = 0;
        }

        tokenroute_stream_ao_start(st, s, n);

        return 0;
    }

    if (tr_str_is(type, type_len, "message_delta")) {
        tokenroute_stream_ao_usage(st, tokenroute_json_get(j->root, "usage"));

        delta = tokenroute_json_get(j->root, "delta");

        if (tokenroute_json_str(tokenroute_json_get(delta, "stop_reason"),
                                &s, &n))
        {
            tokenroute_stream_ao_stop(st, s, n);
        }

        return 0;
    }

    if (tr_str_is(type, type_len, "message_stop")) {
        tokenroute_stream_ao_end(st);
        return 0;
    }

    if (tr_str_is(type, type_len, "error")) {
        return tokenroute_stream_upstream_error(st);
    }

    /* ping, content_block_stop and unknown events */

    return 0;
}


/*
 * The same for an event the scan read (tokenroute_stream_scan_ao() gave
 * 1): a content delta, message_stop, or one that needs nothing.
 */

int
tokenroute_stream_ao_scanned(tokenroute_stream_t *st, const char *event,
    size_t event_len, tokenroute_stream_scan_t *sc)
{
    const char  *type;
    size_t       type_len;

    if (sc->has_type) {
        type = sc->type;
        type_len = sc->type_len;

    } else {
        type = event;
        type_len = event_len;
    }

    if (sc->block_delta) {

        if (sc->s == NULL || sc->len == 0) {
            return 0;
        }

        if (sc->want == 1) {
            tokenroute_stream_ao_text(st, sc->s, sc->len, sc->quoted);

        } else if (sc->want == 2) {
            tokenroute_stream_ao_json(st, sc->index, sc->s, sc->len,
                                      sc->quoted);
        }

        return 0;
    }

    if (tr_str_is(type, type_len, "content_block_start")) {
        tokenroute_stream_ao_block(st, &sc->blk);
        return 0;
    }

    if (tr_str_is(type, type_len, "message_start")) {
        tokenroute_stream_ao_counts(st, sc->msg_usage);
        tokenroute_stream_ao_start(st, sc->id, sc->id_len);
        return 0;
    }

    if (tr_str_is(type, type_len, "message_delta")) {
        tokenroute_stream_ao_counts(st, sc->usage);

        if (sc->stop != NULL) {
            tokenroute_stream_ao_stop(st, sc->stop, sc->stop_len);
        }

        return 0;
    }

    if (tr_str_is(type, type_len, "message_stop")) {
        tokenroute_stream_ao_end(st);
    }

    /* ping, content_block_stop and unknown events */

    return 0;
}


/* content_block_start: a tool call's first chunk; other blocks need none */

static void
tokenroute_stream_ao_block(tokenroute_stream_t *st,
    tokenroute_stream_blk_t *b)
{
    st->block = b->index;
    st->block_tool = -1;

    if (!tr_str_is(b->type, b->type_len, "tool_use")) {
        /* text needs no start; thinking blocks are dropped */
        return;
    }

    st->block_tool = st->nblocks++;

    tokenroute_stream_ao_start(st, NULL, 0);
    tokenroute_stream_ao_open(st);
    tr_add_lit(&st->out, "{\"tool_calls\":[{\"index\":");
    tokenroute_json_add_int(&st->out, st->block_tool);
    tr_add_lit(&st->out, ",\"id\":");
    tokenroute_json_add_str(&st->out, b->id, b->id_len);
    tr_add_lit(&st->out, ",\"type\":\"function\",\"function\":{\"name\":");
    tokenroute_json_add_str(&st->out, b->name, b->name_len);
    tr_add_lit(&st->out, ",\"arguments\":\"\"}}]}");
    tokenroute_stream_ao_close(st, NULL);
}


/* message_delta's stop reason: the finish chunk, once */

static void
tokenroute_stream_ao_stop(tokenroute_stream_t *st, const char *s, size_t n)
{
    if (st->finished) {
        return;
    }

    tokenroute_stream_ao_start(st, NULL, 0);
    tokenroute_stream_ao_open(st);
    tr_add_lit(&st->out, "{}");
    tokenroute_stream_ao_close(st, tokenroute_resp_finish_reason(s, n));

    st->finished = 1;
}


/* quoted: s as a JSON string already (n + 2 bytes), or NULL */

static void
tokenroute_stream_ao_text(tokenroute_stream_t *st, const char *s, size_t n,
    const char *quoted)
{
    tokenroute_stream_ao_start(st, NULL, 0);

    /* the prefix ends with ao_open()'s bytes and {"content": */
    tokenroute_json_add(&st->out, st->prefix.data, st->prefix.len);
    tokenroute_stream_ao_str(st, s, n, quoted);
    tr_add_lit(&st->out, "}" TR_AO_CLOSE "null}]}\n\n");
}


/* k: the event's index, -1 if none */

static void
tokenroute_stream_ao_json(tokenroute_stream_t *st, int64_t k, const char *s,
    size_t n, const char *quoted)
{
    if (st->block_tool < 0 || (k != st->block && k != -1)) {
        return;
    }

    tokenroute_stream_ao_start(st, NULL, 0);
    tokenroute_stream_ao_open(st);
    tr_add_lit(&st->out, "{\"tool_calls\":[{\"index\":");
    tokenroute_json_add_int(&st->out, st->block_tool);
    tr_add_lit(&st->out, ",\"function\":{\"arguments\":");
    tokenroute_stream_ao_str(st, s, n, quoted);
    tr_add_lit(&st->out, "}}]}");
    tokenroute_stream_ao_close(st, NULL);
}


static void
tokenroute_stream_ao_str(tokenroute_stream_t *st, const char *s, size_t n,
    const char *quoted)
{
    if (quoted != NULL) {
        tokenroute_json_add(&st->out, quoted, n + 2);

    } else {
        tokenroute_json_add_str(&st->out, s, n);
    }
}


/* the chunks' common prefix, and the role chunk */

static void
tokenroute_stream_ao_start(tokenroute_stream_t *st, const char *id,
    size_t id_len)
{
    tokenroute_json_buf_t  *b;

    if (st->started) {
        return;
    }

    st->started = 1;

    if (id_len > 4 && memcmp(id, "msg_", 4) == 0) {
        id += 4;
        id_len -= 4;
    }

    b = &st->prefix;

    tr_add_lit(b, "data: {\"id\":\"chatcmpl-");
    tokenroute_json_add_escaped(b, id, id_len);
    tr_add_lit(b, "\",\"object\":\"chat.completion.chunk\",\"created\":");
    tokenroute_json_add_int(b, (int64_t) st->created);
    tr_add_lit(b, ",\"model\":");
    tokenroute_json_add_str(b, st->model.data, st->model.len);
    tr_add_lit(b, ",");

    st->prefix_base = b->len;

    tr_add_lit(b, "\"choices\":[{\"index\":0,\"delta\":");

    st->prefix_open = b->len;

    tr_add_lit(b, "{\"content\":");

    if (b->failed) {
        st->out.failed = 1;
        return;
    }

    tokenroute_stream_ao_open(st);
    tr_add_lit(&st->out, "{\"role\":\"assistant\",\"content\":\"\"}");
    tokenroute_stream_ao_close(st, NULL);
}


/* a chunk up to its delta, which the caller adds */

static void
tokenroute_stream_ao_open(tokenroute_stream_t *st)
{
    tokenroute_json_add(&st->out, st->prefix.data, st->prefix_open);
}


static void
tokenroute_stream_ao_close(tokenroute_stream_t *st, const char *finish)
{
    if (finish == NULL) {
        tr_add_lit(&st->out, TR_AO_CLOSE "null}]}\n\n");
        return;
    }

    tr_add_lit(&st->out, TR_AO_CLOSE);
    tokenroute_json_add_str(&st->out, finish, strlen(finish));
    tr_add_lit(&st->out, "}]}\n\n");
}


/* usage in message_start and message_delta is cumulative: keep the max */

static void
tokenroute_stream_ao_usage(tokenroute_stream_t *st, tokenroute_json_node_t *n)
{
    int      i;
    int64_t  v[4];

    if (n == NULL) {
        return;
    }

    for (i = 0; i < 4; i++) {
        v[i] = tokenroute_resp_usage(n, i);
    }

    tokenroute_stream_ao_counts(st, v);
}


/* the counts of a usage object, by st->usage[] index (none: all 0) */

static void
tokenroute_stream_ao_counts(tokenroute_stream_t *st, const int64_t *v)
{
    int  i;

    for (i = 0; i < 4; i++) {
        if (v[i] > st->usage[i] && v[i] <= INT64_MAX / 4) {
            st->usage[i] = v[i];
        }
    }
}


void
tokenroute_stream_ao_end(tokenroute_stream_t *st)
{
    int64_t  prompt;

    if (st->done) {
        return;
    }

    tokenroute_stream_ao_start(st, NULL, 0);

    if (!st->finished) {
        tokenroute_stream_ao_open(st);
        tr_add_lit(&st->out, "{}");
        tokenroute_stream_ao_close(st, "stop");
        st->finished = 1;
    }

    if (st->include_usage) {
        prompt = st->usage[TR_U_INPUT] + st->usage[TR_U_CACHE_READ]
                 + st->usage[TR_U_CACHE_WRITE];

        tokenroute_json_add(&st->out, st->prefix.data, st->prefix_base);
        tr_add_lit(&st->out, "\"choices\":[],\"usage\":{\"prompt_tokens\":");
        tokenroute_json_add_int(&st->out, prompt);
        tr_add_lit(&st->out, ",\"completion_tokens\":");
        tokenroute_json_add_int(&st->out, st->usage[TR_U_OUTPUT]);
        tr_add_lit(&st->out, ",\"total_tokens\":");
        tokenroute_json_add_int(&st->out, prompt + st->usage[TR_U_OUTPUT]);
        tr_add_lit(&st->out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        tokenroute_json_add_int(&st->out, st->usage[TR_U_CACHE_READ]);
        tr_add_lit(&st->out, "}}}\n\n");
    }

    tr_add_lit(&st->out, "data: [DONE]\n\n");

    st->done = 1;
}
