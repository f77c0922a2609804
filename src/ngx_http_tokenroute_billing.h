
/*
 * Copyright (C) tokenroute authors
 *
 * Settlements and the shared-memory journal that keeps the ones Redis
 * could not take.
 */


#ifndef _NGX_HTTP_TOKENROUTE_BILLING_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_BILLING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"


/*
 * Redis rejects a settlement this many times (not a lost connection: an
 * error reply for it alone) before it is moved to the dead letters.
 */
#define NGX_HTTP_TOKENROUTE_SETTLE_TRIES    3

#define NGX_HTTP_TOKENROUTE_SETTLE_ERROR_LEN  128

/* 2^53 - 1: amounts the scripts take, exact in their doubles */
#define NGX_HTTP_TOKENROUTE_EXACT  9007199254740991LL


/* fixed size: it is copied into shared memory as it is */
typedef struct ngx_http_tokenroute_settlement_s
    ngx_http_tokenroute_settlement_t;

struct ngx_http_tokenroute_settlement_s {
    ngx_http_tokenroute_settlement_t  *next;    /* queued, or free */
    u_char      request_id[NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
    u_char      key_hash[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
    u_char      key_id[32];
    u_char      account[128];
    u_char      model[TOKENROUTE_MODEL_MAX_LEN];
    size_t      key_id_len;
    size_t      account_len;
    size_t      model_len;
    int64_t     cost;
    int64_t     input;
    int64_t     output;
    int64_t     cached;
    int64_t     estimated;
    int64_t     unbilled;   /* the provider probably billed, not charged */
    int64_t     clamped;
    time_t      time;

    /*
     * A release only gives the reservation back: no charge, no usage.
     * "again": a release sent once more, not before "not_before".
     */
    ngx_uint_t  release;
    ngx_uint_t  again;
    time_t      not_before;

    /* Redis's rejections: how many, and the last one's text */
    ngx_uint_t  tries;
    size_t      error_len;
    u_char      error[NGX_HTTP_TOKENROUTE_SETTLE_ERROR_LEN];

    /* the largest batch it may go in: halved at each rejection; 0: any */
    ngx_uint_t  batch_max;
};


ngx_int_t ngx_http_tokenroute_script_sha1(ngx_conf_t *cf, ngx_str_t *text,
    u_char *hex);

/* ngx_http_tokenroute_admit.c */
ngx_int_t ngx_http_tokenroute_admit_init(ngx_conf_t *cf, ngx_str_t *script);
ngx_int_t ngx_http_tokenroute_admit_queue(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_admit_check(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/* ngx_http_tokenroute_settle.c */
ngx_int_t ngx_http_tokenroute_settle_init(ngx_conf_t *cf, ngx_str_t *scripts);
void ngx_http_tokenroute_settle(ngx_http_tokenroute_settlement_t *s);
void ngx_http_tokenroute_settle_shutdown(void);
void ngx_http_tokenroute_release(u_char *request_id, ngx_uint_t again);
void ngx_http_tokenroute_settlement_free(ngx_http_tokenroute_settlement_t *s);

/* ngx_http_tokenroute_dead.c */
void ngx_http_tokenroute_dead(ngx_http_tokenroute_settlement_t *s);
ngx_int_t ngx_http_tokenroute_redis_unable(redisReply *reply);

/* ngx_http_tokenroute_sweep.c */
ngx_int_t ngx_http_tokenroute_sweep_init(ngx_conf_t *cf, ngx_str_t *script);
void ngx_http_tokenroute_sweep(void);

/* ngx_http_tokenroute_journal.c */
ngx_int_t ngx_http_tokenroute_journal_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
void ngx_http_tokenroute_journal_add(ngx_http_tokenroute_settlement_t *s);
ngx_int_t ngx_http_tokenroute_journal_start(ngx_cycle_t *cycle,
    ngx_http_tokenroute_main_conf_t *trmcf);


#endif /* _NGX_HTTP_TOKENROUTE_BILLING_H_INCLUDED_ */
