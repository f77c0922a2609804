
/*
 * Copyright (C) tokenroute authors
 *
 * Key changes pushed to every worker over Redis pub/sub (README
 * "Invalidation"): the tokenroute_invalidation directive and the
 * worker's subscriber (ngx_http_tokenroute_inval.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_INVAL_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_INVAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "tokenroute_schema.h"


/* the channel the control scripts publish on (src/lua/ctl_lib.lua) */
#define NGX_HTTP_TOKENROUTE_INVAL_CHANNEL  TOKENROUTE_REDIS_INVAL


char *ngx_http_tokenroute_inval_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Turns the subscriber on for a feature that caches keys (the leases),
 * unless "tokenroute_invalidation off" says otherwise, before or after.
 */
void ngx_http_tokenroute_inval_enable(ngx_conf_t *cf);

ngx_int_t ngx_http_tokenroute_inval_init(ngx_cycle_t *cycle,
    ngx_http_tokenroute_main_conf_t *trmcf);
void ngx_http_tokenroute_inval_shutdown(void);


#endif /* _NGX_HTTP_TOKENROUTE_INVAL_H_INCLUDED_ */
