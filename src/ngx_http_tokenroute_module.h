
/*
 * Copyright (C) tokenroute authors
 *
 * The types the module's files share: the configuration (providers,
 * models, Redis, main and location), a key's record, the response as the
 * filters read it and the request's ctx.  Each file's functions are
 * declared in its own header, next to it (ngx_http_tokenroute_access.h,
 * ...).
 */


#ifndef _NGX_HTTP_TOKENROUTE_MODULE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tokenroute_request.h"
#include "tokenroute_sse.h"
#include "tokenroute_usage.h"
#include "tokenroute_translate.h"
#include "tokenroute_translate_response.h"


/*
 * Three words, three things: a provider's type (tokenroute_provider
 * type=), the wire shape a body is in (TOKENROUTE_SHAPE_OPENAI or
 * _ANTHROPIC, tokenroute_usage.h: the client's, ctx->shape, or the
 * provider's, resp->provider_shape), and the endpoint a request asked for.
 */
#define NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI     1
#define NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC  2
#define NGX_HTTP_TOKENROUTE_PROVIDER_AZURE      3   /* OpenAI's shape */
#define NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK    4   /* Anthropic's shape */
#define NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX     5   /* Anthropic's shape */

/* endpoints, classified from the request URI */
#define NGX_HTTP_TOKENROUTE_ENDPOINT_UNKNOWN       0
#define NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT          1
#define NGX_HTTP_TOKENROUTE_ENDPOINT_MESSAGES      2
#define NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS        3
#define NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL         4
#define NGX_HTTP_TOKENROUTE_ENDPOINT_COUNT_TOKENS  5
#define NGX_HTTP_TOKENROUTE_ENDPOINT_EMBEDDINGS    6

#define NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN   64

/*
 * the request's chain once each model is expanded into its deployments;
 * TOKENROUTE_CHAIN_MAX bounds the models a client or a fallback= names
 */
#define NGX_HTTP_TOKENROUTE_CHAIN_SIZE       64

/* nginx has no name for it */
#define NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED 402

/* hex of 12 random bytes: unique across a fleet for settlement replays */
#define NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN   24

/* what the admission script decided */
#define NGX_HTTP_TOKENROUTE_VERDICT_NONE       0
#define NGX_HTTP_TOKENROUTE_VERDICT_OK         1
#define NGX_HTTP_TOKENROUTE_VERDICT_FORBIDDEN  2
#define NGX_HTTP_TOKENROUTE_VERDICT_CREDIT     3
#define NGX_HTTP_TOKENROUTE_VERDICT_LIMIT      4
#define NGX_HTTP_TOKENROUTE_VERDICT_RATE       5
#define NGX_HTTP_TOKENROUTE_VERDICT_TENANT     6

/* which rate limit refused a request */
#define NGX_HTTP_TOKENROUTE_RATE_RPM           0
#define NGX_HTTP_TOKENROUTE_RATE_TPM           1
#define NGX_HTTP_TOKENROUTE_RATE_CONCURRENCY   2

/* how the response body is read for usage */
#define NGX_HTTP_TOKENROUTE_RESP_NONE        0
#define NGX_HTTP_TOKENROUTE_RESP_JSON        1
#define NGX_HTTP_TOKENROUTE_RESP_SSE         2


typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       type;
    ngx_uint_t                       shape;       /* TOKENROUTE_SHAPE_* */
    ngx_str_t                        url;
    ngx_str_t                        upstream;    /* "http://host:port" */
    ngx_str_t                        base_path;   /* "/v1", no trailing / */
    ngx_str_t                        host;        /* Host header, SNI */
    ngx_str_t                        authorization;
    ngx_str_t                        api_key;
    ngx_str_t                        upstream_name;
    ngx_str_t                        headers;     /* variables.c's cache,
                                                     the host in front */
    void                            *type_conf;   /* a type's own settings */
    u_char                          *file;
    ngx_uint_t                       line;
} ngx_http_tokenroute_provider_t;


