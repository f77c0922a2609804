
/*
 * Copyright (C) tokenroute authors
 *
 * Fallback chains and cooldowns.  A model whose provider keeps failing
 * (or answered 429) is skipped for a while, counted across all workers in
 * shared memory, so that a quota event costs one failed attempt per
 * cooldown window rather than one per request.  The fleet shares them
 * through Redis (ngx_http_tokenroute_cooldown_fleet.c): the shared
 * memory is the local cache of what the fleet knows.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_models.h"


/*
 * Deadlines are wall-clock milliseconds: whole seconds would make a
 * "retry-after: 1" cool for anywhere between 0 and 1 s, depending on
 * where in the second the 429 arrived.
 */

typedef struct {
    ngx_uint_t                   failures;
    uint64_t                     until;
    uint64_t                     sent;     /* the deadline the fleet has */
    ngx_uint_t                   status;   /* what started the cooldown */
    int64_t                      wrr;      /* a deployment's current
                                              weight, smooth round robin */
} ngx_http_tokenroute_cooldown_node_t;


/*
 * crc: of the model ids in order, the table's identity.  A table is
 * freed when a reload drops it; its old workers, still finishing their
 * requests, find the crc changed and use it no more.
 */

typedef struct {
    uint32_t                              crc;
    ngx_uint_t                            nmodels;
    ngx_uint_t                            pending;  /* until > sent */
    uint64_t                              seen;     /* tr:cooldown:v */
    ngx_http_tokenroute_cooldown_node_t   nodes[1];
} ngx_http_tokenroute_cooldown_sh_t;


typedef struct {
    ngx_http_tokenroute_cooldown_sh_t    *sh;
    ngx_slab_pool_t                      *shpool;
    ngx_http_tokenroute_main_conf_t      *trmcf;
    uint32_t                              crc;
} ngx_http_tokenroute_cooldown_t;


static ngx_int_t ngx_http_tokenroute_cooldown_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_tokenroute_cooldown_carry(
    ngx_http_tokenroute_cooldown_t *cd, ngx_http_tokenroute_cooldown_t *ocd);
static ngx_http_tokenroute_cooldown_sh_t *ngx_http_tokenroute_cooldown_sh(
    void);


static ngx_http_tokenroute_cooldown_t  *ngx_http_tokenroute_cooldowns;

static ngx_uint_t  ngx_http_tokenroute_default_fallback_on[] = {
    401, 403, 408, 429, 500, 502, 503, 504, 529
};


