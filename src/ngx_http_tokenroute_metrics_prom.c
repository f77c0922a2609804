
/*
 * Copyright (C) tokenroute authors
 *
 * The counters (ngx_http_tokenroute_metrics.c) as Prometheus text
 * exposition format 0.0.4, into buffers of the request's pool: every
 * family with its HELP and TYPE lines, histograms cumulative with _count
 * taken from the buckets read (so le="+Inf" equals it, whatever workers
 * add meanwhile).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_lease.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_metrics_prom.h"


/*
 * Room kept for the longest write: three labels of up to 256 bytes, each
 * escaped (twice as long), or the last block of families
 */
#define NGX_HTTP_TOKENROUTE_PROM_LINE  4096
#define NGX_HTTP_TOKENROUTE_PROM_BUF   16384


#define ngx_http_tokenroute_prom_nelts(a)  (sizeof(a) / sizeof((a)[0]))


/* a family of one series with no label */
typedef struct {
    const char                      *name;
    const char                      *type;
    const char                      *help;
    uint64_t                         value;
} ngx_http_tokenroute_prom_scalar_t;


typedef struct {
    ngx_http_request_t              *r;
    ngx_chain_t                     *out;
    ngx_chain_t                    **last;
    ngx_buf_t                       *b;
} ngx_http_tokenroute_prom_t;


static ngx_int_t ngx_http_tokenroute_prom_render(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m);
static ngx_int_t ngx_http_tokenroute_prom_models(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m);
static ngx_int_t ngx_http_tokenroute_prom_requests(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m);
static ngx_int_t ngx_http_tokenroute_prom_histogram(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m,
    ngx_uint_t h);
static ngx_int_t ngx_http_tokenroute_prom_inval(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m);
static ngx_int_t ngx_http_tokenroute_prom_lease(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m);
static ngx_int_t ngx_http_tokenroute_prom_scalars(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_prom_scalar_t *s,
    ngx_uint_t n);
static ngx_int_t ngx_http_tokenroute_prom_workers(
    ngx_http_tokenroute_prom_t *p, ngx_http_tokenroute_metrics_t *m,
    const char *name, const char *help, size_t offset);
static ngx_int_t ngx_http_tokenroute_prom_printf(
    ngx_http_tokenroute_prom_t *p, const char *fmt, ...);
static ngx_int_t ngx_http_tokenroute_prom_family(
    ngx_http_tokenroute_prom_t *p, const char *name, const char *type,
    const char *help);
static u_char *ngx_http_tokenroute_prom_room(ngx_http_tokenroute_prom_t *p);
static u_char *ngx_http_tokenroute_prom_escape(u_char *d, ngx_str_t *s);
static u_char *ngx_http_tokenroute_prom_seconds(u_char *d, uint64_t us);
static ngx_str_t *ngx_http_tokenroute_model_label(
    ngx_http_tokenroute_metrics_t *m, ngx_uint_t i, ngx_str_t *none);


static ngx_str_t  ngx_http_tokenroute_unknown = ngx_string("(unknown)");
static ngx_str_t  ngx_http_tokenroute_none = ngx_string("(none)");

static const char  *ngx_http_tokenroute_classes[] = {
    "2xx", "4xx", "5xx", "other"
};

static const char  *ngx_http_tokenroute_shapes[] = {
    "openai", "anthropic"
};


