
/*
 * Copyright (C) tokenroute authors
 *
 * Vertex AI's OAuth2 access token (ngx_http_tokenroute_vertex_token.h).
 *
 * The shared zone has a slot per service account (by the SHA-256 of its
 * key file's fields, so a key rotated on reload is not served the old
 * key's token): the token, its expiry, and the fetch under way.  A
 * request that finds no fresh token either claims the fetch (for the
 * whole nginx: one at a time) and starts a subrequest to the token
 * location, which proxies the signed assertion to token_uri; or waits,
 * polling the zone under a timer, while another request fetches; or
 * uses the token it finds if that is still valid.  Every wait is
 * bounded: a fetch is claimed for NGX_HTTP_TOKENROUTE_VERTEX_CLAIM
 * seconds at most, longer than the token location's proxy timeouts.  A
 * failed fetch fails the attempts without a valid token for
 * NGX_HTTP_TOKENROUTE_VERTEX_BACKOFF seconds (they fall back), then the
 * next request tries again.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_provider_vertex.h"
#include "ngx_http_tokenroute_vertex_token.h"
#include "tokenroute_jwt.h"


#define NGX_HTTP_TOKENROUTE_VERTEX_SLOTS    16
#define NGX_HTTP_TOKENROUTE_VERTEX_REFRESH  300   /* s left: fetch anew */
#define NGX_HTTP_TOKENROUTE_VERTEX_MARGIN   10    /* s left: not used */
#define NGX_HTTP_TOKENROUTE_VERTEX_CLAIM    15    /* s a fetch may take */
#define NGX_HTTP_TOKENROUTE_VERTEX_BACKOFF  2     /* s after a failure */
#define NGX_HTTP_TOKENROUTE_VERTEX_POLL     10    /* ms between looks */


typedef struct {
    u_char                       id[NGX_HTTP_TOKENROUTE_VERTEX_ID_LEN];
    time_t                       expires;       /* 0: no token */
    time_t                       refresh;       /* s left: fetch anew */
    time_t                       fetch_until;   /* a fetch is under way */
    time_t                       failed_until;  /* the last one failed */
    time_t                       used;
    ngx_uint_t                   seq;           /* the fetch's */
    size_t                       len;
    u_char                       token[TOKENROUTE_OAUTH_TOKEN_MAX];
} ngx_http_tokenroute_vertex_slot_t;


typedef struct {
    ngx_uint_t                           seq;
    ngx_http_tokenroute_vertex_slot_t
                               slots[NGX_HTTP_TOKENROUTE_VERTEX_SLOTS];
} ngx_http_tokenroute_vertex_shm_t;


/* a request's part in it, in its pool (found by its cleanup) */
typedef struct {
    ngx_http_request_t                  *request;
    ngx_http_tokenroute_vertex_conf_t   *vcf;    /* of the fetch */
    ngx_str_t                            form;
    ngx_event_t                          wait;
    ngx_uint_t                           seq;    /* a claimed fetch */
    unsigned                             fetching:1;
    unsigned                             background:1;
    unsigned                             claimed:1;  /* once a request */
} ngx_http_tokenroute_vertex_req_t;


typedef enum {
    NGX_HTTP_TOKENROUTE_VERTEX_USE = 0,
    NGX_HTTP_TOKENROUTE_VERTEX_WAIT,
    NGX_HTTP_TOKENROUTE_VERTEX_FETCH,
    NGX_HTTP_TOKENROUTE_VERTEX_RENEW,     /* USE, and FETCH in background */
    NGX_HTTP_TOKENROUTE_VERTEX_NONE
} ngx_http_tokenroute_vertex_look_e;


