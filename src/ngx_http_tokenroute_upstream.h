
/*
 * Copyright (C) tokenroute authors
 *
 * Provider upstreams resolved again at run time
 * (ngx_http_tokenroute_upstream.c): an upstream's names, and the
 * generations of its peers the worker side
 * (ngx_http_tokenroute_upstream_dns.c) swaps.
 */


#ifndef _NGX_HTTP_TOKENROUTE_UPSTREAM_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_UPSTREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_TOKENROUTE_RESOLVE_MIN       1000
#define NGX_HTTP_TOKENROUTE_RESOLVE_MAX       30000
#define NGX_HTTP_TOKENROUTE_RESOLVE_RETRY     5000


typedef struct ngx_http_tokenroute_resolve_s  ngx_http_tokenroute_resolve_t;


/* a generation of an upstream's peers, freed by its last user */
typedef struct {
    ngx_http_upstream_rr_peers_t    *peers;
    ngx_pool_t                      *pool;    /* NULL: the configuration's */
    ngx_uint_t                       refs;
    ngx_http_tokenroute_resolve_t   *up;
} ngx_http_tokenroute_peers_t;


/* a name to resolve: a server's of the block, or the implicit host */
typedef struct {
    ngx_str_t                        host;
    in_port_t                        port;
    ngx_uint_t                       server;  /* index in up->uscf->servers */
    ngx_addr_t                      *addrs;   /* the last good answer */
    ngx_uint_t                       naddrs;
    ngx_pool_t                      *pool;    /* of addrs; NULL: config's */
    ngx_event_t                      timer;
    ngx_resolver_ctx_t              *ctx;     /* a question in flight */
    ngx_http_tokenroute_resolve_t   *up;
    unsigned                         failing:1;
} ngx_http_tokenroute_resolve_name_t;


/* an upstream resolved again, the same in every worker until it forks */
struct ngx_http_tokenroute_resolve_s {
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_msec_t                       interval;  /* the longest wait */
    ngx_array_t                      names;     /* resolve_name_t */
    ngx_http_tokenroute_peers_t     *current;
    ngx_http_core_loc_conf_t        *clcf;      /* http's: the resolver */
    ngx_log_t                       *log;
    unsigned                         implicit:1;
};


char *ngx_http_tokenroute_resolve_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_tokenroute_resolve_implicit(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf);
ngx_int_t ngx_http_tokenroute_resolve_swap(ngx_http_tokenroute_resolve_t *up);


#endif /* _NGX_HTTP_TOKENROUTE_UPSTREAM_H_INCLUDED_ */
