
/*
 * Copyright (C) tokenroute authors
 *
 * Counters in shared memory, the calls that feed them, and the
 * tokenroute_metrics and tokenroute_health content handlers
 * (ngx_http_tokenroute_metrics.c, ngx_http_tokenroute_metrics_out.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_METRICS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_metrics_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);

void ngx_http_tokenroute_metrics_reject(ngx_uint_t status, const char *code);
void ngx_http_tokenroute_metrics_batch(ngx_uint_t n);
void ngx_http_tokenroute_metrics_redis_reply(ngx_msec_t sent, void *reply);
void ngx_http_tokenroute_metrics_redis_up(ngx_uint_t up);
ngx_int_t ngx_http_tokenroute_metrics_redis_answers(void);
void ngx_http_tokenroute_metrics_journaled(void);
void ngx_http_tokenroute_metrics_replayed(ngx_uint_t n);
void ngx_http_tokenroute_metrics_dead_letter(void);

char *ngx_http_tokenroute_metrics_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tokenroute_health_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_TOKENROUTE_METRICS_H_INCLUDED_ */
