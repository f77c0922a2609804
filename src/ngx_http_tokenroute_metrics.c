
/*
 * Copyright (C) tokenroute authors
 *
 * What the gateway counts, in a shared memory zone every worker adds to:
 * each request once, from the log phase (ngx_http_tokenroute_metrics_out.c)
 * after settlement has finalized its usage, whatever path it took
 * (rejected, fallen back, streamed, cut by the client); the gateway's
 * rejections, Redis's answers and errors, the admission batches and the
 * journal where they happen.
 *
 * Labels are indexes fixed at configuration time (the model table), never
 * what a client sent.  The zone's name carries a hash of the models and
 * providers: a reload that keeps them keeps the zone and its counts
 * (nginx hands the old zone's data to init), one that changes them starts
 * a new zone from zero, as a Prometheus counter reset.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_metrics.h"


/* bumped when the table's layout changes: a new zone, not a misread */
#define NGX_HTTP_TOKENROUTE_METRICS_LAYOUT  "tokenroute metrics 1"

static ngx_int_t ngx_http_tokenroute_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_tokenroute_metrics_layout(
    ngx_http_tokenroute_metrics_t *m);
static void ngx_http_tokenroute_observe(ngx_http_tokenroute_metrics_t *m,
    ngx_uint_t h, uint64_t v);


static const uint64_t  ngx_http_tokenroute_overhead_bounds[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 1000000
};

static const uint64_t  ngx_http_tokenroute_upstream_bounds[] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000, 10000000, 30000000, 60000000
};

/* the event loop's clock: a millisecond at best */
static const uint64_t  ngx_http_tokenroute_redis_bounds[] = {
    1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000
};

static const uint64_t  ngx_http_tokenroute_batch_bounds[] = {
    1, 2, 4, 8, 16, 32, 64, 128
};


#define ngx_http_tokenroute_bounds(b)  b, sizeof(b) / sizeof(uint64_t)

ngx_http_tokenroute_histogram_desc_t  ngx_http_tokenroute_histograms[] = {
    { "tokenroute_overhead_seconds",
      "The gateway's own time before the provider is asked (the "
      "x-tokenroute-overhead-ms figure), per admitted request.",
      ngx_http_tokenroute_bounds(ngx_http_tokenroute_overhead_bounds), 1 },
    { "tokenroute_upstream_first_byte_seconds",
      "Time from connecting to the provider to its response header, "
      "of the attempt that answered.",
      ngx_http_tokenroute_bounds(ngx_http_tokenroute_upstream_bounds), 1 },
    { "tokenroute_upstream_last_byte_seconds",
      "Time from connecting to the provider to the end of its response, "
      "of the attempt that answered.",
      ngx_http_tokenroute_bounds(ngx_http_tokenroute_upstream_bounds), 1 },
    { "tokenroute_redis_command_seconds",
      "Redis commands, from sent to answered (millisecond clock).",
      ngx_http_tokenroute_bounds(ngx_http_tokenroute_redis_bounds), 1 },
    { "tokenroute_admission_batch_size",
      "Requests per admission command sent to Redis.",
      ngx_http_tokenroute_bounds(ngx_http_tokenroute_batch_bounds), 0 }
};


/* the codes of ngx_http_tokenroute_reject(); a NULL code: any other */
ngx_http_tokenroute_reason_t  ngx_http_tokenroute_reasons[] = {
    { 401, "missing_api_key" },
    { 401, "invalid_api_key" },
    { 401, "revoked_api_key" },
    { 401, "expired_api_key" },
    { 401, NULL },
    { 402, "insufficient_credit" },
    { 402, "key_limit_reached" },
    { 402, "tenant_limit_reached" },
    { 402, NULL },
    { 403, "model_not_allowed" },
    { 403, NULL },
    { 429, "rate_limit_exceeded" },
    { 429, NULL },
    { 503, "key_store_unavailable" },
    { 503, NULL },
    { 0, NULL }
};


/* this worker's last answer from Redis (ngx_current_msec) */
static ngx_msec_t  ngx_http_tokenroute_redis_answered;
static ngx_uint_t  ngx_http_tokenroute_redis_connects;


