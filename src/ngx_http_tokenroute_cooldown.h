
/*
 * Copyright (C) tokenroute authors
 *
 * Cooldowns of failing models, tokenroute_fallback_on and
 * tokenroute_cooldown (ngx_http_tokenroute_cooldown.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_COOLDOWN_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_COOLDOWN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_cooldown_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
ngx_int_t ngx_http_tokenroute_cooling(ngx_http_tokenroute_model_t *m);
void ngx_http_tokenroute_cooldown_failure(ngx_http_tokenroute_model_t *m,
    ngx_uint_t status, time_t retry_after);
void ngx_http_tokenroute_cooldown_success(ngx_http_tokenroute_model_t *m);
char *ngx_http_tokenroute_fallback_on_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tokenroute_cooldown_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_tokenroute_resolve_chains(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);


#endif /* _NGX_HTTP_TOKENROUTE_COOLDOWN_H_INCLUDED_ */