typedef struct ngx_http_tokenroute_model_s  ngx_http_tokenroute_model_t;

struct ngx_http_tokenroute_model_s {
    ngx_str_t                        id;
    ngx_uint_t                       index;      /* in the model table */
    ngx_str_t                        upstream_model;
    ngx_str_t                        fallback;   /* "a,b" as configured */
    ngx_array_t                     *chain;      /* model_t *, fallbacks */
    ngx_http_tokenroute_provider_t  *provider;
    int64_t                          input_price;    /* nUSD per Mtok */
    int64_t                          output_price;
    int64_t                          cached_input_price;
    int64_t                          cache_write_price;     /* -1: 1.25x */
    int64_t                          cache_write_1h_price;  /* -1: 2x */
    int64_t                          max_output_tokens;  /* 0: not set */
    unsigned                         listed:1;   /* clients may name it */

    /*
     * tokenroute_deployment (ngx_http_tokenroute_deployment.c): a
     * deployment is an entry of the model table, listed=off, whose id is
     * its own; its public model has no provider= of its own but the
     * deployments, sorted by priority.  A model with provider= is its own
     * single deployment.
     */
    ngx_http_tokenroute_model_t     *parent;     /* a deployment's model */
    ngx_uint_t                       parent_index;
    ngx_array_t                     *deployments;  /* model_t * */
    ngx_uint_t                       weight;
    ngx_uint_t                       priority;
    unsigned                         deployment:1;
};


typedef struct {
    ngx_str_t                        host;        /* IP address */
    in_port_t                        port;
    ngx_str_t                        unix_path;
    ngx_str_t                        password;
    ngx_int_t                        db;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       timeout;
    ngx_flag_t                       configured;
    ngx_str_t                       *scripts;     /* SCRIPT LOADed */
    ngx_uint_t                       nscripts;
    ngx_str_t                        name;        /* host name, or "" */
    ngx_str_t                        user;        /* AUTH user (ACL) */
    ngx_array_t                     *sentinels;   /* redis_addr_t */
    ngx_str_t                        master;      /* its sentinel name */
    ngx_str_t                        sentinel_password;
    ngx_str_t                        masters;     /* CIDR,... or "" */
    void                            *clcf;        /* http's: resolver */
} ngx_http_tokenroute_redis_conf_t;


/* a sentinel's address: name "" when written as an IP address */
typedef struct {
    ngx_str_t                        name;        /* re-resolved */
    ngx_str_t                        host;        /* IP, resolved at load */
    in_port_t                        port;
} ngx_http_tokenroute_redis_addr_t;


typedef struct {
    ngx_array_t                      providers;  /* provider_t * */
    ngx_array_t                      models;     /* model_t */
    ngx_http_tokenroute_redis_conf_t redis;
    ngx_str_t                        anthropic_version;
    ngx_int_t                        default_max_tokens;
    ngx_int_t                        bytes_per_token;
    time_t                           reservation_ttl;
    time_t                           key_retention;  /* 0: off */
    size_t                           journal_size;
    size_t                           max_response_size;  /* held */
    ngx_shm_zone_t                  *journal_zone;
    ngx_int_t                        max_attempts;
    ngx_array_t                     *fallback_on;   /* ngx_uint_t codes */
    time_t                           cooldown;
    ngx_uint_t                       cooldown_failures;
    ngx_shm_zone_t                  *cooldown_zone;
    time_t                           created;
    ngx_flag_t                       used;
    ngx_array_t                      tls_locations; /* void ** loc_conf */
    ngx_shm_zone_t                  *metrics_zone;
    ngx_array_t                     *resolve;  /* upstreams resolved again */
    void                            *lease;    /* tokenroute_lease; NULL */
    ngx_flag_t                       invalidation;      /* subscriber */
    ngx_flag_t                       invalidation_set;  /* by directive */
} ngx_http_tokenroute_main_conf_t;


