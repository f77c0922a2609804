
/*
 * Copyright (C) tokenroute authors
 *
 * Response header filter: tells the client which model served the
 * request ("x-tokenroute-model"), on success and on provider errors alike.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


static ngx_int_t ngx_http_tokenroute_header_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_tokenroute_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tokenroute_header_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t            *h;
    ngx_http_tokenroute_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL || !ctx->decided) {
        return ngx_http_next_header_filter(r);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-tokenroute-model");
    h->value = ctx->model->id;

    return ngx_http_next_header_filter(r);
}