char *
ngx_http_tokenroute_fallback_on_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t   i, *code;

    if (trmcf->fallback_on != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    trmcf->fallback_on = ngx_array_create(cf->pool, cf->args->nelts,
                                          sizeof(ngx_uint_t));
    if (trmcf->fallback_on == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 3 && ngx_strncmp(value[i].data, "off", 3) == 0) {
            continue;
        }

        n = ngx_atoi(value[i].data, value[i].len);
        if (n < 400 || n > 599) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        code = ngx_array_push(trmcf->fallback_on);
        if (code == NULL) {
            return NGX_CONF_ERROR;
        }

        *code = n;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_tokenroute_cooldown_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (trmcf->cooldown != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    trmcf->cooldown = ngx_parse_time(&value[1], 1);
    if (trmcf->cooldown == (time_t) NGX_ERROR
        || trmcf->cooldown > NGX_HTTP_TOKENROUTE_COOLDOWN_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cooldown \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (value[2].len <= 9
            || ngx_strncmp(value[2].data, "failures=", 9) != 0)
        {
            goto invalid;
        }

        n = ngx_atoi(value[2].data + 9, value[2].len - 9);
        if (n < 1) {
            goto invalid;
        }

        trmcf->cooldown_failures = n;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[2]);

    return NGX_CONF_ERROR;
}


/*
 * fallback=a,b names models that may be declared later: resolved once
 * the whole http block is read.
 */

ngx_int_t
ngx_http_tokenroute_resolve_chains(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    u_char                        *p, *last, *comma;
    ngx_uint_t                     i, *code, n;
    ngx_http_tokenroute_model_t   *m, *f, **fp;

    if (trmcf->fallback_on == NGX_CONF_UNSET_PTR) {
        n = sizeof(ngx_http_tokenroute_default_fallback_on)
            / sizeof(ngx_uint_t);

        trmcf->fallback_on = ngx_array_create(cf->pool, n,
                                              sizeof(ngx_uint_t));
        if (trmcf->fallback_on == NULL) {
            return NGX_ERROR;
        }

        code = ngx_array_push_n(trmcf->fallback_on, n);
        if (code == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(code, ngx_http_tokenroute_default_fallback_on,
                   sizeof(ngx_http_tokenroute_default_fallback_on));
    }

    m = trmcf->models.elts;

    for (i = 0; i < trmcf->models.nelts; i++) {
        m[i].index = i;

        if (m[i].fallback.len == 0) {
            continue;
        }

        m[i].chain = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_tokenroute_model_t *));
        if (m[i].chain == NULL) {
            return NGX_ERROR;
        }

        p = m[i].fallback.data;
        last = p + m[i].fallback.len;

        while (p < last) {
            comma = ngx_strlchr(p, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            f = ngx_http_tokenroute_find_model(trmcf, p, comma - p);

            if (f == NULL || f == &m[i] || f->deployment) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "model \"%V\": fallback \"%*s\" is %s",
                              &m[i].id, (size_t) (comma - p), p,
                              f == NULL ? "not a model"
                              : f->deployment ? "a deployment, not a model"
                              : "the model itself");
                return NGX_ERROR;
            }

            if (m[i].chain->nelts == TOKENROUTE_CHAIN_MAX) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "model \"%V\": more than %d fallbacks",
                              &m[i].id, TOKENROUTE_CHAIN_MAX);
                return NGX_ERROR;
            }

            fp = ngx_array_push(m[i].chain);
            if (fp == NULL) {
                return NGX_ERROR;
            }

            *fp = f;

            p = comma + 1;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_cooldown_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    size_t                           size;
    ngx_str_t                        name;
    ngx_uint_t                       n;
    ngx_shm_zone_t                  *zone;
    ngx_http_tokenroute_cooldown_t  *cd;

    cd = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_cooldown_t));
    if (cd == NULL) {
        return NGX_ERROR;
    }

    cd->trmcf = trmcf;

    /*
     * The name changes with the layout of the shared state: a reload
     * into a build whose layout differs starts from a zone of its own,
     * never reads the old one as its own.
     */
    ngx_str_set(&name, "tokenroute_cooldown4");

    /*
     * A node per model: room for two tables (a reload that changes the
     * ids builds the new one before it frees the old) and the slab's own
     * pages, in steps of 64K, so that a reload that keeps about as many
     * models keeps the zone (a zone of another size starts empty).
     */
    n = ngx_max(trmcf->models.nelts, 1);
    size = sizeof(ngx_http_tokenroute_cooldown_sh_t)
           + (n - 1) * sizeof(ngx_http_tokenroute_cooldown_node_t);
    size = 2 * ngx_align(size, ngx_pagesize) + 32 * 1024;
    size = ngx_align(size, 64 * 1024);

    zone = ngx_shared_memory_add(cf, &name, size,
                                 &ngx_http_tokenroute_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_tokenroute_cooldown_init_zone;
    zone->data = cd;

    trmcf->cooldown_zone = zone;

    ngx_http_tokenroute_cooldowns = cd;

    return NGX_OK;
}


/*
 * A reload with the same model ids in the same order keeps the table;
 * any other gets a new one, where models whose id it had keep their
 * cooldowns, and the old table is freed (its old workers check the crc).
 */

