
/*
 * Copyright (C) tokenroute authors
 *
 * The dead letters: settlements Redis keeps rejecting
 * (ngx_http_tokenroute_dead.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_DEAD_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_DEAD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_settlement.h"


void ngx_http_tokenroute_dead(ngx_http_tokenroute_settlement_t *s);
ngx_int_t ngx_http_tokenroute_redis_unable(redisReply *reply);


#endif /* _NGX_HTTP_TOKENROUTE_DEAD_H_INCLUDED_ */
