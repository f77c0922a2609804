
/*
 * Copyright (C) tokenroute authors
 *
 * One control-script operation for an admin API request
 * (ngx_http_tokenroute_admin_call.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ADMIN_CALL_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ADMIN_CALL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>


/* an embedded control script (src/lua/ctl_lib.lua + ctl_<name>.lua) */
typedef struct {
    const char                  *name;
    const char                  *text;
    const size_t                *len;
    ngx_str_t                    script;
    u_char                       sha[41];
} ngx_http_tokenroute_admin_script_t;


/*
 * Called once, with the reply, or NULL when Redis did not answer (down,
 * timed out); never after the request went away.
 */
typedef void (*ngx_http_tokenroute_admin_done_pt)(ngx_http_request_t *r,
    void *data, redisReply *reply);


/*
 * Runs "EVALSHA <sha> 0 <args...>" for r: NGX_AGAIN, the reply comes to
 * done; NGX_DECLINED when the command could not be sent (Redis down);
 * NGX_ERROR.  args: ngx_str_t, in r's pool, kept until done is called.
 */
ngx_int_t ngx_http_tokenroute_admin_call(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_script_t *s, ngx_array_t *args,
    ngx_http_tokenroute_admin_done_pt done, void *data);


#endif /* _NGX_HTTP_TOKENROUTE_ADMIN_CALL_H_INCLUDED_ */