typedef struct {
    ngx_flag_t                       enable;
    ngx_flag_t                       insecure_provider_tls;
    ngx_uint_t                       reject_log_level;
} ngx_http_tokenroute_loc_conf_t;


/* the admission script's verdict on the key (src/lua/admission.lua) */
typedef struct {
    ngx_str_t                        id;
    ngx_str_t                        account;
    ngx_str_t                        allowed;    /* "1"/"0" per model asked */
    ngx_str_t                        tenant;     /* "": none */
    ngx_str_t                        period;     /* of a 402's limit */
    unsigned                         found:1;
    unsigned                         revoked:1;
    unsigned                         expired:1;
} ngx_http_tokenroute_key_t;


/* a rate limit's refusal, a 429 (admission.lua's "rate" verdict) */
typedef struct {
    int64_t                          value;      /* the limit; -1: unsaid */
    ngx_uint_t                       retry;      /* seconds */
    ngx_uint_t                       which;      /* RATE_RPM, ... */
    unsigned                         tenant:1;   /* the tenant's, not the
                                                    key's */
} ngx_http_tokenroute_rate_t;


typedef struct ngx_http_tokenroute_gate_s  ngx_http_tokenroute_gate_t;

/* the response, as the body filter reads and rewrites it */
typedef struct {
    ngx_http_request_t              *request;
    ngx_uint_t                       mode;
    ngx_uint_t                       provider_shape;
    ngx_uint_t                       status;

    /* bytes held back: an event in progress, or a whole JSON body */
    u_char                          *hold;
    size_t                           hold_len;
    size_t                           hold_size;

    /* what is emitted, in buffers of our own, recycled once sent */
    ngx_chain_t                     *out;
    ngx_chain_t                    **last_out;
    ngx_chain_t                     *free;
    ngx_chain_t                     *busy;

    /* pass and strip modes: the event in progress (hold_len bytes) */
    ngx_chain_t                     *held;

    off_t                            body_bytes;
    size_t                           hold_max;

    /* the upstream's own, wrapped while a body is held */
    ngx_int_t                        upstream_rc;
    void                           (*upstream_finalize)(
                                         ngx_http_request_t *r, ngx_int_t rc);
    ngx_int_t                      (*input_filter_init)(void *data);
    ngx_int_t                      (*input_filter)(void *data,
                                                    ssize_t bytes);

    /* pass and strip modes: the input buffer the splitter reads */
    ngx_http_tokenroute_gate_t      *gate;

    /* a Bedrock stream's decoder (eventstream.c), before the SSE paths */
    void                            *es;

    unsigned                         strip:1;    /* drop the usage event */
    unsigned                         translate:1;
    unsigned                         buffer:1;   /* rewrite at the end */
    unsigned                         verify:1;   /* held, passed unchanged */
    unsigned                         too_large:1;
    unsigned                         attempt_failed:1;
    unsigned                         stopped:1;  /* a malformed event */
    unsigned                         streamed:1; /* an event too long */
    unsigned                         lf_due:1;   /* of a CR LF, in two */
    unsigned                         lf_drop:1;
    unsigned                         complete:1;
    unsigned                         cut:1;
    unsigned                         failed:1;
    unsigned                         stream_started:1;
    unsigned                         tapped:1;   /* usage: stream's tap */
    unsigned                         last_lent:1;

    /*
     * last, allocated only for the answers that use them (a stream held
     * open keeps its response for its whole life): a stream's SSE
     * splitter and, if translated, the translator's state; or the JSON
     * reader's, for a JSON answer (its number buffer needs no clearing).
     * Never both: they share their bytes, so that a JSON answer's
     * response takes less of the request's pool (past its 4K, nginx
     * allocates another block).
     */
    union {
        struct {
            tokenroute_sse_t         sse;
            tokenroute_stream_t      stream;
        } s;
        tokenroute_usage_json_t      json;
    } u;
} ngx_http_tokenroute_response_t;


