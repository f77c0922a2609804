
/*
 * Copyright (C) tokenroute authors
 *
 * A Bedrock stream (InvokeModelWithResponseStream): its answer comes in
 * AWS's event-stream framing, decoded into the SSE text of Anthropic's
 * stream before the response filter's SSE paths see it
 * (ngx_http_tokenroute_eventstream.c, on src/tokenroute_eventstream.c).
 * Called from ngx_http_tokenroute_filter.c only.
 */


#ifndef _NGX_HTTP_TOKENROUTE_EVENTSTREAM_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_EVENTSTREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/*
 * Header filter, before the response is set up: 1 if the answer is a
 * Bedrock event stream (a bedrock provider, 200,
 * application/vnd.amazon.eventstream), whose content type is then the
 * client's text/event-stream; else 0.
 */
ngx_uint_t ngx_http_tokenroute_eventstream_header(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/* after the response is set up (ctx->resp): the decoder, resp->es */
ngx_int_t ngx_http_tokenroute_eventstream_start(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/*
 * Body filter: the upstream's buffers in, consumed; *out: the SSE text
 * decoded from them, in buffers of our own, with the input's flush and
 * last_buf; NULL if nothing is due yet.  A malformed stream gives an
 * event whose data is not JSON, which the SSE paths end the client's
 * stream with (provider_stream_invalid), once.
 */
ngx_int_t ngx_http_tokenroute_eventstream_decode(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);

/* after the SSE path had *out: our buffers it is done with, for reuse */
void ngx_http_tokenroute_eventstream_recycle(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *out);


#endif /* _NGX_HTTP_TOKENROUTE_EVENTSTREAM_H_INCLUDED_ */
