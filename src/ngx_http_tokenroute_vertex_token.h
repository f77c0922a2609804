
/*
 * Copyright (C) tokenroute authors
 *
 * Vertex AI's OAuth2 access token: kept in a shared zone for every
 * worker, fetched by one request at a time for the whole nginx (a
 * subrequest to the token location, through nginx's proxy), refreshed
 * when less than NGX_HTTP_TOKENROUTE_VERTEX_REFRESH seconds are left.
 */


#ifndef _NGX_HTTP_TOKENROUTE_VERTEX_TOKEN_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_VERTEX_TOKEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_provider_vertex.h"


#define NGX_HTTP_TOKENROUTE_VERTEX_URI  "/.tokenroute_vertex_token"


/* the zone every vertex provider shares; NULL on error */
ngx_shm_zone_t *ngx_http_tokenroute_vertex_zone(ngx_conf_t *cf);

/*
 * Before an attempt on a vertex provider is proxied: NGX_OK with
 * ctx->upstream_authorization set, NGX_AGAIN while the token is fetched
 * (the phases run again when it is), or NGX_HTTP_SERVICE_UNAVAILABLE
 * when there is none (the attempt fails and falls back).
 */
ngx_int_t ngx_http_tokenroute_vertex_ready(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/*
 * The provider refused the token ctx->upstream_authorization carried (a
 * 401): dropped from the zone, so that the next request fetches one.
 */
void ngx_http_tokenroute_vertex_refused(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/*
 * In the token location's subrequest: the provider whose token it
 * fetches, and the form it posts; NULL in any other request.
 */
ngx_http_tokenroute_vertex_conf_t *ngx_http_tokenroute_vertex_fetching(
    ngx_http_request_t *r, ngx_str_t *form);


#endif /* _NGX_HTTP_TOKENROUTE_VERTEX_TOKEN_H_INCLUDED_ */
