
/*
 * Copyright (C) tokenroute authors
 *
 * The replay: every worker, once a second while Redis is connected, takes
 * a batch of journaled settlements (ngx_http_tokenroute_journal.c) back
 * into settlement, and runs the reservation sweep and the key purge.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_purge.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_replay.h"
#include "ngx_http_tokenroute_settle.h"
#include "ngx_http_tokenroute_settlement.h"
#include "ngx_http_tokenroute_sweep.h"


#define NGX_HTTP_TOKENROUTE_REPLAY_INTERVAL  1000
#define NGX_HTTP_TOKENROUTE_REPLAY_BATCH     64


static void ngx_http_tokenroute_journal_replay(ngx_event_t *ev);


static ngx_event_t       ngx_http_tokenroute_replay_event;

/* timer events are logged with their connection's fd: give it one */
static ngx_connection_t  ngx_http_tokenroute_replay_conn;


ngx_int_t
ngx_http_tokenroute_replay_start(ngx_cycle_t *cycle)
{
    ngx_event_t  *ev;

    ev = &ngx_http_tokenroute_replay_event;

    ngx_http_tokenroute_replay_conn.fd = (ngx_socket_t) -1;

    ev->handler = ngx_http_tokenroute_journal_replay;
    ev->log = cycle->log;
    ev->data = &ngx_http_tokenroute_replay_conn;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_TOKENROUTE_REPLAY_INTERVAL);

    return NGX_OK;
}


/*
 * Takes a batch out of the journal and settles it again; whatever fails
 * goes back in through ngx_http_tokenroute_settle().
 */

static void
ngx_http_tokenroute_journal_replay(ngx_event_t *ev)
{
    ngx_uint_t                        i, n;
    ngx_http_tokenroute_settlement_t  batch[NGX_HTTP_TOKENROUTE_REPLAY_BATCH];

    if (ngx_http_tokenroute_redis_ready()) {

        n = ngx_http_tokenroute_journal_take(batch,
                                             NGX_HTTP_TOKENROUTE_REPLAY_BATCH);

        if (n) {
            ngx_http_tokenroute_metrics_replayed(n);
            ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                          "tokenroute: replaying %ui journaled settlements",
                          n);
        }

        for (i = 0; i < n; i++) {
            ngx_http_tokenroute_settle(&batch[i]);
        }

        ngx_http_tokenroute_sweep();
        ngx_http_tokenroute_purge();
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, NGX_HTTP_TOKENROUTE_REPLAY_INTERVAL);
    }
}
