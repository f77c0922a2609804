
/*
 * Copyright (C) tokenroute authors
 *
 * A settlement record: what settlement sends, the journal keeps and the
 * dead letters write.
 */


#ifndef _NGX_HTTP_TOKENROUTE_SETTLEMENT_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_SETTLEMENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/*
 * Redis rejects a settlement this many times (not a lost connection: an
 * error reply for it alone) before it is moved to the dead letters.
 */
#define NGX_HTTP_TOKENROUTE_SETTLE_TRIES    3

#define NGX_HTTP_TOKENROUTE_SETTLE_ERROR_LEN  128

/* fixed size: it is copied into shared memory as it is */
typedef struct ngx_http_tokenroute_settlement_s
    ngx_http_tokenroute_settlement_t;

struct ngx_http_tokenroute_settlement_s {
    ngx_http_tokenroute_settlement_t  *next;    /* queued, or free */
    u_char      request_id[NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
    u_char      key_hash[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
    u_char      key_id[32];
    u_char      account[128];
    u_char      tenant[64];
    u_char      model[TOKENROUTE_MODEL_MAX_LEN];
    size_t      key_id_len;
    size_t      account_len;
    size_t      tenant_len;
    size_t      model_len;
    int64_t     cost;
    int64_t     input;
    int64_t     output;
    int64_t     cached;
    int64_t     estimated;
    int64_t     unbilled;   /* the provider probably billed, not charged */
    int64_t     clamped;
    int64_t     failed;     /* every attempt failed: "fail", not "req" */
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

    /*
     * An aggregate of requests admitted from a lease
     * (ngx_http_tokenroute_lease.c): count requests (0: one request, not
     * an aggregate), "failed" of them failed; request_id is its flush id.
     */
    ngx_uint_t  count;
    u_char      lease_id[NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
};


#endif /* _NGX_HTTP_TOKENROUTE_SETTLEMENT_H_INCLUDED_ */