typedef struct {
    /* the request, as the access phase reads it (access.c, request.c) */
    ngx_uint_t                       endpoint;
    ngx_uint_t                       shape;      /* error/response shape */
    u_char                           request_id[NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
    ngx_str_t                        body;
    tokenroute_request_status_e      req_status;
    unsigned                         body_done:1;
    unsigned                         waiting_body:1;
    unsigned                         decided:1;

    /* key check (key.c): the key sent, the admission's verdict on it */
    ngx_str_t                        raw_key;
    u_char                           key_hash[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
    ngx_http_tokenroute_key_t        key;

    /* routing (route.c, fallback.c) */
    ngx_http_tokenroute_model_t     *model;        /* this attempt's */
    ngx_http_tokenroute_model_t     *chain[NGX_HTTP_TOKENROUTE_CHAIN_SIZE];
    ngx_uint_t                       nchain;
    ngx_uint_t                       chain_pos;
    ngx_uint_t                       attempts;     /* provider attempts */
    ngx_str_t                        model_path;   /* /v1/models/{id} */
    const char                      *route_error;
    ngx_uint_t                       route_status;
    ngx_str_t                        upstream_body;
    ngx_str_t                        upstream_uri;
    ngx_str_t                        upstream_url;  /* upstream, uri */
    ngx_str_t                        upstream_authorization; /* signed */
    ngx_str_t                        upstream_amz_date;      /* its date */
    unsigned                         translate:1;

    /*
     * admission (admission.c): the key's verdict and the reservation, or the
     * verdict alone for a request that reserves nothing, while the request
     * is parked on Redis (park.c)
     */
    void                            *admission_batch; /* queued, in flight */
    ngx_uint_t                       admission_slot;
    ngx_int_t                        redis_status;
    ngx_uint_t                       verdict;
    int64_t                          reserve;
    int64_t                          available;  /* what a 402 had left */
    int64_t                          tokens;     /* counted against tpm */
    ngx_http_tokenroute_rate_t       rate;       /* what a 429 says */
    u_char                          *lease_id;   /* leased: the lease's */
    void                            *lease_entry; /* leased: its entry */
    unsigned                         admission_sent:1;
    unsigned                         admission_done:1;
    unsigned                         leased:1;   /* from a lease: no Redis */
    unsigned                         waiting_admission:1;

    /* the gateway's own overhead, microseconds */
    uint64_t                         t_start;
    uint64_t                         t_sent;
    uint64_t                         t_redis;
    uint64_t                         t_decided;

    /* the response (the filters) */
    ngx_http_tokenroute_response_t  *resp;
    ngx_uint_t                       upstream_status;

    /* settlement (billing.c): what the request produced and cost */
    tokenroute_usage_t               usage;
    int64_t                          cost;
    int64_t                          unbilled;   /* not the client's */
    int64_t                          unbilled_before; /* failed attempts */
    unsigned                         usage_done:1;
    unsigned                         estimated:1;
    unsigned                         clamped:1;
    unsigned                         settled:1;
    unsigned                         failed:1;   /* not charged: no answer */

    /*
     * last: mostly never written; the rest is zeroed at the start.  Its
     * models[] (2K) is not allocated (NGX_HTTP_TOKENROUTE_CTX_SIZE): the
     * names are read from the scan's scratch copy (route.c), and a stream
     * held open keeps its context for its whole life.
     */
    tokenroute_request_t             req;
} ngx_http_tokenroute_ctx_t;


#define NGX_HTTP_TOKENROUTE_CTX_SIZE                                          \
    (offsetof(ngx_http_tokenroute_ctx_t, req)                                 \
     + offsetof(tokenroute_request_t, models))


extern ngx_module_t  ngx_http_tokenroute_module;


#endif /* _NGX_HTTP_TOKENROUTE_MODULE_H_INCLUDED_ */
