
/*
 * Copyright (C) tokenroute authors
 *
 * What a request costs, settled in the log phase
 * (ngx_http_tokenroute_billing.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_BILLING_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_BILLING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_billing_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
void ngx_http_tokenroute_attempt_unbilled(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m);


#endif /* _NGX_HTTP_TOKENROUTE_BILLING_H_INCLUDED_ */
