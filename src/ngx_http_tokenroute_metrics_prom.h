
/*
 * Copyright (C) tokenroute authors
 *
 * The counters as Prometheus text (ngx_http_tokenroute_metrics_prom.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_METRICS_PROM_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_METRICS_PROM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_metrics.h"


ngx_int_t ngx_http_tokenroute_metrics_prom(ngx_http_request_t *r,
    ngx_http_tokenroute_metrics_t *m, ngx_chain_t **out);


#endif /* _NGX_HTTP_TOKENROUTE_METRICS_PROM_H_INCLUDED_ */