static ngx_int_t
ngx_http_tokenroute_cooldown_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_tokenroute_cooldown_t  *ocd = data;

    size_t                               size;
    uint32_t                             crc;
    ngx_uint_t                           i, n;
    ngx_http_tokenroute_model_t         *m;
    ngx_http_tokenroute_cooldown_t      *cd;
    ngx_http_tokenroute_cooldown_sh_t   *old, *orphan;

    cd = shm_zone->data;
    cd->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    m = cd->trmcf->models.elts;

    ngx_crc32_init(crc);

    for (i = 0; i < cd->trmcf->models.nelts; i++) {
        ngx_crc32_update(&crc, m[i].id.data, m[i].id.len);
        ngx_crc32_update(&crc, (u_char *) "\n", 1);
    }

    ngx_crc32_final(crc);

    cd->crc = crc;

    old = NULL;

    if (ocd && ocd->sh && ocd->sh->crc == ocd->crc) {
        old = ocd->sh;

        if (ocd->crc == crc && old->nmodels == cd->trmcf->models.nelts) {
            cd->sh = old;

            /* the weights may have changed: the rotation starts afresh */

            ngx_shmtx_lock(&cd->shpool->mutex);

            for (i = 0; i < old->nmodels; i++) {
                old->nodes[i].wrr = 0;
            }

            ngx_shmtx_unlock(&cd->shpool->mutex);

            return NGX_OK;
        }
    }

    n = ngx_max(cd->trmcf->models.nelts, 1);
    size = sizeof(ngx_http_tokenroute_cooldown_sh_t)
           + (n - 1) * sizeof(ngx_http_tokenroute_cooldown_node_t);

    ngx_shmtx_lock(&cd->shpool->mutex);

    cd->sh = ngx_slab_calloc_locked(cd->shpool, size);
    if (cd->sh == NULL) {
        ngx_shmtx_unlock(&cd->shpool->mutex);
        return NGX_ERROR;
    }

    cd->sh->crc = crc;
    cd->sh->nmodels = cd->trmcf->models.nelts;

    /* seen stays 0: the new models learn the fleet's at once */

    if (old) {
        ngx_http_tokenroute_cooldown_carry(cd, ocd);

        /* its workers stop at once; freed memory is never theirs again */
        old->crc = ~ocd->crc;
        old->nmodels = 0;
        ngx_slab_free_locked(cd->shpool, old);
    }

    /* a table a failed reload made, which no worker ever used */

    orphan = cd->shpool->data;

    if (orphan && orphan != old) {
        orphan->nmodels = 0;
        ngx_slab_free_locked(cd->shpool, orphan);
    }

    cd->shpool->data = cd->sh;

    ngx_shmtx_unlock(&cd->shpool->mutex);

    return NGX_OK;
}


/* the cooldowns of the models both tables have, found by id */

static void
ngx_http_tokenroute_cooldown_carry(ngx_http_tokenroute_cooldown_t *cd,
    ngx_http_tokenroute_cooldown_t *ocd)
{
    ngx_uint_t                     i, j;
    ngx_http_tokenroute_model_t   *m, *om;

    m = cd->trmcf->models.elts;
    om = ocd->trmcf->models.elts;

    for (i = 0; i < cd->trmcf->models.nelts; i++) {
        for (j = 0; j < ngx_min(ocd->trmcf->models.nelts, ocd->sh->nmodels);
             j++)
        {
            if (m[i].id.len == om[j].id.len
                && ngx_strncmp(m[i].id.data, om[j].id.data, m[i].id.len)
                   == 0)
            {
                cd->sh->nodes[i] = ocd->sh->nodes[j];
                cd->sh->nodes[i].wrr = 0;
                break;
            }
        }
    }

    cd->sh->pending = ocd->sh->pending;
}


/*
 * This configuration's table, or NULL once a reload freed it (a racy
 * read is fine: writers check again under the mutex).
 */

static ngx_http_tokenroute_cooldown_sh_t *
ngx_http_tokenroute_cooldown_sh(void)
{
    ngx_http_tokenroute_cooldown_t  *cd;

    cd = ngx_http_tokenroute_cooldowns;

    if (cd == NULL || cd->sh == NULL || cd->sh->crc != cd->crc) {
        return NULL;
    }

    return cd->sh;
}


ngx_int_t
ngx_http_tokenroute_cooling(ngx_http_tokenroute_model_t *m)
{
    ngx_http_tokenroute_cooldown_t  *cd;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh() == NULL
        || m->index >= cd->sh->nmodels)
    {
        return 0;
    }

    /* a racy read is fine: 64-bit words are written atomically here */
    return cd->sh->nodes[m->index].until > ngx_http_tokenroute_now_ms();
}


/* returns 1 when a cooldown started, or was extended: the fleet's news */