ngx_int_t
ngx_http_tokenroute_metrics_zone(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    size_t                          size;
    uint32_t                        crc;
    ngx_uint_t                      i;
    ngx_str_t                       name;
    ngx_shm_zone_t                 *zone;
    ngx_http_tokenroute_model_t    *models;
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_metrics_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->trmcf = trmcf;

    /* the shape: models and their providers, in order */

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) NGX_HTTP_TOKENROUTE_METRICS_LAYOUT,
                     sizeof(NGX_HTTP_TOKENROUTE_METRICS_LAYOUT));

    models = trmcf->models.elts;

    for (i = 0; i < trmcf->models.nelts; i++) {
        ngx_crc32_update(&crc, models[i].id.data, models[i].id.len + 1);
        ngx_crc32_update(&crc, models[i].provider->name.data,
                         models[i].provider->name.len + 1);
    }

    ngx_crc32_final(crc);

    name.data = ngx_pnalloc(cf->pool, sizeof("tokenroute_metrics_") + 8);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, "tokenroute_metrics_%08xD", crc)
               - name.data;

    size = sizeof(ngx_http_tokenroute_metrics_sh_t)
           + (trmcf->models.nelts + 1)
             * sizeof(ngx_http_tokenroute_model_counters_t)
           + ngx_http_tokenroute_metrics_nrequests(trmcf->models.nelts)
             * sizeof(ngx_atomic_t);

    /* the slab pool's own pages, and its rounding */
    size = ngx_align(2 * size, ngx_pagesize) + 8 * ngx_pagesize;

    zone = ngx_shared_memory_add(cf, &name, size,
                                 &ngx_http_tokenroute_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_tokenroute_metrics_init_zone;
    zone->data = m;

    trmcf->metrics_zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_tokenroute_metrics_t  *om = data;

    size_t                          size;
    ngx_uint_t                      n;
    ngx_slab_pool_t                *shpool;
    ngx_http_tokenroute_metrics_t  *m;

    m = shm_zone->data;
    n = m->trmcf->models.nelts;

    /* the same name and size: the same models, counted on */

    if (om && om->sh && om->sh->nmodels == n) {
        m->sh = om->sh;
        ngx_http_tokenroute_metrics_layout(m);
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    size = sizeof(ngx_http_tokenroute_metrics_sh_t)
           + (n + 1) * sizeof(ngx_http_tokenroute_model_counters_t)
           + ngx_http_tokenroute_metrics_nrequests(n) * sizeof(ngx_atomic_t);

    m->sh = ngx_slab_calloc(shpool, size);
    if (m->sh == NULL) {
        return NGX_ERROR;
    }

    m->sh->nmodels = n;
    shpool->data = m->sh;

    ngx_http_tokenroute_metrics_layout(m);

    return NGX_OK;
}


static void
ngx_http_tokenroute_metrics_layout(ngx_http_tokenroute_metrics_t *m)
{
    m->models = (ngx_http_tokenroute_model_counters_t *) (m->sh + 1);
    m->requests = (ngx_atomic_t *) (m->models + m->sh->nmodels + 1);
}


/* the current cycle's table: an old worker keeps its own until it exits */

ngx_http_tokenroute_metrics_t *
ngx_http_tokenroute_metrics_get(void)
{
    ngx_http_tokenroute_metrics_t    *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                ngx_http_tokenroute_module);

    if (trmcf == NULL || trmcf->metrics_zone == NULL) {
        return NULL;
    }

    m = trmcf->metrics_zone->data;

    return m->sh ? m : NULL;
}


/*
 * A request, once, from the log phase.  Its model is the one asked for
 * (the chain's first), its served model and provider those of the last
 * attempt; tokens and cost are those settlement charged.
 */

