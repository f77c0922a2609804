
/*
 * Copyright (C) tokenroute authors
 *
 * One public model, several deployments: tokenroute_deployment, and the
 * chain a request's models expand into (ngx_http_tokenroute_deployment.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_DEPLOYMENT_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_DEPLOYMENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


#define NGX_HTTP_TOKENROUTE_WEIGHT_MAX    1000
#define NGX_HTTP_TOKENROUTE_PRIORITY_MAX  100


/* the public model of a chain's entry: a deployment's, or the model */
#define ngx_http_tokenroute_public(m)                                         \
    ((m)->parent ? (m)->parent : (m))


char *ngx_http_tokenroute_deployment_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_tokenroute_resolve_deployments(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
ngx_int_t ngx_http_tokenroute_chain_expand(ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_model_t *m, ngx_uint_t commit);


#endif /* _NGX_HTTP_TOKENROUTE_DEPLOYMENT_H_INCLUDED_ */
