
/*
 * Copyright (C) tokenroute authors
 *
 * Errors in the client's own API shape, so an SDK raises its usual typed
 * exception:
 *
 *   OpenAI     {"error":{"message":..,"type":..,"param":null,"code":..}}
 *   Anthropic  {"type":"error","error":{"type":..,"message":..}}
 *
 * Also the "tokenroute_error" content handler, for the error_page
 * location that turns nginx's own errors (413, 502, 504) into the same
 * shapes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


typedef struct {
    ngx_uint_t    status;
    const char   *openai_type;
    const char   *code;
    const char   *message;
} ngx_http_tokenroute_error_t;


static ngx_int_t ngx_http_tokenroute_error_handler(ngx_http_request_t *r);


static ngx_http_tokenroute_error_t  ngx_http_tokenroute_errors[] = {

    { 400, "invalid_request_error",
      "invalid_request", "Bad request" },
    { 401, "invalid_request_error",
      "invalid_api_key", "Invalid API key" },
    { 402, "insufficient_quota",
      "insufficient_quota", "Insufficient credit" },
    { 403, "invalid_request_error",
      "permission_denied", "Permission denied" },
    { 404, "invalid_request_error",
      "not_found", "Not found" },
    { 405, "invalid_request_error",
      "method_not_allowed", "Method not allowed" },
    { 408, "invalid_request_error",
      "request_timeout", "The request body was not received in time" },
    { 413, "invalid_request_error",
      "request_too_large", "Request body too large" },
    { 429, "rate_limit_error",
      "rate_limit_exceeded", "Too many requests" },
    { 500, "server_error",
      "internal_error", "Internal gateway error" },
    { 502, "server_error",
      "upstream_unreachable", "The provider could not be reached" },
    { 503, "server_error",
      "service_unavailable", "The service is temporarily unavailable" },
    { 504, "server_error",
      "upstream_timeout", "The provider did not answer in time" },
    { 529, "server_error",
      "overloaded", "The provider is overloaded" },
    { 0, NULL, NULL, NULL }
};


ngx_uint_t
ngx_http_tokenroute_shape_of(ngx_http_request_t *r)
{
    if (ngx_strnstr(r->uri.data, "/messages", r->uri.len) != NULL) {
        return NGX_HTTP_TOKENROUTE_ANTHROPIC;
    }

    return NGX_HTTP_TOKENROUTE_OPENAI;
}


ngx_int_t
ngx_http_tokenroute_send_error(ngx_http_request_t *r, ngx_uint_t shape,
    ngx_uint_t status, const char *code, const char *message)
{
    u_char                       *p, *body;
    size_t                        len, mlen;
    uintptr_t                     escape;
    const char                   *anthropic_type;
    ngx_http_tokenroute_error_t  *e;

    static ngx_http_tokenroute_error_t  fallback = {
        0, "server_error", "error", "Error"
    };

    for (e = ngx_http_tokenroute_errors; e->status; e++) {
        if (e->status == status) {
            break;
        }
    }

    if (e->status == 0) {
        e = &fallback;
    }

    if (code == NULL) {
        code = e->code;
    }

    if (message == NULL) {
        message = e->message;
    }

    /* the same mapping as for translated provider errors */
    anthropic_type = tokenroute_error_anthropic_type(status);

    mlen = ngx_strlen(message);
    escape = ngx_escape_json(NULL, (u_char *) message, mlen);

    len = sizeof("{\"error\":{\"message\":\"\",\"type\":\"\",\"param\":null,"
                 "\"code\":\"\"}}") - 1
          + mlen + escape + ngx_strlen(e->openai_type)
          + ngx_strlen(anthropic_type) + ngx_strlen(code);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    if (shape == NGX_HTTP_TOKENROUTE_ANTHROPIC) {
        p = ngx_sprintf(body, "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                        "\"message\":\"", anthropic_type);
        p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
        p = ngx_cpymem(p, "\"}}", 3);

    } else {
        p = ngx_cpymem(body, "{\"error\":{\"message\":\"",
                       sizeof("{\"error\":{\"message\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
        p = ngx_sprintf(p, "\",\"type\":\"%s\",\"param\":null,"
                        "\"code\":\"%s\"}}", e->openai_type, code);
    }

    /* a rejected request's unread body must not be taken for the next */

    if (ngx_http_discard_request_body(r) != NGX_OK || r->reading_body) {
        r->keepalive = 0;
    }

    return ngx_http_tokenroute_send_json(r, status, body, p - body);
}


ngx_int_t
ngx_http_tokenroute_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


char *
ngx_http_tokenroute_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_tokenroute_error_handler;

    return NGX_CONF_OK;
}


/*
 * Reached through "error_page 413 502 503 504 @tokenroute_error" (no "="):
 * r->err_status still holds the status nginx chose, and r->uri the URI
 * the client asked for, which tells the shape.
 */

static ngx_int_t
ngx_http_tokenroute_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t  status;

    status = r->err_status ? r->err_status : NGX_HTTP_INTERNAL_SERVER_ERROR;

    return ngx_http_tokenroute_send_error(r, ngx_http_tokenroute_shape_of(r),
                                          status, NULL, NULL);
}