static ngx_int_t ngx_http_tokenroute_vertex_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_http_tokenroute_vertex_req_t *ngx_http_tokenroute_vertex_req(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_tokenroute_vertex_cleanup(void *data);
static ngx_http_tokenroute_vertex_look_e ngx_http_tokenroute_vertex_look(
    ngx_http_request_t *r, ngx_http_tokenroute_vertex_conf_t *vcf,
    ngx_http_tokenroute_vertex_req_t *vr, ngx_str_t *auth);
static ngx_http_tokenroute_vertex_slot_t *ngx_http_tokenroute_vertex_slot(
    ngx_http_tokenroute_vertex_shm_t *shm, u_char *id, ngx_uint_t create);
static ngx_int_t ngx_http_tokenroute_vertex_fetch(ngx_http_request_t *r,
    ngx_http_tokenroute_vertex_req_t *vr);
static ngx_int_t ngx_http_tokenroute_vertex_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_tokenroute_vertex_release(
    ngx_http_tokenroute_vertex_req_t *vr, u_char *token, size_t len,
    time_t expires_in);
static void ngx_http_tokenroute_vertex_wake(ngx_event_t *ev);


ngx_shm_zone_t *
ngx_http_tokenroute_vertex_zone(ngx_conf_t *cf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    ngx_str_set(&name, "tokenroute_vertex_tokens");

    zone = ngx_shared_memory_add(cf, &name,
                                 sizeof(ngx_http_tokenroute_vertex_shm_t)
                                 + 8 * ngx_pagesize,
                                 &ngx_http_tokenroute_module);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_tokenroute_vertex_init_zone;

    return zone;
}


static ngx_int_t
ngx_http_tokenroute_vertex_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                   *shpool;
    ngx_http_tokenroute_vertex_shm_t  *shm;

    if (data) {
        /* a reload: the tokens are kept, each under its key's id */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    shm = ngx_slab_calloc(shpool, sizeof(ngx_http_tokenroute_vertex_shm_t));
    if (shm == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shm;
    shm_zone->data = shm;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_vertex_ready(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_str_t                           auth;
    ngx_http_tokenroute_vertex_req_t   *vr;
    ngx_http_tokenroute_vertex_conf_t  *vcf;

    if (ctx->upstream_authorization.len) {
        return NGX_OK;
    }

    vr = ngx_http_tokenroute_vertex_req(r, 1);
    if (vr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if ((vr->fetching && !vr->background) || vr->wait.timer_set) {
        /* woken before its time: the subrequest or the timer wakes it */
        return NGX_AGAIN;
    }

    vcf = ctx->model->provider->type_conf;

    switch (ngx_http_tokenroute_vertex_look(r, vcf, vr, &auth)) {

    case NGX_HTTP_TOKENROUTE_VERTEX_USE:
        ctx->upstream_authorization = auth;
        vr->claimed = 0;
        return NGX_OK;

    case NGX_HTTP_TOKENROUTE_VERTEX_WAIT:
        ngx_add_timer(&vr->wait, NGX_HTTP_TOKENROUTE_VERTEX_POLL);

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_AGAIN;

    case NGX_HTTP_TOKENROUTE_VERTEX_FETCH:
        vr->vcf = vcf;

        if (ngx_http_tokenroute_vertex_fetch(r, vr) != NGX_OK) {
            ngx_http_tokenroute_vertex_release(vr, NULL, 0, 0);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_AGAIN;

    case NGX_HTTP_TOKENROUTE_VERTEX_RENEW:
        /*
         * the token is still good: this request goes on with it, the
         * next one is fetched by a background subrequest; vr->claimed
         * stays (one fetch a request)
         */

        ctx->upstream_authorization = auth;
        vr->vcf = vcf;
        vr->background = 1;

        if (ngx_http_tokenroute_vertex_fetch(r, vr) != NGX_OK) {
            vr->background = 0;
            ngx_http_tokenroute_vertex_release(vr, NULL, 0, 0);
        }

        return NGX_OK;

    default: /* NGX_HTTP_TOKENROUTE_VERTEX_NONE */
        if (vr->seq && !vr->fetching) {
            /* claimed, then out of memory: the claim given up */
            vr->vcf = vcf;
            ngx_http_tokenroute_vertex_release(vr, NULL, 0, -1);
        }

        vr->claimed = 0;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: provider \"%V\" has no OAuth2 token: "
                      "its token endpoint failed (the next try in %d s "
                      "at most)", &ctx->model->provider->name,
                      NGX_HTTP_TOKENROUTE_VERTEX_BACKOFF);

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }
}


static ngx_http_tokenroute_vertex_req_t *
ngx_http_tokenroute_vertex_req(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_tokenroute_vertex_req_t  *vr;

    /* subrequests share their main request's pool */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_tokenroute_vertex_cleanup) {
            return cln->data;
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_tokenroute_vertex_req_t));
    if (cln == NULL) {
        return NULL;
    }

    vr = cln->data;
    ngx_memzero(vr, sizeof(ngx_http_tokenroute_vertex_req_t));

    vr->request = r;
    vr->wait.handler = ngx_http_tokenroute_vertex_wake;
    vr->wait.data = r;
    vr->wait.log = r->connection->log;
    vr->wait.cancelable = 1;

    cln->handler = ngx_http_tokenroute_vertex_cleanup;

    return vr;
}


static void
ngx_http_tokenroute_vertex_cleanup(void *data)
{
    ngx_http_tokenroute_vertex_req_t  *vr = data;

    if (vr->wait.timer_set) {
        ngx_del_timer(&vr->wait);
    }

    /* a request gone while it fetched: the next one may claim at once */

    if (vr->seq) {
        ngx_http_tokenroute_vertex_release(vr, NULL, 0, -1);
    }
}


static ngx_http_tokenroute_vertex_look_e
ngx_http_tokenroute_vertex_look(ngx_http_request_t *r,
    ngx_http_tokenroute_vertex_conf_t *vcf,
    ngx_http_tokenroute_vertex_req_t *vr, ngx_str_t *auth)
{
    time_t                              now;
    u_char                             *p;
    ngx_uint_t                          usable;
    ngx_slab_pool_t                    *shpool;
    ngx_http_tokenroute_vertex_shm_t   *shm;
    ngx_http_tokenroute_vertex_look_e   look;
    ngx_http_tokenroute_vertex_slot_t  *slot;

    shpool = (ngx_slab_pool_t *) vcf->zone->shm.addr;
    shm = vcf->zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    slot = ngx_http_tokenroute_vertex_slot(shm, vcf->id, 1);

    usable = (slot->len
              && slot->expires > now + NGX_HTTP_TOKENROUTE_VERTEX_MARGIN);

    if (usable && slot->expires - now > slot->refresh) {
        look = NGX_HTTP_TOKENROUTE_VERTEX_USE;

    } else if (slot->fetch_until > now) {
        look = usable ? NGX_HTTP_TOKENROUTE_VERTEX_USE
                      : NGX_HTTP_TOKENROUTE_VERTEX_WAIT;

    } else if (slot->failed_until > now || vr->claimed) {
        look = usable ? NGX_HTTP_TOKENROUTE_VERTEX_USE
                      : NGX_HTTP_TOKENROUTE_VERTEX_NONE;

    } else {
        /* the whole nginx's one fetch, this request's */
        slot->fetch_until = now + NGX_HTTP_TOKENROUTE_VERTEX_CLAIM;
        slot->seq = ++shm->seq;
        vr->seq = slot->seq;
        vr->claimed = 1;
        look = usable ? NGX_HTTP_TOKENROUTE_VERTEX_RENEW
                      : NGX_HTTP_TOKENROUTE_VERTEX_FETCH;
    }

    if (look == NGX_HTTP_TOKENROUTE_VERTEX_USE
        || look == NGX_HTTP_TOKENROUTE_VERTEX_RENEW)
    {
        slot->used = now;

        auth->len = sizeof("Bearer ") - 1 + slot->len;
        auth->data = ngx_pnalloc(r->pool, auth->len);

        if (auth->data == NULL) {
            look = NGX_HTTP_TOKENROUTE_VERTEX_NONE;

        } else {
            p = ngx_cpymem(auth->data, "Bearer ", sizeof("Bearer ") - 1);
            ngx_memcpy(p, slot->token, slot->len);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute vertex: token look %d, usable %ui",
                   (int) look, usable);

    return look;
}


/* the slot of the key id; a new one takes the least recently used */

static ngx_http_tokenroute_vertex_slot_t *
ngx_http_tokenroute_vertex_slot(ngx_http_tokenroute_vertex_shm_t *shm,
    u_char *id, ngx_uint_t create)
{
    ngx_uint_t                          i;
    ngx_http_tokenroute_vertex_slot_t  *s, *old;

    old = NULL;

    for (i = 0; i < NGX_HTTP_TOKENROUTE_VERTEX_SLOTS; i++) {
        s = &shm->slots[i];

        if (ngx_memcmp(s->id, id, NGX_HTTP_TOKENROUTE_VERTEX_ID_LEN) == 0) {
            return s;
        }

        if (old == NULL || s->used < old->used) {
            old = s;
        }
    }

    if (!create) {
        return NULL;
    }

    ngx_memzero(old, sizeof(ngx_http_tokenroute_vertex_slot_t));
    ngx_memcpy(old->id, id, NGX_HTTP_TOKENROUTE_VERTEX_ID_LEN);
    old->used = ngx_time();

    return old;
}


/* the signed assertion, posted by a subrequest to the token location */

static ngx_int_t
ngx_http_tokenroute_vertex_fetch(ngx_http_request_t *r,
    ngx_http_tokenroute_vertex_req_t *vr)
{
    int                                 n;
    char                               *jwt;
    size_t                              len;
    ngx_str_t                           uri;
    ngx_http_request_t                 *sr;
    ngx_http_post_subrequest_t         *ps;
    ngx_http_tokenroute_vertex_conf_t  *vcf;
    char                                claims[2048];

    vcf = vr->vcf;

    n = tokenroute_jwt_claims(claims, sizeof(claims),
                              (char *) vcf->client_email.data,
                              TOKENROUTE_JWT_SCOPE, (char *) vcf->aud.data,
                              (int64_t) ngx_time());
    if (n < 0) {
        return NGX_ERROR;
    }

    if (tokenroute_jwt_sign(vcf->key, claims, n, &jwt, &len) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: the service account's key cannot sign");
        return NGX_ERROR;
    }

    vr->form.len = sizeof(TOKENROUTE_OAUTH_FORM) - 1 + len;
    vr->form.data = ngx_pnalloc(r->pool, vr->form.len);

    if (vr->form.data != NULL) {
        ngx_memcpy(ngx_cpymem(vr->form.data, TOKENROUTE_OAUTH_FORM,
                              sizeof(TOKENROUTE_OAUTH_FORM) - 1),
                   jwt, len);
    }

    free(jwt);

    if (vr->form.data == NULL) {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_tokenroute_vertex_done;
    ps->data = vr;

    ngx_str_set(&uri, NGX_HTTP_TOKENROUTE_VERTEX_URI);

    if (ngx_http_subrequest(r, &uri, NULL, &sr, ps,
                            (vr->background ? NGX_HTTP_SUBREQUEST_BACKGROUND
                                            : NGX_HTTP_SUBREQUEST_WAITED)
                            |NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * its own empty body, as auth_request's: the proxy posts the form
     * (proxy_set_body) and never touches the client's
     */

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    vr->fetching = 1;

    if (vr->background) {
        /* nothing waits for it: the request goes on (nginx 1.13.1+) */
        return NGX_OK;
    }

    /* the subrequest's end runs the phases again */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute vertex: fetching a token, fetch %ui",
                   vr->seq);

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_vertex_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_tokenroute_vertex_req_t  *vr = data;

    int         n;
    size_t      len;
    u_char     *body;
    int64_t     expires_in;
    ngx_uint_t  status;
    u_char      reason[320];
    u_char      token[TOKENROUTE_OAUTH_TOKEN_MAX];

    if (!vr->fetching) {
        return rc;
    }

    vr->fetching = 0;
    vr->background = 0;

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST || sr->connection->error) {
        /* the client went away: no verdict on the endpoint */

        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "tokenroute: a token fetch given up by its client");

        ngx_http_tokenroute_vertex_release(vr, NULL, 0, -1);
        return rc;
    }

    status = sr->headers_out.status;

    if (status == 0) {
        /* no answer: nginx's own error (connect, timeout) */
        status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                                                    : NGX_HTTP_BAD_GATEWAY;
    }

    body = NULL;
    len = 0;

    if (sr->out && sr->out->buf) {
        body = sr->out->buf->pos;
        len = sr->out->buf->last - sr->out->buf->pos;
    }

    n = -1;

    if (status == NGX_HTTP_OK && body) {
        n = tokenroute_oauth_parse((char *) body, len, (char *) token,
                                   sizeof(token), &expires_in);
    }

    if (n > 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "tokenroute vertex: token fetched, expires in %L s",
                       expires_in);

        ngx_http_tokenroute_vertex_release(vr, token, n, (time_t) expires_in);

        ngx_explicit_memzero(token, n);

        return rc;
    }

    /*
     * a 200 holds a token even when it is refused here (expires_in 0, an
     * unsafe byte, cut short at the subrequest's buffer): only the reason
     * is said; an error answer names the problem (invalid_grant, ...),
     * its two fields escaped: the body's own text could forge log lines
     */

    if (status == NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "tokenroute: the OAuth2 token endpoint %V of %V "
                      "answered 200 without a usable token (a JSON object "
                      "with an access_token of printable ASCII under %d "
                      "bytes and a positive expires_in, the whole answer "
                      "within subrequest_output_buffer_size)",
                      &vr->vcf->aud, &vr->vcf->client_email,
                      TOKENROUTE_OAUTH_TOKEN_MAX);

    } else {
        if (body == NULL
            || tokenroute_oauth_error((char *) body, len, (char *) reason,
                                      sizeof(reason)) < 0)
        {
            ngx_cpystrn(reason, (u_char *) "(no OAuth2 error in the answer)",
                        sizeof(reason));
        }

        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "tokenroute: the OAuth2 token endpoint %V of %V "
                      "answered %ui: %s", &vr->vcf->aud,
                      &vr->vcf->client_email, status, reason);
    }

    ngx_http_tokenroute_vertex_release(vr, NULL, 0, 0);

    return rc;
}