ngx_uint_t
ngx_http_tokenroute_cooldown_failure(ngx_http_tokenroute_model_t *m,
    ngx_uint_t status, time_t retry_after)
{
    time_t                                window;
    uint64_t                              now, until;
    ngx_uint_t                            later;
    ngx_http_tokenroute_cooldown_t       *cd;
    ngx_http_tokenroute_cooldown_node_t  *node;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh() == NULL
        || m->index >= cd->sh->nmodels)
    {
        return 0;
    }

    node = &cd->sh->nodes[m->index];
    now = ngx_http_tokenroute_now_ms();
    window = 0;
    later = 0;

    ngx_shmtx_lock(&cd->shpool->mutex);

    if (cd->sh->crc != cd->crc) {
        /* a reload freed it meanwhile */
        ngx_shmtx_unlock(&cd->shpool->mutex);
        return 0;
    }

    node->failures++;

    /* a quota event is known at once; other failures must repeat */

    if (status == 429) {
        window = (retry_after > 0) ? ngx_min(retry_after,
                                          NGX_HTTP_TOKENROUTE_COOLDOWN_MAX)
                                   : cd->trmcf->cooldown;

    } else if (node->failures >= cd->trmcf->cooldown_failures) {
        window = cd->trmcf->cooldown;
    }

    until = window ? now + (uint64_t) window * 1000 : 0;

    if (until > node->until) {
        node->until = until;
        node->failures = 0;
        node->status = status;
        cd->sh->pending = 1;
        later = 1;
    }

    ngx_shmtx_unlock(&cd->shpool->mutex);

    if (window) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "tokenroute: model \"%V\" cools down for %T s after "
                      "status %ui", &m->id, window, status);
    }

    return later;
}


void
ngx_http_tokenroute_cooldown_success(ngx_http_tokenroute_model_t *m)
{
    ngx_http_tokenroute_cooldown_t  *cd;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh() == NULL
        || m->index >= cd->sh->nmodels)
    {
        return;
    }

    if (cd->sh->nodes[m->index].failures) {
        ngx_shmtx_lock(&cd->shpool->mutex);

        if (cd->sh->crc == cd->crc) {
            cd->sh->nodes[m->index].failures = 0;
        }

        ngx_shmtx_unlock(&cd->shpool->mutex);
    }
}


/*
 * The cooldowns the fleet does not have yet (at most pub's size, the
 * rest stays pending), marked as sent: another call does not take them
 * again while this one is in Redis.
 */

void
ngx_http_tokenroute_cooldown_take(ngx_http_tokenroute_cooldown_pub_t *pub,
    uint64_t now)
{
    ngx_uint_t                            i, more;
    ngx_http_tokenroute_cooldown_t       *cd;
    ngx_http_tokenroute_cooldown_node_t  *node;

    pub->n = 0;

    cd = ngx_http_tokenroute_cooldowns;

    /* a racy read is fine: a cooldown missed now goes with the next */

    if (ngx_http_tokenroute_cooldown_sh() == NULL || !cd->sh->pending) {
        return;
    }

    more = 0;

    ngx_shmtx_lock(&cd->shpool->mutex);

    if (cd->sh->crc != cd->crc) {
        /* a reload freed it meanwhile */
        ngx_shmtx_unlock(&cd->shpool->mutex);
        return;
    }

    for (i = 0; i < cd->sh->nmodels; i++) {
        node = &cd->sh->nodes[i];

        if (node->until <= node->sent || node->until <= now) {
            continue;
        }

        if (pub->n == NGX_HTTP_TOKENROUTE_COOLDOWN_PUB_MAX) {
            more = 1;
            break;
        }

        pub->index[pub->n] = i;
        pub->until[pub->n] = node->until;
        pub->status[pub->n] = node->status;
        pub->n++;

        node->sent = node->until;
    }

    cd->sh->pending = more;

    ngx_shmtx_unlock(&cd->shpool->mutex);
}


/* the call that took them failed: they are pending again */

void
ngx_http_tokenroute_cooldown_untake(ngx_http_tokenroute_cooldown_pub_t *pub)
{
    ngx_uint_t                            i;
    ngx_http_tokenroute_cooldown_t       *cd;
    ngx_http_tokenroute_cooldown_node_t  *node;

    cd = ngx_http_tokenroute_cooldowns;

    if (pub->n == 0 || ngx_http_tokenroute_cooldown_sh() == NULL) {
        return;
    }

    ngx_shmtx_lock(&cd->shpool->mutex);

    if (cd->sh->crc != cd->crc) {
        /* a reload freed it meanwhile */
        ngx_shmtx_unlock(&cd->shpool->mutex);
        return;
    }

    for (i = 0; i < pub->n; i++) {
        if (pub->index[i] >= cd->sh->nmodels) {
            continue;
        }

        node = &cd->sh->nodes[pub->index[i]];

        /* unless a later one went since, or the fleet told us about it */

        if (node->sent == pub->until[i]) {
            node->sent = 0;
            cd->sh->pending = 1;
        }
    }

    ngx_shmtx_unlock(&cd->shpool->mutex);
}


