
/*
 * Copyright (C) tokenroute authors
 *
 * A request refused by a rate limit of its key or of its key's tenant
 * (rpm, tpm, concurrency: src/lua/admission.lua counts them, fleet-wide,
 * in the admission's one round trip).  The client gets a 429 in its own
 * shape, which its SDK raises as its RateLimitError, with a Retry-After,
 * and a message saying the limit is tokenroute's, set on that key, not
 * the provider's: an agent that reads "rate limit" would otherwise blame
 * the provider, or switch to another key of the same tenant.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_rate.h"


/* the script's answer is never later than the window after next */
#define NGX_HTTP_TOKENROUTE_RATE_RETRY_MAX  3600


static ngx_int_t ngx_http_tokenroute_rate_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);


static ngx_str_t  ngx_http_tokenroute_rate_names[] = {
    ngx_string("rpm"),
    ngx_string("tpm"),
    ngx_string("concurrency")
};

/* "...'s own limit of N %s", N > 1, then N == 1 */
static const char  *ngx_http_tokenroute_rate_units[][2] = {
    { "requests per minute (rpm)", "request per minute (rpm)" },
    { "tokens per minute (tpm)", "token per minute (tpm)" },
    { "requests at once (max-concurrent)", "request at once (max-concurrent)" }
};


/*
 * What follows "rate\nkey id\naccount\n" in the verdict: "retry after
 * (seconds)\nrpm|tpm|concurrency\nkey|tenant", then the limit's value
 * (optional; later fields are ignored).  NGX_ERROR: not such a verdict.
 */

ngx_int_t
ngx_http_tokenroute_rate_parse(ngx_http_tokenroute_rate_t *rate, u_char *p,
    u_char *last)
{
    u_char      *q, *f[4], *end[4];
    size_t       len;
    ngx_int_t    n;
    ngx_uint_t   i, nf;

    nf = 0;

    for ( ;; ) {
        q = ngx_strlchr(p, last, '\n');

        f[nf] = p;
        end[nf] = q ? q : last;
        nf++;

        if (q == NULL || nf == 4) {
            break;
        }

        p = q + 1;
    }

    if (nf < 3) {
        return NGX_ERROR;
    }

    n = ngx_atoi(f[0], end[0] - f[0]);

    if (n == NGX_ERROR || n > NGX_HTTP_TOKENROUTE_RATE_RETRY_MAX) {
        return NGX_ERROR;
    }

    /* a Retry-After of 0 would invite a retry storm */
    rate->retry = ngx_max(n, 1);

    len = end[1] - f[1];

    for (i = 0; i < 3; i++) {
        if (len == ngx_http_tokenroute_rate_names[i].len
            && ngx_strncmp(f[1], ngx_http_tokenroute_rate_names[i].data, len)
               == 0)
        {
            break;
        }
    }

    if (i == 3) {
        return NGX_ERROR;
    }

    rate->which = i;

    len = end[2] - f[2];

    if (len == 3 && ngx_strncmp(f[2], "key", 3) == 0) {
        rate->tenant = 0;

    } else if (len == 6 && ngx_strncmp(f[2], "tenant", 6) == 0) {
        rate->tenant = 1;

    } else {
        return NGX_ERROR;
    }

    rate->value = -1;

    if (nf == 4) {
        n = ngx_atoof(f[3], end[3] - f[3]);
        rate->value = (n == NGX_ERROR) ? -1 : n;
    }

    return NGX_OK;
}


/*
 * The refusal's message into msg (NUL-terminated), and its headers:
 * Retry-After, or, for a request that can never pass (more tokens than
 * the whole tpm limit: waiting does not help), "x-should-retry: false",
 * which the official SDKs obey before any Retry-After.
 */

ngx_int_t
ngx_http_tokenroute_rate_refusal(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, u_char *msg, size_t len)
{
    u_char                      *p, *last;
    const char                  *whose, *unit;
    ngx_http_tokenroute_rate_t  *rate;
    u_char                       value[NGX_INT64_LEN + 2];
    u_char                       retry[NGX_INT_T_LEN];

    rate = &ctx->rate;
    last = msg + len - 1;

    whose = rate->tenant ? "this API key's tenant" : "this API key";
    unit = ngx_http_tokenroute_rate_units[rate->which][rate->value == 1];

    /* " 1000", or nothing when the script did not say */
    p = value;

    if (rate->value >= 0) {
        p = ngx_sprintf(p, " %L", rate->value);
    }

    *p = '\0';

    if (rate->which == NGX_HTTP_TOKENROUTE_RATE_TPM
        && rate->value >= 0 && ctx->tokens > rate->value)
    {
        p = ngx_slprintf(msg, last,
                         "This request counts up to %L tokens (its input "
                         "bound plus its output cap) against %s's own rate "
                         "limit of%s %s, set in tokenroute (not the "
                         "provider's): it can never pass; send a shorter "
                         "request or a lower max_tokens",
                         ctx->tokens, whose, value, unit);
        *p = '\0';

        return ngx_http_tokenroute_rate_header(r, "x-should-retry",
                                               (u_char *) "false", 5);
    }

    p = ngx_slprintf(msg, last,
                     "Rate limit exceeded: %s's own limit of%s %s, set in "
                     "tokenroute (not the provider's), is reached; retry "
                     "after %ui s", whose, value, unit, rate->retry);

    if (rate->which == NGX_HTTP_TOKENROUTE_RATE_TPM) {
        p = ngx_slprintf(p, last, " (this request counts up to %L tokens)",
                         ctx->tokens);
    }

    *p = '\0';

    p = ngx_sprintf(retry, "%ui", rate->retry);

    return ngx_http_tokenroute_rate_header(r, "Retry-After", retry,
                                           p - retry);
}


static ngx_int_t
ngx_http_tokenroute_rate_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.len = len;
    ngx_memcpy(h->value.data, value, len);

    return NGX_OK;
}
