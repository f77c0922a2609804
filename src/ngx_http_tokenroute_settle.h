
/*
 * Copyright (C) tokenroute authors
 *
 * Batched, idempotent settlement and release
 * (ngx_http_tokenroute_settle.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_SETTLE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_SETTLE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_settlement.h"


ngx_int_t ngx_http_tokenroute_settle_init(ngx_conf_t *cf, ngx_str_t *scripts);
void ngx_http_tokenroute_settle(ngx_http_tokenroute_settlement_t *s);
void ngx_http_tokenroute_settle_shutdown(void);
void ngx_http_tokenroute_release(u_char *request_id, ngx_uint_t again);


#endif /* _NGX_HTTP_TOKENROUTE_SETTLE_H_INCLUDED_ */