void
ngx_http_tokenroute_metrics_request(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_uint_t                             i, nm, asked, served, status;
    ngx_uint_t                             shape, class;
    ngx_http_upstream_state_t             *st;
    ngx_http_tokenroute_model_t           *model;
    ngx_http_tokenroute_metrics_t         *m;
    ngx_http_tokenroute_model_counters_t  *mc;

    m = ngx_http_tokenroute_metrics_get();
    if (m == NULL) {
        return;
    }

    nm = m->sh->nmodels;

    /* asked: a public model; served: the deployment */
    model = ctx->nchain ? ngx_http_tokenroute_public(ctx->chain[0])
                        : ctx->model;
    asked = (model && model->index < nm) ? model->index : nm;

    served = (ctx->attempts && ctx->model && ctx->model->index < nm)
             ? ctx->model->index : nm;

    status = r->err_status ? r->err_status : r->headers_out.status;

    class = (status >= 200 && status < 300) ? 0
            : (status >= 400 && status < 500) ? 1
            : (status >= 500 && status < 600) ? 2 : 3;

    shape = (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC);

    i = ((asked * (nm + 1) + served) * NGX_HTTP_TOKENROUTE_METRICS_SHAPES
         + shape) * NGX_HTTP_TOKENROUTE_METRICS_CLASSES + class;

    (void) ngx_atomic_fetch_add(&m->requests[i], 1);

    if (ctx->attempts) {
        mc = &m->models[asked];
        (void) ngx_atomic_fetch_add(&mc->attempts, ctx->attempts);
        (void) ngx_atomic_fetch_add(&mc->fallbacks, ctx->attempts - 1);
    }

    if (ctx->usage_done) {
        /* settlement's model: the one asked for when none answered */
        model = (ctx->failed && ctx->nchain)
                ? ngx_http_tokenroute_public(ctx->chain[0]) : ctx->model;
        mc = &m->models[(model && model->index < nm) ? model->index : nm];

        if (!ctx->failed) {
            (void) ngx_atomic_fetch_add(&mc->input, ctx->usage.input_tokens);
            (void) ngx_atomic_fetch_add(&mc->cached,
                                        ctx->usage.cached_tokens);
            (void) ngx_atomic_fetch_add(&mc->cache_write,
                                        ctx->usage.cache_write_tokens);
            (void) ngx_atomic_fetch_add(&mc->output,
                                        ctx->usage.output_tokens);
            (void) ngx_atomic_fetch_add(&mc->cost, ctx->cost);

            if (ctx->estimated) {
                (void) ngx_atomic_fetch_add(&mc->estimated, 1);
                (void) ngx_atomic_fetch_add(&mc->estimated_cost, ctx->cost);
            }
        }

        if (ctx->unbilled > 0) {
            (void) ngx_atomic_fetch_add(&mc->unbilled, 1);
            (void) ngx_atomic_fetch_add(&mc->unbilled_cost, ctx->unbilled);
        }
    }

    if (ctx->t_decided) {
        ngx_http_tokenroute_observe(m, NGX_HTTP_TOKENROUTE_H_OVERHEAD,
                                    ctx->t_decided - ctx->t_start);
    }

    if (ctx->attempts == 0 || r->upstream_states == NULL) {
        return;
    }

    /* the attempt that answered: the last with a peer */

    st = r->upstream_states->elts;

    for (i = r->upstream_states->nelts; i > 0; i--) {
        if (st[i - 1].peer) {
            break;
        }
    }

    if (i == 0) {
        return;
    }

    st = &st[i - 1];

    if (st->header_time != (ngx_msec_t) -1) {
        ngx_http_tokenroute_observe(m, NGX_HTTP_TOKENROUTE_H_FIRST_BYTE,
                                    (uint64_t) st->header_time * 1000);
    }

    if (st->response_time != (ngx_msec_t) -1) {
        ngx_http_tokenroute_observe(m, NGX_HTTP_TOKENROUTE_H_LAST_BYTE,
                                    (uint64_t) st->response_time * 1000);
    }
}


static void
ngx_http_tokenroute_observe(ngx_http_tokenroute_metrics_t *m, ngx_uint_t h,
    uint64_t v)
{
    ngx_uint_t                             i;
    ngx_http_tokenroute_histogram_t       *hist;
    ngx_http_tokenroute_histogram_desc_t  *d;

    d = &ngx_http_tokenroute_histograms[h];
    hist = &m->sh->hist[h];

    for (i = 0; i < d->nbounds && v > d->bounds[i]; i++) {
        /* void */
    }

    (void) ngx_atomic_fetch_add(&hist->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&hist->sum, v);
}


/* ngx_http_tokenroute_reject(): a rejection of the five kinds counted */

void
ngx_http_tokenroute_metrics_reject(ngx_uint_t status, const char *code)
{
    ngx_uint_t                      i;
    ngx_http_tokenroute_reason_t   *rs;
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();
    if (m == NULL) {
        return;
    }

    rs = ngx_http_tokenroute_reasons;

    for (i = 0; rs[i].status; i++) {
        if (rs[i].status == status
            && (rs[i].code == NULL
                || (code && ngx_strcmp(rs[i].code, code) == 0)))
        {
            (void) ngx_atomic_fetch_add(&m->sh->rejections[i], 1);
            return;
        }
    }
}


void
ngx_http_tokenroute_metrics_batch(ngx_uint_t n)
{
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (m) {
        ngx_http_tokenroute_observe(m, NGX_HTTP_TOKENROUTE_H_BATCH, n);
    }
}


/* a command's callback: reply is hiredis's, NULL when none came */

