
/*
 * Copyright (C) tokenroute authors
 *
 * Claude on Google Vertex AI (tokenroute_provider ... type=vertex): the
 * service account's key read at load, the route (rawPredict or
 * streamRawPredict, the body Vertex takes) and the variables of the
 * token location (tokenroute_server.conf).  The OAuth2 token itself:
 * ngx_http_tokenroute_vertex_token.c.
 */


#ifndef _NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_tokenroute_module.h"


#define NGX_HTTP_TOKENROUTE_VERTEX_ID_LEN  32    /* SHA-256 */


/* a vertex provider's prov->type_conf */
typedef struct {
    ngx_str_t                        credentials_file;
    ngx_str_t                        client_email;
    ngx_str_t                        aud;         /* token_uri, the JWT's */
    ngx_str_t                        token_url;   /* as proxied */
    ngx_str_t                        token_host;  /* Host header */
    ngx_str_t                        token_sni;   /* the name alone */
    EVP_PKEY                        *key;
    ngx_shm_zone_t                  *zone;        /* the tokens */
    u_char                           id[NGX_HTTP_TOKENROUTE_VERTEX_ID_LEN];
} ngx_http_tokenroute_vertex_conf_t;


/* a parameter of a type=vertex provider: NGX_OK, NGX_DECLINED unknown */
ngx_int_t ngx_http_tokenroute_vertex_param(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov, ngx_str_t *param);

/* after the url: the key file read, its token endpoint made proxiable */
ngx_int_t ngx_http_tokenroute_vertex_init(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov);

/* the URI and the body of an attempt on a vertex provider */
ngx_int_t ngx_http_tokenroute_vertex_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/* the token location's variables, registered by ..._variables.c */
extern ngx_http_variable_t  ngx_http_tokenroute_vertex_vars[];


#endif /* _NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX_H_INCLUDED_ */
