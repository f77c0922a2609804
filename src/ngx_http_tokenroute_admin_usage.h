
/*
 * Copyright (C) tokenroute authors
 *
 * The admin API's usage route (ngx_http_tokenroute_admin_usage.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ADMIN_USAGE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ADMIN_USAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The usage report for r, its admin key already checked: params holds
 * name, value, name, value... (ngx_str_t).  NGX_AGAIN: the report
 * finalizes the request once done; else the request's final status or
 * response.
 */
ngx_int_t ngx_http_tokenroute_admin_usage(ngx_http_request_t *r,
    ngx_array_t *params);


#endif /* _NGX_HTTP_TOKENROUTE_ADMIN_USAGE_H_INCLUDED_ */