void
ngx_http_tokenroute_metrics_redis_reply(ngx_msec_t sent, void *reply)
{
    redisReply                     *rr = reply;
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (rr == NULL || rr->type == REDIS_REPLY_ERROR) {
        if (m) {
            (void) ngx_atomic_fetch_add(&m->sh->redis_errors, 1);
        }

        return;
    }

    ngx_http_tokenroute_redis_answered = ngx_current_msec;

    if (m) {
        ngx_http_tokenroute_observe(m, NGX_HTTP_TOKENROUTE_H_REDIS,
                                    (uint64_t) (ngx_current_msec - sent)
                                    * 1000);
    }
}


/*
 * The connection is set up (1), or lost or given up (0).  A worker owns
 * its slot by pid: an old worker still draining after a reload leaves the
 * slot its successor took alone.
 */

void
ngx_http_tokenroute_metrics_redis_up(ngx_uint_t up)
{
    ngx_http_tokenroute_metrics_t      *m;
    ngx_http_tokenroute_worker_slot_t  *slot;

    if (up) {
        ngx_http_tokenroute_redis_answered = ngx_current_msec;
    }

    m = ngx_http_tokenroute_metrics_get();

    if (m == NULL || ngx_worker >= NGX_HTTP_TOKENROUTE_METRICS_WORKERS) {
        return;
    }

    slot = &m->sh->workers[ngx_worker];

    if (up) {
        if (ngx_http_tokenroute_redis_connects++) {
            (void) ngx_atomic_fetch_add(&m->sh->redis_reconnects, 1);
        }

        slot->pid = ngx_pid;
        slot->connected = 1;
        return;
    }

    if (slot->pid == (ngx_atomic_uint_t) ngx_pid) {
        slot->connected = 0;
    }
}


/*
 * A worker that exits gives its slot up, unless its successor took it
 * (a reload): a slot left behind would read as a connection down (or up)
 * forever when a reload lowers worker_processes.
 */

void
ngx_http_tokenroute_metrics_worker_exit(void)
{
    ngx_http_tokenroute_metrics_t      *m;
    ngx_http_tokenroute_worker_slot_t  *slot;

    m = ngx_http_tokenroute_metrics_get();

    if (m == NULL || ngx_worker >= NGX_HTTP_TOKENROUTE_METRICS_WORKERS) {
        return;
    }

    slot = &m->sh->workers[ngx_worker];

    if (ngx_atomic_cmp_set(&slot->pid, (ngx_atomic_uint_t) ngx_pid, 0)) {
        slot->connected = 0;
        slot->subscribed = 0;
    }
}


/* for tokenroute_health: when this worker last heard from Redis */

ngx_msec_t
ngx_http_tokenroute_metrics_redis_answered(void)
{
    return ngx_http_tokenroute_redis_answered;
}


void
ngx_http_tokenroute_metrics_journaled(void)
{
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (m) {
        (void) ngx_atomic_fetch_add(&m->sh->journal_writes, 1);
    }
}


void
ngx_http_tokenroute_metrics_replayed(ngx_uint_t n)
{
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (m) {
        (void) ngx_atomic_fetch_add(&m->sh->journal_replays, n);
    }
}


void
ngx_http_tokenroute_metrics_dead_letter(void)
{
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (m) {
        (void) ngx_atomic_fetch_add(&m->sh->dead_letters, 1);
    }
}


void
ngx_http_tokenroute_metrics_inval(ngx_uint_t what)
{
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (m && what < NGX_HTTP_TOKENROUTE_INVAL_N) {
        (void) ngx_atomic_fetch_add(&m->sh->inval[what], 1);
    }
}


void
ngx_http_tokenroute_metrics_lease(ngx_uint_t what)
{
    ngx_http_tokenroute_metrics_t  *m;

    m = ngx_http_tokenroute_metrics_get();

    if (m && what < NGX_HTTP_TOKENROUTE_LEASE_M_N) {
        (void) ngx_atomic_fetch_add(&m->sh->lease[what], 1);
    }
}


/*
 * The subscriber follows the worker's connection, which took the slot
 * first (ngx_http_tokenroute_metrics_redis_up()).
 */

void
ngx_http_tokenroute_metrics_inval_subscribed(ngx_uint_t up)
{
    ngx_http_tokenroute_metrics_t      *m;
    ngx_http_tokenroute_worker_slot_t  *slot;

    m = ngx_http_tokenroute_metrics_get();

    if (m == NULL || ngx_worker >= NGX_HTTP_TOKENROUTE_METRICS_WORKERS) {
        return;
    }

    slot = &m->sh->workers[ngx_worker];

    if (slot->pid == (ngx_atomic_uint_t) ngx_pid) {
        slot->subscribed = up;
    }
}