ngx_int_t
ngx_http_tokenroute_metrics_prom(ngx_http_request_t *r,
    ngx_http_tokenroute_metrics_t *m, ngx_chain_t **out)
{
    ngx_http_tokenroute_prom_t  p;

    ngx_memzero(&p, sizeof(ngx_http_tokenroute_prom_t));
    p.r = r;
    p.last = &p.out;

    if (ngx_http_tokenroute_prom_render(&p, m) != NGX_OK) {
        return NGX_ERROR;
    }

    *out = p.out;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_prom_render(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m)
{
    u_char                                *d;
    ngx_uint_t                             i, n;
    ngx_http_tokenroute_model_t           *models;
    ngx_http_tokenroute_reason_t          *rs;
    ngx_http_tokenroute_metrics_sh_t      *sh;
    ngx_http_tokenroute_journal_stats_t    js;

    ngx_http_tokenroute_prom_scalar_t  scalars[] = {
        { "tokenroute_redis_reconnects_total", "counter",
          "Redis connections set up again after a worker's first.", 0 },
        { "tokenroute_redis_errors_total", "counter",
          "Redis commands answered with an error, timed out or lost with "
          "their connection.", 0 },
        { "tokenroute_journal_entries", "gauge",
          "Settlements waiting in the journal for Redis.", 0 },
        { "tokenroute_journal_bytes", "gauge",
          "Bytes the journal's entries hold.", 0 },
        { "tokenroute_journal_capacity_bytes", "gauge",
          "The journal's zone, tokenroute_journal_size.", 0 },
        { "tokenroute_journal_writes_total", "counter",
          "Settlements written to the journal.", 0 },
        { "tokenroute_journal_replays_total", "counter",
          "Settlements taken from the journal to be sent again.", 0 },
        { "tokenroute_journal_lost_total", "counter",
          "Settlements lost: the journal was full.", 0 },
        { "tokenroute_dead_letters_total", "counter",
          "Settlements Redis rejected too often, moved to the dead-letter "
          "list.", 0 }
    };

    sh = m->sh;

    if (ngx_http_tokenroute_prom_requests(p, m) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_prom_family(p, "tokenroute_rejections_total",
            "counter", "Requests the gateway answered itself with a 401, "
            "402, 403, 429 or 503, by code and reason (the error code; "
            "\"other\": any other).")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rs = ngx_http_tokenroute_reasons;

    for (i = 0; rs[i].status; i++) {
        if (ngx_http_tokenroute_prom_printf(p,
                "tokenroute_rejections_total{code=\"%ui\",reason=\"%s\"} "
                "%uA\n", rs[i].status, rs[i].code ? rs[i].code : "other",
                sh->rejections[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_tokenroute_prom_models(p, m) != NGX_OK) {
        return NGX_ERROR;
    }

    /* cooldowns: read now, from the cooldown zone */

    models = m->trmcf->models.elts;
    n = 0;

    if (ngx_http_tokenroute_prom_family(p, "tokenroute_model_cooling",
            "gauge", "1 while the model cools down after failures or a "
            "429, skipped by fallback chains.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < sh->nmodels && i < m->trmcf->models.nelts; i++) {
        d = ngx_http_tokenroute_prom_room(p);
        if (d == NULL) {
            return NGX_ERROR;
        }

        d = ngx_cpymem(d, "tokenroute_model_cooling{model=\"",
                       sizeof("tokenroute_model_cooling{model=\"") - 1);
        d = ngx_http_tokenroute_prom_escape(d, &models[i].id);

        if (ngx_http_tokenroute_cooling(&models[i])) {
            n++;
            p->b->last = ngx_cpymem(d, "\"} 1\n", 5);

        } else {
            p->b->last = ngx_cpymem(d, "\"} 0\n", 5);
        }
    }

    if (ngx_http_tokenroute_prom_family(p, "tokenroute_cooldowns_active",
                                        "gauge", "Models cooling down now.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_prom_printf(p, "tokenroute_cooldowns_active %ui\n",
                                        n)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_TOKENROUTE_H_N; i++) {
        if (ngx_http_tokenroute_prom_histogram(p, m, i) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* Redis: a gauge per worker that ever connected */

    if (ngx_http_tokenroute_prom_workers(p, m, "tokenroute_redis_connected",
            "1 while the worker's Redis connection is up.",
            offsetof(ngx_http_tokenroute_worker_slot_t, connected))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (m->trmcf->invalidation
        && ngx_http_tokenroute_prom_inval(p, m) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (m->trmcf->lease && ngx_http_tokenroute_prom_lease(p, m) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_tokenroute_journal_stats(&js);

    scalars[0].value = sh->redis_reconnects;
    scalars[1].value = sh->redis_errors;
    scalars[2].value = js.entries;
    scalars[3].value = js.bytes;
    scalars[4].value = js.capacity;
    scalars[5].value = sh->journal_writes;
    scalars[6].value = sh->journal_replays;
    scalars[7].value = js.lost;
    scalars[8].value = sh->dead_letters;

    return ngx_http_tokenroute_prom_scalars(p, scalars,
               ngx_http_tokenroute_prom_nelts(scalars));
}


/* the invalidation subscribers (tokenroute_invalidation on): README */

static ngx_int_t
ngx_http_tokenroute_prom_inval(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m)
{
    ngx_http_tokenroute_metrics_sh_t   *sh;
    ngx_http_tokenroute_prom_scalar_t   ignored;

    sh = m->sh;

    if (ngx_http_tokenroute_prom_workers(p, m,
            "tokenroute_invalidation_subscribed",
            "1 while the worker is subscribed to key changes.",
            offsetof(ngx_http_tokenroute_worker_slot_t, subscribed))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_prom_family(p, "tokenroute_invalidations_total",
            "counter", "Key changes received, by each worker: of one key, "
            "or of all (\"*\", and every subscription).")
        != NGX_OK
        || ngx_http_tokenroute_prom_printf(p,
               "tokenroute_invalidations_total{scope=\"key\"} %uA\n"
               "tokenroute_invalidations_total{scope=\"all\"} %uA\n",
               sh->inval[NGX_HTTP_TOKENROUTE_INVAL_KEY],
               sh->inval[NGX_HTTP_TOKENROUTE_INVAL_ALL])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ignored.name = "tokenroute_invalidation_messages_ignored_total";
    ignored.type = "counter";
    ignored.help = "Messages on the channel that were neither a key hash "
                   "nor \"*\".";
    ignored.value = sh->inval[NGX_HTTP_TOKENROUTE_INVAL_IGNORED];

    return ngx_http_tokenroute_prom_scalars(p, &ignored, 1);
}


/* the leases (tokenroute_lease on): README */

static ngx_int_t
ngx_http_tokenroute_prom_lease(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m)
{
    ngx_uint_t         held;
    ngx_atomic_t      *n;

    ngx_http_tokenroute_prom_scalar_t  scalars[] = {
        { "tokenroute_leases_held", "gauge",
          "Keys whose lease this gateway holds now (all workers).", 0 },
        { "tokenroute_lease_renewals_total", "counter",
          "Lease renewals sent to Redis (a key's record read, its slice "
          "topped up).", 0 },
        { "tokenroute_lease_give_backs_total", "counter",
          "What was left of a slice given back to Redis.", 0 },
        { "tokenroute_lease_flushes_total", "counter",
          "Aggregates of leased requests settled or journaled.", 0 }
    };

    n = m->sh->lease;

    if (ngx_http_tokenroute_lease_held(&held) != NGX_OK) {
        held = 0;
    }

    scalars[0].value = held;
    scalars[1].value = n[NGX_HTTP_TOKENROUTE_LEASE_M_RENEW];
    scalars[2].value = n[NGX_HTTP_TOKENROUTE_LEASE_M_BACK];
    scalars[3].value = n[NGX_HTTP_TOKENROUTE_LEASE_M_FLUSH];

    if (ngx_http_tokenroute_prom_family(p,
            "tokenroute_lease_admissions_total", "counter",
            "Admissions: the verdict from a lease (no Redis), or by the "
            "admission script.")
        != NGX_OK
        || ngx_http_tokenroute_prom_printf(p,
               "tokenroute_lease_admissions_total{path=\"lease\"} %uA\n"
               "tokenroute_lease_admissions_total{path=\"exact\"} %uA\n",
               n[NGX_HTTP_TOKENROUTE_LEASE_M_LEASE],
               n[NGX_HTTP_TOKENROUTE_LEASE_M_EXACT])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tokenroute_prom_scalars(p, scalars,
               ngx_http_tokenroute_prom_nelts(scalars));
}


/* families of one unlabeled series each */

static ngx_int_t
ngx_http_tokenroute_prom_scalars(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_prom_scalar_t *s, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_http_tokenroute_prom_printf(p,
                "# HELP %s %s\n# TYPE %s %s\n%s %uL\n", s[i].name,
                s[i].help, s[i].name, s[i].type, s[i].name, s[i].value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a gauge per worker that ever connected, from its slot's field */

static ngx_int_t
ngx_http_tokenroute_prom_workers(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m, const char *name, const char *help,
    size_t offset)
{
    ngx_uint_t                          i;
    ngx_http_tokenroute_worker_slot_t  *w;

    if (ngx_http_tokenroute_prom_family(p, name, "gauge", help) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_TOKENROUTE_METRICS_WORKERS; i++) {
        w = &m->sh->workers[i];

        if (w->pid == 0) {
            continue;
        }

        if (ngx_http_tokenroute_prom_printf(p, "%s{worker=\"%ui\"} %uA\n",
                name, i, *(ngx_atomic_t *) ((u_char *) w + offset))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* lines where the next go: room for the longest, then formatted there */

static ngx_int_t
ngx_http_tokenroute_prom_printf(ngx_http_tokenroute_prom_t *p,
    const char *fmt, ...)
{
    u_char   *d;
    va_list   args;

    d = ngx_http_tokenroute_prom_room(p);
    if (d == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p->b->last = ngx_vslprintf(d, p->b->end, fmt, args);
    va_end(args);

    return NGX_OK;
}


/* tokenroute_requests_total: only the combinations seen */

static ngx_int_t
ngx_http_tokenroute_prom_requests(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m)
{
    u_char                        *d;
    ngx_str_t                     *asked, *served, *provider;
    ngx_uint_t                     a, s, shape, class, i, nm;
    ngx_atomic_uint_t              v;
    ngx_http_tokenroute_model_t   *models;

    if (ngx_http_tokenroute_prom_family(p, "tokenroute_requests_total",
            "counter", "Requests, by the model asked for, the model and "
            "provider of the last attempt, the client's API shape and "
            "the status class.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    nm = m->sh->nmodels;
    models = m->trmcf->models.elts;
    i = 0;

    for (a = 0; a <= nm; a++) {
        asked = ngx_http_tokenroute_model_label(m, a,
                                                &ngx_http_tokenroute_unknown);

        for (s = 0; s <= nm; s++) {
            served = ngx_http_tokenroute_model_label(m, s,
                                                  &ngx_http_tokenroute_none);
            provider = (s < nm) ? &models[s].provider->name
                                : &ngx_http_tokenroute_none;

            for (shape = 0; shape < NGX_HTTP_TOKENROUTE_METRICS_SHAPES;
                 shape++)
            {
                for (class = 0; class < NGX_HTTP_TOKENROUTE_METRICS_CLASSES;
                     class++)
                {
                    v = m->requests[i++];

                    if (v == 0) {
                        continue;
                    }

                    d = ngx_http_tokenroute_prom_room(p);
                    if (d == NULL) {
                        return NGX_ERROR;
                    }

                    d = ngx_cpymem(d, "tokenroute_requests_total{model=\"",
                            sizeof("tokenroute_requests_total{model=\"") - 1);
                    d = ngx_http_tokenroute_prom_escape(d, asked);
                    d = ngx_cpymem(d, "\",served_model=\"",
                                   sizeof("\",served_model=\"") - 1);
                    d = ngx_http_tokenroute_prom_escape(d, served);
                    d = ngx_cpymem(d, "\",provider=\"",
                                   sizeof("\",provider=\"") - 1);
                    d = ngx_http_tokenroute_prom_escape(d, provider);

                    p->b->last = ngx_slprintf(d, p->b->end,
                                     "\",api=\"%s\",status=\"%s\"} %uA\n",
                                     ngx_http_tokenroute_shapes[shape],
                                     ngx_http_tokenroute_classes[class], v);
                }
            }
        }
    }

    return NGX_OK;
}


/* the per-model counters: every configured model, and "(unknown)" */

static ngx_int_t
ngx_http_tokenroute_prom_models(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m)
{
    u_char                                *d;
    ngx_uint_t                             f, i, t;
    ngx_str_t                             *label;
    ngx_atomic_t                          *v;
    ngx_http_tokenroute_model_counters_t  *mc;

    static const struct {
        const char   *name;
        const char   *help;
        size_t        offset;
        const char   *type;
    } fields[] = {
        { "tokenroute_attempts_total",
          "Provider attempts, by the model asked for.",
          offsetof(ngx_http_tokenroute_model_counters_t, attempts), NULL },
        { "tokenroute_fallbacks_total",
          "Attempts after the first (the chain's next model), by the model "
          "asked for.",
          offsetof(ngx_http_tokenroute_model_counters_t, fallbacks), NULL },
        { "tokenroute_tokens_total",
          "Tokens charged, by the model that served and type: input "
          "(uncached), cached (cache reads), cache_write, output.",
          offsetof(ngx_http_tokenroute_model_counters_t, input), "input" },
        { NULL, NULL,
          offsetof(ngx_http_tokenroute_model_counters_t, cached), "cached" },
        { NULL, NULL,
          offsetof(ngx_http_tokenroute_model_counters_t, cache_write),
          "cache_write" },
        { NULL, NULL,
          offsetof(ngx_http_tokenroute_model_counters_t, output), "output" },
        { "tokenroute_cost_nano_usd_total",
          "Cost charged to clients, in nano-USD, by the model that served.",
          offsetof(ngx_http_tokenroute_model_counters_t, cost), NULL },
        { "tokenroute_estimated_requests_total",
          "Requests charged on usage the gateway estimated (none or less "
          "than produced was reported).",
          offsetof(ngx_http_tokenroute_model_counters_t, estimated), NULL },
        { "tokenroute_estimated_cost_nano_usd_total",
          "What those requests were charged, in nano-USD.",
          offsetof(ngx_http_tokenroute_model_counters_t, estimated_cost),
          NULL },
        { "tokenroute_unbilled_requests_total",
          "Requests whose provider answers probably cost the gateway "
          "without being charged (answers the client never got whole).",
          offsetof(ngx_http_tokenroute_model_counters_t, unbilled), NULL },
        { "tokenroute_unbilled_cost_nano_usd_total",
          "That cost, in nano-USD.",
          offsetof(ngx_http_tokenroute_model_counters_t, unbilled_cost),
          NULL },
        { NULL, NULL, 0, NULL }
    };

    for (f = 0; fields[f].offset || fields[f].name; f++) {

        if (fields[f].name
            && ngx_http_tokenroute_prom_family(p, fields[f].name, "counter",
                                               fields[f].help)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the name of the family the line belongs to */
        for (t = f; fields[t].name == NULL; t--) {
            /* void */
        }

        for (i = 0; i <= m->sh->nmodels; i++) {
            label = ngx_http_tokenroute_model_label(m, i,
                                                &ngx_http_tokenroute_unknown);
            mc = &m->models[i];
            v = (ngx_atomic_t *) ((u_char *) mc + fields[f].offset);

            d = ngx_http_tokenroute_prom_room(p);
            if (d == NULL) {
                return NGX_ERROR;
            }

            d = ngx_sprintf(d, "%s{model=\"", fields[t].name);
            d = ngx_http_tokenroute_prom_escape(d, label);

            if (fields[f].type) {
                d = ngx_sprintf(d, "\",type=\"%s", fields[f].type);
            }

            p->b->last = ngx_slprintf(d, p->b->end, "\"} %uA\n", *v);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_prom_histogram(ngx_http_tokenroute_prom_t *p,
    ngx_http_tokenroute_metrics_t *m, ngx_uint_t h)
{
    u_char                                *d;
    uint64_t                               sum;
    ngx_uint_t                             i;
    ngx_atomic_uint_t                      n;
    ngx_http_tokenroute_histogram_t       *hist;
    ngx_http_tokenroute_histogram_desc_t  *desc;

    desc = &ngx_http_tokenroute_histograms[h];
    hist = &m->sh->hist[h];

    if (ngx_http_tokenroute_prom_family(p, desc->name, "histogram",
                                        desc->help)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* cumulative, and _count from the buckets read: +Inf == _count */

    n = 0;

    for (i = 0; i <= desc->nbounds; i++) {
        n += hist->bucket[i];

        d = ngx_http_tokenroute_prom_room(p);
        if (d == NULL) {
            return NGX_ERROR;
        }

        d = ngx_sprintf(d, "%s_bucket{le=\"", desc->name);

        if (i == desc->nbounds) {
            d = ngx_cpymem(d, "+Inf", 4);

        } else if (desc->seconds) {
            d = ngx_http_tokenroute_prom_seconds(d, desc->bounds[i]);

        } else {
            d = ngx_sprintf(d, "%uL", desc->bounds[i]);
        }

        p->b->last = ngx_slprintf(d, p->b->end, "\"} %uA\n", n);
    }

    d = ngx_http_tokenroute_prom_room(p);
    if (d == NULL) {
        return NGX_ERROR;
    }

    sum = hist->sum;

    d = ngx_sprintf(d, "%s_sum ", desc->name);
    d = desc->seconds ? ngx_http_tokenroute_prom_seconds(d, sum)
                      : ngx_sprintf(d, "%uL", sum);

    p->b->last = ngx_slprintf(d, p->b->end, "\n%s_count %uA\n", desc->name, n);

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_prom_family(ngx_http_tokenroute_prom_t *p,
    const char *name, const char *type, const char *help)
{
    return ngx_http_tokenroute_prom_printf(p, "# HELP %s %s\n# TYPE %s %s\n",
                                           name, help, name, type);
}


/*
 * Where the next line goes: room for the longest line in the current
 * buffer, or a new one.
 */

static u_char *
ngx_http_tokenroute_prom_room(ngx_http_tokenroute_prom_t *p)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (p->b && p->b->end - p->b->last >= NGX_HTTP_TOKENROUTE_PROM_LINE) {
        return p->b->last;
    }

    b = ngx_create_temp_buf(p->r->pool, NGX_HTTP_TOKENROUTE_PROM_BUF);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(p->r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *p->last = cl;
    p->last = &cl->next;
    p->b = b;

    return b->last;
}


/* a label value: backslash, double quote and line feed escaped */

static u_char *
ngx_http_tokenroute_prom_escape(u_char *d, ngx_str_t *s)
{
    size_t   i, n;
    u_char   c;

    n = ngx_min(s->len, TOKENROUTE_MODEL_MAX_LEN);

    for (i = 0; i < n; i++) {
        c = s->data[i];

        if (c == '\\' || c == '"') {
            *d++ = '\\';
            *d++ = c;

        } else if (c == '\n') {
            *d++ = '\\';
            *d++ = 'n';

        } else {
            *d++ = c;
        }
    }

    return d;
}


/* microseconds as seconds, exactly: 1234 is 0.001234 */

static u_char *
ngx_http_tokenroute_prom_seconds(u_char *d, uint64_t us)
{
    return ngx_sprintf(d, "%uL.%06uL", us / 1000000, us % 1000000);
}


static ngx_str_t *
ngx_http_tokenroute_model_label(ngx_http_tokenroute_metrics_t *m,
    ngx_uint_t i, ngx_str_t *none)
{
    ngx_http_tokenroute_model_t  *models;

    if (i >= m->sh->nmodels || i >= m->trmcf->models.nelts) {
        return none;
    }

    models = m->trmcf->models.elts;

    return &models[i].id;
}
