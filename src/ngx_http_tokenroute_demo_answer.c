
/*
 * Copyright (C) tokenroute authors
 *
 * The demo provider's canned answers in both shapes: the text cut to
 * max_tokens, the complete JSON body, and one SSE event at a time for a
 * stream (OpenAI chunks, Anthropic events).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_demo.h"
#include "ngx_http_tokenroute_error.h"


/* room for the longest event template and its numbers, id and model aside */
#define NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE   512


static ngx_buf_t *ngx_http_tokenroute_demo_static_buf(ngx_http_request_t *r,
    ngx_str_t *s);
static void ngx_http_tokenroute_demo_next_word(
    ngx_http_tokenroute_demo_ctx_t *ctx, ngx_str_t *word);


static ngx_str_t  ngx_http_tokenroute_demo_answer =
    ngx_string("Hello from the tokenroute demo provider. Set OPENAI_API_KEY "
               "or ANTHROPIC_API_KEY to reach real models.");

static ngx_str_t  ngx_http_tokenroute_demo_done =
    ngx_string("data: [DONE]\n\n");

static ngx_str_t  ngx_http_tokenroute_demo_block_start =
    ngx_string("event: content_block_start\n"
               "data: {\"type\":\"content_block_start\",\"index\":0,"
               "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");

static ngx_str_t  ngx_http_tokenroute_demo_block_stop =
    ngx_string("event: content_block_stop\n"
               "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n");

static ngx_str_t  ngx_http_tokenroute_demo_message_stop =
    ngx_string("event: message_stop\n"
               "data: {\"type\":\"message_stop\"}\n\n");


/* the answer's first max_tokens words; a word counts as one token */

void
ngx_http_tokenroute_demo_text(ngx_http_tokenroute_demo_ctx_t *ctx,
    int64_t max_tokens)
{
    u_char      *p, *q, *last;
    ngx_uint_t   n;

    p = ngx_http_tokenroute_demo_answer.data;
    last = p + ngx_http_tokenroute_demo_answer.len;

    ctx->stop_reason = (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT)
                       ? "stop" : "end_turn";

    for (n = 1; /* void */ ; n++) {
        q = ngx_strlchr(p, last, ' ');

        if (q == NULL) {
            break;
        }

        if (max_tokens > 0 && (int64_t) n == max_tokens) {
            last = q;
            ctx->stop_reason =
                (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT)
                ? "length" : "max_tokens";
            break;
        }

        p = q + 1;
    }

    ctx->text.data = ngx_http_tokenroute_demo_answer.data;
    ctx->text.len = last - ctx->text.data;
    ctx->word = ctx->text.data;
    ctx->completion_tokens = n;
}


ngx_int_t
ngx_http_tokenroute_demo_complete(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    u_char  *p, *body;
    size_t   len;

    len = NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE + ctx->id.len + ctx->model.len
          + ctx->text.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT) {
        p = ngx_slprintf(body, body + len,
                         "{\"id\":\"%V\",\"object\":\"chat.completion\","
                         "\"created\":%T,\"model\":\"%V\","
                         "\"choices\":[{\"index\":0,\"message\":"
                         "{\"role\":\"assistant\",\"content\":\"%V\"},"
                         "\"finish_reason\":\"%s\",\"logprobs\":null}],"
                         "\"usage\":{\"prompt_tokens\":%ui,"
                         "\"completion_tokens\":%ui,\"total_tokens\":%ui,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
                         &ctx->id, ctx->created, &ctx->model, &ctx->text,
                         ctx->stop_reason, ctx->prompt_tokens,
                         ctx->completion_tokens,
                         ctx->prompt_tokens + ctx->completion_tokens);

    } else {
        p = ngx_slprintf(body, body + len,
                         "{\"id\":\"%V\",\"type\":\"message\","
                         "\"role\":\"assistant\",\"model\":\"%V\","
                         "\"content\":[{\"type\":\"text\",\"text\":\"%V\"}],"
                         "\"stop_reason\":\"%s\",\"stop_sequence\":null,"
                         "\"usage\":{\"input_tokens\":%ui,"
                         "\"output_tokens\":%ui}}",
                         &ctx->id, &ctx->model, &ctx->text, ctx->stop_reason,
                         ctx->prompt_tokens, ctx->completion_tokens);
    }

    return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, body, p - body);
}