/*
 * The end of this request's fetch: a token and its lifetime, a failure
 * (expires_in 0), or nothing (-1: the request went away).
 */

static void
ngx_http_tokenroute_vertex_release(ngx_http_tokenroute_vertex_req_t *vr,
    u_char *token, size_t len, time_t expires_in)
{
    time_t                              now;
    ngx_slab_pool_t                    *shpool;
    ngx_http_tokenroute_vertex_shm_t   *shm;
    ngx_http_tokenroute_vertex_slot_t  *slot;

    if (vr->seq == 0 || vr->vcf == NULL) {
        vr->seq = 0;
        return;
    }

    shpool = (ngx_slab_pool_t *) vr->vcf->zone->shm.addr;
    shm = vr->vcf->zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    slot = ngx_http_tokenroute_vertex_slot(shm, vr->vcf->id, 0);

    if (slot && slot->seq == vr->seq) {
        slot->fetch_until = 0;

        if (token) {
            ngx_memcpy(slot->token, token, len);
            slot->len = len;
            slot->expires = now + expires_in;
            slot->failed_until = 0;

            /*
             * fetched anew 5 minutes before the end, or half way through
             * what is usable of a shorter-lived token: not by every
             * request once less than 5 minutes are left
             */

            slot->refresh = NGX_HTTP_TOKENROUTE_VERTEX_MARGIN
                            + (expires_in - NGX_HTTP_TOKENROUTE_VERTEX_MARGIN)
                              / 2;

            if (slot->refresh > NGX_HTTP_TOKENROUTE_VERTEX_REFRESH) {
                slot->refresh = NGX_HTTP_TOKENROUTE_VERTEX_REFRESH;
            }

        } else if (expires_in == 0) {
            slot->failed_until = now + NGX_HTTP_TOKENROUTE_VERTEX_BACKOFF;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    vr->seq = 0;
}


void
ngx_http_tokenroute_vertex_refused(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    size_t                              len;
    u_char                             *token;
    ngx_uint_t                          dropped;
    ngx_slab_pool_t                    *shpool;
    ngx_http_tokenroute_vertex_shm_t   *shm;
    ngx_http_tokenroute_vertex_conf_t  *vcf;
    ngx_http_tokenroute_vertex_slot_t  *slot;

    vcf = ctx->model->provider->type_conf;

    if (ctx->upstream_authorization.len <= sizeof("Bearer ") - 1) {
        return;
    }

    token = ctx->upstream_authorization.data + sizeof("Bearer ") - 1;
    len = ctx->upstream_authorization.len - (sizeof("Bearer ") - 1);

    shpool = (ngx_slab_pool_t *) vcf->zone->shm.addr;
    shm = vcf->zone->data;
    dropped = 0;

    ngx_shmtx_lock(&shpool->mutex);

    slot = ngx_http_tokenroute_vertex_slot(shm, vcf->id, 0);

    /* only the token refused: not one fetched meanwhile */

    if (slot && slot->len == len && ngx_memcmp(slot->token, token, len) == 0)
    {
        slot->len = 0;
        slot->expires = 0;
        dropped = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (dropped) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tokenroute: provider \"%V\" refused its OAuth2 "
                      "token: dropped, the next request fetches one",
                      &ctx->model->provider->name);
    }
}


/* another request's fetch may have ended: look again */

static void
ngx_http_tokenroute_vertex_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


ngx_http_tokenroute_vertex_conf_t *
ngx_http_tokenroute_vertex_fetching(ngx_http_request_t *r, ngx_str_t *form)
{
    ngx_http_tokenroute_vertex_req_t  *vr;

    if (r == r->main) {
        return NULL;
    }

    vr = ngx_http_tokenroute_vertex_req(r->main, 0);

    if (vr == NULL || !vr->fetching) {
        return NULL;
    }

    *form = vr->form;

    return vr->vcf;
}
