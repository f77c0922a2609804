
/*
 * Copyright (C) tokenroute authors
 *
 * Cooldowns the fleet shares through Redis
 * (ngx_http_tokenroute_cooldown_fleet.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_COOLDOWN_FLEET_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_COOLDOWN_FLEET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_redis.h"


void ngx_http_tokenroute_fleet_init(u_char *admission_sha);
void ngx_http_tokenroute_fleet_arg(ngx_http_tokenroute_cooldown_pub_t *pub,
    const char **arg, size_t *len);
void ngx_http_tokenroute_fleet_reply(ngx_http_tokenroute_cooldown_pub_t *pub,
    redisReply *e);
void ngx_http_tokenroute_fleet_soon(void);
void ngx_http_tokenroute_fleet_poll(void);


#endif /* _NGX_HTTP_TOKENROUTE_COOLDOWN_FLEET_H_INCLUDED_ */
