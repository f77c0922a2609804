
/*
 * Copyright (C) tokenroute authors
 *
 * The counters in shared memory and the calls that feed them
 * (ngx_http_tokenroute_metrics.c).  Every counter is a word that only
 * grows, added to with ngx_atomic_fetch_add(): no lock, and a reader may
 * see one request's counters half added, never a torn word.
 */


#ifndef _NGX_HTTP_TOKENROUTE_METRICS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* worker numbers (ngx_worker) with a Redis gauge of their own */
#define NGX_HTTP_TOKENROUTE_METRICS_WORKERS   64

/* bounds of a histogram, at most; the last bucket, +Inf, comes on top */
#define NGX_HTTP_TOKENROUTE_METRICS_BOUNDS    14

/* the histograms */
#define NGX_HTTP_TOKENROUTE_H_OVERHEAD        0
#define NGX_HTTP_TOKENROUTE_H_FIRST_BYTE      1
#define NGX_HTTP_TOKENROUTE_H_LAST_BYTE       2
#define NGX_HTTP_TOKENROUTE_H_REDIS           3
#define NGX_HTTP_TOKENROUTE_H_BATCH           4
#define NGX_HTTP_TOKENROUTE_H_N               5

/* a request's series: client API shape, status class */
#define NGX_HTTP_TOKENROUTE_METRICS_SHAPES    2
#define NGX_HTTP_TOKENROUTE_METRICS_CLASSES   4

#define ngx_http_tokenroute_metrics_nrequests(nm)                            \
    (((nm) + 1) * ((nm) + 1) * NGX_HTTP_TOKENROUTE_METRICS_SHAPES            \
     * NGX_HTTP_TOKENROUTE_METRICS_CLASSES)


typedef struct {
    const char                  *name;
    const char                  *help;
    const uint64_t              *bounds;    /* microseconds, or a count */
    ngx_uint_t                   nbounds;
    ngx_uint_t                   seconds;   /* bounds and sum in us */
} ngx_http_tokenroute_histogram_desc_t;


typedef struct {
    ngx_uint_t                   status;
    const char                  *code;      /* NULL: any other */
} ngx_http_tokenroute_reason_t;


typedef struct {
    ngx_atomic_t                 bucket[NGX_HTTP_TOKENROUTE_METRICS_BOUNDS + 1];
    ngx_atomic_t                 sum;
} ngx_http_tokenroute_histogram_t;


/* per model, by index in the model table; the last: "(unknown)" */
typedef struct {
    ngx_atomic_t                 attempts;
    ngx_atomic_t                 fallbacks;
    ngx_atomic_t                 input;
    ngx_atomic_t                 cached;
    ngx_atomic_t                 cache_write;
    ngx_atomic_t                 output;
    ngx_atomic_t                 cost;
    ngx_atomic_t                 estimated;
    ngx_atomic_t                 estimated_cost;
    ngx_atomic_t                 unbilled;
    ngx_atomic_t                 unbilled_cost;
} ngx_http_tokenroute_model_counters_t;


/* a worker's Redis connection: its pid owns the slot until replaced */
typedef struct {
    ngx_atomic_t                 pid;
    ngx_atomic_t                 connected;
    ngx_atomic_t                 subscribed;  /* to tr:inval */
} ngx_http_tokenroute_worker_slot_t;


/* what a worker's invalidation subscriber received */
#define NGX_HTTP_TOKENROUTE_INVAL_KEY      0
#define NGX_HTTP_TOKENROUTE_INVAL_ALL      1     /* "*", or subscribed */
#define NGX_HTTP_TOKENROUTE_INVAL_IGNORED  2     /* not a key hash */
#define NGX_HTTP_TOKENROUTE_INVAL_N        3

/* leases (tokenroute_lease): what a worker did with them */
#define NGX_HTTP_TOKENROUTE_LEASE_M_LEASE  0     /* verdict from a lease */
#define NGX_HTTP_TOKENROUTE_LEASE_M_EXACT  1     /* the admission script */
#define NGX_HTTP_TOKENROUTE_LEASE_M_RENEW  2     /* renewals sent */
#define NGX_HTTP_TOKENROUTE_LEASE_M_BACK   3     /* give-backs sent */
#define NGX_HTTP_TOKENROUTE_LEASE_M_FLUSH  4     /* aggregates flushed */
#define NGX_HTTP_TOKENROUTE_LEASE_M_N      5


typedef struct {
    ngx_uint_t                   nmodels;
    ngx_atomic_t                 redis_reconnects;
    ngx_atomic_t                 redis_errors;
    ngx_atomic_t                 journal_writes;
    ngx_atomic_t                 journal_replays;
    ngx_atomic_t                 dead_letters;
    ngx_atomic_t                 inval[NGX_HTTP_TOKENROUTE_INVAL_N];
    ngx_atomic_t                 lease[NGX_HTTP_TOKENROUTE_LEASE_M_N];
    ngx_atomic_t                 rejections[32];
    ngx_http_tokenroute_histogram_t    hist[NGX_HTTP_TOKENROUTE_H_N];
    ngx_http_tokenroute_worker_slot_t  workers[
                                       NGX_HTTP_TOKENROUTE_METRICS_WORKERS];

    /* then model counters [nmodels + 1], request counters */
} ngx_http_tokenroute_metrics_sh_t;


typedef struct {
    ngx_http_tokenroute_metrics_sh_t      *sh;
    ngx_http_tokenroute_model_counters_t  *models;
    ngx_atomic_t                          *requests;
    ngx_http_tokenroute_main_conf_t       *trmcf;
} ngx_http_tokenroute_metrics_t;


extern ngx_http_tokenroute_histogram_desc_t  ngx_http_tokenroute_histograms[];
extern ngx_http_tokenroute_reason_t          ngx_http_tokenroute_reasons[];


ngx_int_t ngx_http_tokenroute_metrics_zone(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
ngx_http_tokenroute_metrics_t *ngx_http_tokenroute_metrics_get(void);
void ngx_http_tokenroute_metrics_request(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

void ngx_http_tokenroute_metrics_reject(ngx_uint_t status, const char *code);
void ngx_http_tokenroute_metrics_batch(ngx_uint_t n);
void ngx_http_tokenroute_metrics_redis_reply(ngx_msec_t sent, void *reply);
void ngx_http_tokenroute_metrics_redis_up(ngx_uint_t up);
void ngx_http_tokenroute_metrics_worker_exit(void);
ngx_msec_t ngx_http_tokenroute_metrics_redis_answered(void);
void ngx_http_tokenroute_metrics_journaled(void);
void ngx_http_tokenroute_metrics_replayed(ngx_uint_t n);
void ngx_http_tokenroute_metrics_dead_letter(void);
void ngx_http_tokenroute_metrics_inval(ngx_uint_t what);
void ngx_http_tokenroute_metrics_inval_subscribed(ngx_uint_t up);
void ngx_http_tokenroute_metrics_lease(ngx_uint_t what);


#endif /* _NGX_HTTP_TOKENROUTE_METRICS_H_INCLUDED_ */
