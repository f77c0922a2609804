
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
 * location that turns nginx's own errors (400, 405, 408, 413, 414, 431,
 * 500, 502, 504) into the same shapes, and the watch that answers
 * the errors of a request body read in the access phase (408 for
 * client_body_timeout, 400 for a malformed chunk).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_error.h"
#include "tokenroute_request.h"


typedef struct {
    ngx_uint_t    status;
    const char   *openai_type;
    const char   *code;
    const char   *message;
} ngx_http_tokenroute_error_t;


static ngx_uint_t ngx_http_tokenroute_client_shape(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_error_handler(ngx_http_request_t *r);
static void ngx_http_tokenroute_body_read_handler(ngx_http_request_t *r);


static ngx_http_tokenroute_error_t  ngx_http_tokenroute_errors[] = {

    { 400, "invalid_request_error",
      "invalid_request", "The request is malformed" },
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
    { 409, "invalid_request_error",
      "conflict", "Conflict" },
    { 408, "invalid_request_error",
      "request_timeout", "The request body was not received in time" },
    { 413, "invalid_request_error",
      "request_too_large", "Request body too large" },
    { 414, "invalid_request_error",
      "uri_too_long", "The request URI is too long" },
    { 429, "rate_limit_error",
      "rate_limit_exceeded", "Too many requests" },
    { 431, "invalid_request_error",
      "request_header_too_large", "The request headers are too large" },
    { 500, "server_error",
      "internal_error", "Internal gateway error" },
    { 501, "server_error",
      "not_implemented", "Not implemented" },
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
    return tokenroute_request_anthropic_path(r->uri.data, r->uri.len)
           ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;
}


/*
 * The shape of the path the client sent, for an error page: the URI may
 * be that of the error location (error_page 414 must name a URI: nginx
 * refuses a named location to a request whose URI it never parsed), or
 * empty.  The request line nginx keeps for its log has the path.
 */

static ngx_uint_t
ngx_http_tokenroute_client_shape(ngx_http_request_t *r)
{
    u_char  *p, *last, *start;

    if (r->request_line.len == 0) {
        return ngx_http_tokenroute_shape_of(r);
    }

    p = r->request_line.data;
    last = p + r->request_line.len;

    while (p < last && *p != ' ') {
        p++;
    }

    if (p < last) {
        p++;
    }

    start = p;

    while (p < last && *p != ' ' && *p != '?') {
        p++;
    }

    if (p > start
        && ngx_strnstr(start, "/messages", p - start) != NULL)
    {
        return TOKENROUTE_SHAPE_ANTHROPIC;
    }

    return TOKENROUTE_SHAPE_OPENAI;
}


ngx_int_t
ngx_http_tokenroute_send_error(ngx_http_request_t *r, ngx_uint_t shape,
    ngx_uint_t status, const char *code, const char *message)
{
    u_char                       *p, *body;
    size_t                        len, mlen, elen;
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

    /*
     * Messages may quote a client's bytes (a model name): escaped, and
     * invalid UTF-8 replaced, so that the body stays valid JSON.
     */

    mlen = ngx_strlen(message);
    elen = tokenroute_json_escape_utf8(NULL, (u_char *) message, mlen);

    len = sizeof("{\"error\":{\"message\":\"\",\"type\":\"\",\"param\":null,"
                 "\"code\":\"\"}}") - 1
          + elen + ngx_strlen(e->openai_type)
          + ngx_strlen(anthropic_type) + ngx_strlen(code);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    if (shape == TOKENROUTE_SHAPE_ANTHROPIC) {
        p = ngx_sprintf(body, "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                        "\"message\":\"", anthropic_type);
        p += tokenroute_json_escape_utf8(p, (u_char *) message, mlen);
        p = ngx_cpymem(p, "\"}}", 3);

    } else {
        p = ngx_cpymem(body, "{\"error\":{\"message\":\"",
                       sizeof("{\"error\":{\"message\":\"") - 1);
        p += tokenroute_json_escape_utf8(p, (u_char *) message, mlen);
        p = ngx_sprintf(p, "\",\"type\":\"%s\",\"param\":null,"
                        "\"code\":\"%s\"}}", e->openai_type, code);

        /* OpenAI never sends 529: its SDKs know an overload as a 503 */
        status = tokenroute_error_client_status(TOKENROUTE_SHAPE_OPENAI,
                                                status);
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

    /* an error page's status would replace ours in ngx_http_send_header() */

    if (r->err_status) {
        r->err_status = status;
    }

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
 * Reached through "error_page 413 502 503 504 @tokenroute_error" (no "=",
 * or "=431" for nginx's 494): r->err_status holds the status nginx chose,
 * and r->uri the URI the client asked for, which tells the shape.
 */

static ngx_int_t
ngx_http_tokenroute_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t  status;

    status = r->err_status ? r->err_status : NGX_HTTP_INTERNAL_SERVER_ERROR;

    return ngx_http_tokenroute_send_error(r,
                                          ngx_http_tokenroute_client_shape(r),
                                          status, NULL, NULL);
}


/*
 * nginx's own error in a gateway location, brought by its error_page to
 * @tokenroute_fallback before any attempt was made (a 500 of a phase, a
 * 408): answered here, in the client's shape, rather than started over.
 */

ngx_int_t
ngx_http_tokenroute_own_error(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_tokenroute_error_handler(r));

    return NGX_DONE;
}


/*
 * A body still being read when ngx_http_read_client_request_body()
 * returned: its reader is replaced by one that answers its errors, a
 * client_body_timeout (408: nginx terminates such a request without a
 * word) or a malformed chunk (400), in the client's shape.  nginx's own
 * reader would finalize them itself and keep the reference the access
 * phase's body reading holds, leaving the connection open until the
 * worker exits.
 */

void
ngx_http_tokenroute_watch_body(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return;
    }
#endif

    r->read_event_handler = ngx_http_tokenroute_body_read_handler;
}


static void
ngx_http_tokenroute_body_read_handler(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    /*
     * For HTTP/1.x this is what ngx_http_read_client_request_body_handler()
     * does (the timeout check, then ngx_http_do_read_client_request_body(),
     * which calls the post handler once a buffered body is in), but it
     * returns the result rather than finalizing with it.
     *
     * The post handler may end the request (an answer decided at once,
     * such as a 503 with Redis down), and nginx's reader clears
     * r->reading_body after it: a reference holds the request until then.
     */

    r->main->count++;

    rc = ngx_http_read_unbuffered_request_body(r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "tokenroute body read: %i", rc);

    if (rc < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_finalize_request(r, NGX_DONE);
        return;
    }

    r->main->count--;

    if (rc == NGX_HTTP_REQUEST_TIME_OUT) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "tokenroute: client timed out sending the request "
                      "body");

        c->read->timedout = 0;
        c->timedout = 0;
    }

    /* the rest of the body is drained by the lingering close */

    r->keepalive = 0;
    r->lingering_close = 1;

    /* the reference the body reading held, as its post handler drops it */
    r->main->count--;

    ngx_http_finalize_request(r,
        ngx_http_tokenroute_send_error(r, ngx_http_tokenroute_shape_of(r),
                                       rc, NULL, NULL));
}
