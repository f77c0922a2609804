
/*
 * Copyright (C) tokenroute authors
 *
 * A request parked on Redis (its admission, which also cancels it if the
 * request goes away first: ngx_http_tokenroute_admission.c): the resumption
 * of the phase engine when the reply comes, and the clock the overhead is
 * measured with.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_park.h"


/*
 * A Redis reply arrived for the request: resume the phase engine as if
 * the connection's own event had fired (lua-nginx-module's sequence).
 */

void
ngx_http_tokenroute_resume(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_connection_t  *c;

    ctx->admission_done = 1;
    ctx->t_redis += ngx_http_tokenroute_usec() - ctx->t_sent;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute access: Redis answered in %uL us",
                   ctx->t_redis);

    if (!ctx->waiting_admission) {
        return;
    }

    ctx->waiting_admission = 0;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


/* nginx's cached time has millisecond resolution; overhead is smaller */

uint64_t
ngx_http_tokenroute_usec(void)
{
    struct timespec  ts;

    /*
     * only differences are taken: a monotonic clock, so that a step of the
     * wall clock (NTP) never makes an interval negative
     */

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