ngx_buf_t *
ngx_http_tokenroute_demo_openai_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    u_char     *p;
    ngx_buf_t  *b;
    ngx_str_t   word;

    if (ctx->state == NGX_HTTP_TOKENROUTE_DEMO_END) {
        return ngx_http_tokenroute_demo_static_buf(r,
                                            &ngx_http_tokenroute_demo_done);
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE
                                     + ctx->id.len + ctx->model.len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_slprintf(b->last, b->end,
                     "data: {\"id\":\"%V\","
                     "\"object\":\"chat.completion.chunk\",\"created\":%T,"
                     "\"model\":\"%V\",\"choices\":",
                     &ctx->id, ctx->created, &ctx->model);

    switch (ctx->state) {

    case NGX_HTTP_TOKENROUTE_DEMO_HEAD:
        p = ngx_slprintf(p, b->end,
                         "[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                         "\"content\":\"\"},\"finish_reason\":null}]}\n\n");

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_WORDS;
        break;

    case NGX_HTTP_TOKENROUTE_DEMO_WORDS:
        ngx_http_tokenroute_demo_next_word(ctx, &word);

        /* the answer's words need no JSON escaping */

        p = ngx_slprintf(p, b->end,
                         "[{\"index\":0,\"delta\":{\"content\":\"%V\"},"
                         "\"finish_reason\":null}]}\n\n", &word);

        if (ctx->word == ctx->text.data + ctx->text.len) {
            ctx->state = NGX_HTTP_TOKENROUTE_DEMO_FINISH;
        }

        break;

    case NGX_HTTP_TOKENROUTE_DEMO_FINISH:
        p = ngx_slprintf(p, b->end,
                         "[{\"index\":0,\"delta\":{},"
                         "\"finish_reason\":\"%s\"}]}\n\n", ctx->stop_reason);

        ctx->state = ctx->include_usage ? NGX_HTTP_TOKENROUTE_DEMO_USAGE
                                        : NGX_HTTP_TOKENROUTE_DEMO_END;
        break;

    default: /* NGX_HTTP_TOKENROUTE_DEMO_USAGE */
        p = ngx_slprintf(p, b->end,
                         "[],\"usage\":{\"prompt_tokens\":%ui,"
                         "\"completion_tokens\":%ui,\"total_tokens\":%ui,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":0}}}"
                         "\n\n",
                         ctx->prompt_tokens, ctx->completion_tokens,
                         ctx->prompt_tokens + ctx->completion_tokens);

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_END;
        break;
    }

    b->last = p;

    return b;
}


ngx_buf_t *
ngx_http_tokenroute_demo_anthropic_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    u_char     *p;
    ngx_buf_t  *b;
    ngx_str_t   word;

    switch (ctx->state) {

    case NGX_HTTP_TOKENROUTE_DEMO_BLOCK_START:
        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_WORDS;
        return ngx_http_tokenroute_demo_static_buf(r,
                                     &ngx_http_tokenroute_demo_block_start);

    case NGX_HTTP_TOKENROUTE_DEMO_FINISH:
        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_USAGE;
        return ngx_http_tokenroute_demo_static_buf(r,
                                      &ngx_http_tokenroute_demo_block_stop);

    case NGX_HTTP_TOKENROUTE_DEMO_END:
        return ngx_http_tokenroute_demo_static_buf(r,
                                    &ngx_http_tokenroute_demo_message_stop);
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE
                                     + ctx->id.len + ctx->model.len);
    if (b == NULL) {
        return NULL;
    }

    switch (ctx->state) {

    case NGX_HTTP_TOKENROUTE_DEMO_HEAD:
        p = ngx_slprintf(b->last, b->end,
                         "event: message_start\n"
                         "data: {\"type\":\"message_start\",\"message\":"
                         "{\"id\":\"%V\",\"type\":\"message\","
                         "\"role\":\"assistant\",\"model\":\"%V\","
                         "\"content\":[],\"stop_reason\":null,"
                         "\"stop_sequence\":null,\"usage\":"
                         "{\"input_tokens\":%ui,\"output_tokens\":1}}}\n\n",
                         &ctx->id, &ctx->model, ctx->prompt_tokens);

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_BLOCK_START;
        break;

    case NGX_HTTP_TOKENROUTE_DEMO_WORDS:
        ngx_http_tokenroute_demo_next_word(ctx, &word);

        p = ngx_slprintf(b->last, b->end,
                         "event: content_block_delta\n"
                         "data: {\"type\":\"content_block_delta\",\"index\":0,"
                         "\"delta\":{\"type\":\"text_delta\","
                         "\"text\":\"%V\"}}\n\n", &word);

        if (ctx->word == ctx->text.data + ctx->text.len) {
            ctx->state = NGX_HTTP_TOKENROUTE_DEMO_FINISH;
        }

        break;

    default: /* NGX_HTTP_TOKENROUTE_DEMO_USAGE */
        p = ngx_slprintf(b->last, b->end,
                         "event: message_delta\n"
                         "data: {\"type\":\"message_delta\",\"delta\":"
                         "{\"stop_reason\":\"%s\",\"stop_sequence\":null},"
                         "\"usage\":{\"output_tokens\":%ui}}\n\n",
                         ctx->stop_reason, ctx->completion_tokens);

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_END;
        break;
    }

    b->last = p;

    return b;
}


static ngx_buf_t *
ngx_http_tokenroute_demo_static_buf(ngx_http_request_t *r, ngx_str_t *s)
{
    ngx_buf_t  *b;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NULL;
    }

    b->pos = s->data;
    b->last = s->data + s->len;
    b->memory = 1;

    return b;
}


/* a word carries its following space, as the providers' tokens do */

static void
ngx_http_tokenroute_demo_next_word(ngx_http_tokenroute_demo_ctx_t *ctx,
    ngx_str_t *word)
{
    u_char  *p, *last;

    last = ctx->text.data + ctx->text.len;

    p = ngx_strlchr(ctx->word, last, ' ');
    p = (p == NULL) ? last : p + 1;

    word->data = ctx->word;
    word->len = p - ctx->word;

    ctx->word = p;
}