/*
 * A cooldown the fleet has: a later deadline than ours wins.  It is not
 * published back.  Returns 1 when it extended ours.
 */

ngx_uint_t
ngx_http_tokenroute_cooldown_learn(ngx_http_tokenroute_model_t *m,
    uint64_t until, ngx_uint_t status)
{
    ngx_uint_t                            later;
    ngx_http_tokenroute_cooldown_t       *cd;
    ngx_http_tokenroute_cooldown_node_t  *node;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh() == NULL
        || m->index >= cd->sh->nmodels)
    {
        return 0;
    }

    node = &cd->sh->nodes[m->index];

    ngx_shmtx_lock(&cd->shpool->mutex);

    if (cd->sh->crc != cd->crc) {
        /* a reload freed it meanwhile */
        ngx_shmtx_unlock(&cd->shpool->mutex);
        return 0;
    }

    later = (until > node->until);

    if (later) {
        node->until = until;
        node->failures = 0;
        node->status = status;
    }

    if (until > node->sent) {
        node->sent = until;
    }

    ngx_shmtx_unlock(&cd->shpool->mutex);

    return later;
}


/* the version of the fleet's cooldowns this nginx has (0: none yet) */

uint64_t
ngx_http_tokenroute_cooldown_seen(void)
{
    ngx_http_tokenroute_cooldown_t  *cd;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh() == NULL) {
        return 0;
    }

    return cd->sh->seen;
}


void
ngx_http_tokenroute_cooldown_set_seen(uint64_t version)
{
    ngx_http_tokenroute_cooldown_t  *cd;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh()) {
        /* a 64-bit word: written atomically, as "until" is */
        cd->sh->seen = version;
    }
}


uint64_t
ngx_http_tokenroute_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * Smooth weighted round robin (nginx's upstream one) among the
 * deployments of one priority that are not cooling: each adds its weight
 * to its current weight, the largest is picked and loses the group's
 * total.  In shared memory, so all workers take turns in one rotation.
 * Returns the index in group, or n when all of them cool.
 */

ngx_uint_t
ngx_http_tokenroute_cooldown_pick(ngx_http_tokenroute_model_t **group,
    ngx_uint_t n, ngx_uint_t commit)
{
    int64_t                               total, wrr, bwrr;
    uint64_t                              now;
    ngx_uint_t                            k, best;
    ngx_http_tokenroute_cooldown_t       *cd;
    ngx_http_tokenroute_cooldown_node_t  *node, *bnode;

    cd = ngx_http_tokenroute_cooldowns;

    if (ngx_http_tokenroute_cooldown_sh() == NULL) {
        /* no table (a reload freed it): the first that does not cool */

        for (k = 0; k < n; k++) {
            if (!ngx_http_tokenroute_cooling(group[k])) {
                return k;
            }
        }

        return n;
    }

    now = ngx_http_tokenroute_now_ms();
    total = 0;
    best = n;
    bnode = NULL;
    bwrr = 0;

    ngx_shmtx_lock(&cd->shpool->mutex);

    if (cd->sh->crc != cd->crc) {
        ngx_shmtx_unlock(&cd->shpool->mutex);
        return 0;
    }

    for (k = 0; k < n; k++) {
        if (group[k]->index >= cd->sh->nmodels) {
            continue;
        }

        node = &cd->sh->nodes[group[k]->index];

        if (node->until > now) {
            continue;
        }

        wrr = node->wrr + group[k]->weight;
        total += group[k]->weight;

        if (commit) {
            node->wrr = wrr;
        }

        if (bnode == NULL || wrr > bwrr) {
            bnode = node;
            bwrr = wrr;
            best = k;
        }
    }

    if (bnode && commit) {
        bnode->wrr -= total;
    }

    ngx_shmtx_unlock(&cd->shpool->mutex);

    return best;
}
