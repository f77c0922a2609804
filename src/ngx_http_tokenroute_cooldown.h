
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


/*
 * The longest window (s), here and from the fleet: a deadline further
 * ahead is damaged (COOLDOWN_MAX in src/lua/admission.lua, in ms).
 */
#define NGX_HTTP_TOKENROUTE_COOLDOWN_MAX  3600


/* cooldowns handed to the fleet by one Redis call, at most */
#define NGX_HTTP_TOKENROUTE_COOLDOWN_PUB_MAX  8


/* what one call publishes: model indexes, deadlines (ms), statuses */
typedef struct {
    ngx_uint_t   n;
    ngx_uint_t   index[NGX_HTTP_TOKENROUTE_COOLDOWN_PUB_MAX];
    uint64_t     until[NGX_HTTP_TOKENROUTE_COOLDOWN_PUB_MAX];
    ngx_uint_t   status[NGX_HTTP_TOKENROUTE_COOLDOWN_PUB_MAX];
} ngx_http_tokenroute_cooldown_pub_t;


ngx_int_t ngx_http_tokenroute_cooldown_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
ngx_int_t ngx_http_tokenroute_cooling(ngx_http_tokenroute_model_t *m);
ngx_uint_t ngx_http_tokenroute_cooldown_failure(
    ngx_http_tokenroute_model_t *m, ngx_uint_t status, time_t retry_after);
void ngx_http_tokenroute_cooldown_success(ngx_http_tokenroute_model_t *m);
ngx_uint_t ngx_http_tokenroute_cooldown_pick(
    ngx_http_tokenroute_model_t **group, ngx_uint_t n, ngx_uint_t commit);
char *ngx_http_tokenroute_fallback_on_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tokenroute_cooldown_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_tokenroute_resolve_chains(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);

/* the fleet's side (ngx_http_tokenroute_cooldown_fleet.c) */
void ngx_http_tokenroute_cooldown_take(
    ngx_http_tokenroute_cooldown_pub_t *pub, uint64_t now);
void ngx_http_tokenroute_cooldown_untake(
    ngx_http_tokenroute_cooldown_pub_t *pub);
ngx_uint_t ngx_http_tokenroute_cooldown_learn(ngx_http_tokenroute_model_t *m,
    uint64_t until, ngx_uint_t status);
uint64_t ngx_http_tokenroute_cooldown_seen(void);
void ngx_http_tokenroute_cooldown_set_seen(uint64_t version);

/* wall-clock milliseconds */
uint64_t ngx_http_tokenroute_now_ms(void);


#endif /* _NGX_HTTP_TOKENROUTE_COOLDOWN_H_INCLUDED_ */
