
/*
 * Copyright (C) tokenroute authors
 *
 * Module definition only: directives, configuration objects, handler and
 * filter registration, per-worker start and stop.  The work is done in
 * src/.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_access.h"
#include "ngx_http_tokenroute_admin.h"
#include "ngx_http_tokenroute_billing.h"
#include "ngx_http_tokenroute_conf.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_demo.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_filter.h"
#include "ngx_http_tokenroute_inval.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_lease.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_metrics_out.h"
#include "ngx_http_tokenroute_purge.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_replay.h"
#include "ngx_http_tokenroute_settle.h"
#include "ngx_http_tokenroute_tls.h"
#include "ngx_http_tokenroute_variables.h"
#include "ngx_http_tokenroute_upstream.h"
#include "ngx_http_tokenroute_upstream_dns.h"


static ngx_int_t ngx_http_tokenroute_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_tokenroute_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_tokenroute_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tokenroute_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tokenroute_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tokenroute_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_tokenroute_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_tokenroute_init_process(ngx_cycle_t *cycle);
static void ngx_http_tokenroute_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_tokenroute_reject_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_tokenroute_commands[] = {

    { ngx_string("tokenroute"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_tokenroute_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_loc_conf_t, enable),
      NULL },

    { ngx_string("tokenroute_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tokenroute_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_invalidation"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tokenroute_inval_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_provider"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tokenroute_provider_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tokenroute_model_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_deployment"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tokenroute_deployment_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_anthropic_version"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, anthropic_version),
      NULL },

    { ngx_string("tokenroute_default_max_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, default_max_tokens),
      NULL },

    { ngx_string("tokenroute_bytes_per_token"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, bytes_per_token),
      NULL },

    { ngx_string("tokenroute_reservation_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, reservation_ttl),
      NULL },

    { ngx_string("tokenroute_key_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tokenroute_key_retention,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_lease"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tokenroute_lease_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_journal_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, journal_size),
      NULL },

    { ngx_string("tokenroute_max_response_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, max_response_size),
      NULL },

    { ngx_string("tokenroute_max_attempts"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_main_conf_t, max_attempts),
      NULL },

    { ngx_string("tokenroute_fallback_on"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tokenroute_fallback_on_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_cooldown"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_tokenroute_cooldown_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tokenroute_error_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_insecure_provider_tls"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_loc_conf_t, insecure_provider_tls),
      NULL },

    { ngx_string("tokenroute_reject_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tokenroute_loc_conf_t, reject_log_level),
      &ngx_http_tokenroute_reject_log_levels },

    { ngx_string("tokenroute_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tokenroute_admin_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_demo_provider"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tokenroute_demo_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tokenroute_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tokenroute_health_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tokenroute_resolve"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_tokenroute_resolve_directive,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tokenroute_module_ctx = {
    ngx_http_tokenroute_preconfiguration,  /* preconfiguration */
    ngx_http_tokenroute_postconfiguration, /* postconfiguration */

    ngx_http_tokenroute_create_main_conf,  /* create main configuration */
    ngx_http_tokenroute_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_tokenroute_create_loc_conf,   /* create location configuration */
    ngx_http_tokenroute_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_tokenroute_module = {
    NGX_MODULE_V1,
    &ngx_http_tokenroute_module_ctx,       /* module context */
    ngx_http_tokenroute_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_tokenroute_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_tokenroute_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_tokenroute_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_tokenroute_add_variables(cf);
}


static ngx_int_t
ngx_http_tokenroute_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tokenroute_module);

    /* loading the module costs nothing where "tokenroute on" is not used */

    if (!trmcf->used) {
        return NGX_OK;
    }

    if (!trmcf->redis.configured) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tokenroute on\" needs a \"tokenroute_redis\" "
                           "directive in the http block");
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_check_upstreams(cf, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_tls_check(cf, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_tokenroute_access_handler;

    if (ngx_http_tokenroute_billing_init(cf, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_cooldown_init(cf, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_metrics_init(cf, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_tokenroute_filter_init(cf);
}


static void *
ngx_http_tokenroute_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_main_conf_t));
    if (trmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     trmcf->redis = { 0 };
     *     trmcf->anthropic_version = { 0, NULL };
     *     trmcf->used = 0;
     */

    if (ngx_array_init(&trmcf->providers, cf->pool, 4,
                       sizeof(ngx_http_tokenroute_provider_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&trmcf->models, cf->pool, 8,
                       sizeof(ngx_http_tokenroute_model_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&trmcf->tls_locations, cf->pool, 4, sizeof(void **))
        != NGX_OK)
    {
        return NULL;
    }

    trmcf->default_max_tokens = NGX_CONF_UNSET;
    trmcf->bytes_per_token = NGX_CONF_UNSET;
    trmcf->reservation_ttl = NGX_CONF_UNSET;
    trmcf->key_retention = NGX_CONF_UNSET;
    trmcf->journal_size = NGX_CONF_UNSET_SIZE;
    trmcf->max_response_size = NGX_CONF_UNSET_SIZE;
    trmcf->max_attempts = NGX_CONF_UNSET;
    trmcf->fallback_on = NGX_CONF_UNSET_PTR;
    trmcf->cooldown = NGX_CONF_UNSET;
    trmcf->cooldown_failures = 3;
    trmcf->created = ngx_time();

    return trmcf;
}


static char *
ngx_http_tokenroute_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tokenroute_main_conf_t  *trmcf = conf;

    if (trmcf->anthropic_version.data == NULL) {
        ngx_str_set(&trmcf->anthropic_version, "2023-06-01");
    }

    ngx_conf_init_value(trmcf->default_max_tokens, 4096);
    ngx_conf_init_value(trmcf->bytes_per_token, 1);
    ngx_conf_init_value(trmcf->reservation_ttl, 900);
    ngx_conf_init_value(trmcf->key_retention, 30 * 86400);
    ngx_conf_init_size_value(trmcf->journal_size, 1024 * 1024);
    ngx_conf_init_size_value(trmcf->max_response_size, 16 * 1024 * 1024);
    ngx_conf_init_value(trmcf->max_attempts, 3);
    ngx_conf_init_value(trmcf->cooldown, 30);

    /* a lease's record is dropped as soon as its key changes (README) */

    if (trmcf->lease) {
        ngx_http_tokenroute_inval_enable(cf);
    }

    /* a chain of deployments may be longer than the models it names */

    if (trmcf->max_attempts < 1
        || trmcf->max_attempts > NGX_HTTP_TOKENROUTE_CHAIN_SIZE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tokenroute_max_attempts must be 1 to %d",
                           NGX_HTTP_TOKENROUTE_CHAIN_SIZE);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tokenroute_resolve_deployments(cf, trmcf) != NGX_OK
        || ngx_http_tokenroute_resolve_chains(cf, trmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (trmcf->default_max_tokens < 1 || trmcf->bytes_per_token < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tokenroute_default_max_tokens and "
                           "tokenroute_bytes_per_token must be positive");
        return NGX_CONF_ERROR;
    }

    /* a stream's event in progress is held up to 64k (sse_gate.c) */

    if (trmcf->max_response_size < 128 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tokenroute_max_response_size must be at least "
                           "128k");
        return NGX_CONF_ERROR;
    }

    if (trmcf->default_max_tokens > TOKENROUTE_MAX_TOKENS_LIMIT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tokenroute_default_max_tokens must be at most %d",
                           TOKENROUTE_MAX_TOKENS_LIMIT);
        return NGX_CONF_ERROR;
    }

    if (trmcf->journal_size < 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tokenroute_journal_size must be at least 64k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_tokenroute_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_tokenroute_loc_conf_t  *trlcf;

    trlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_loc_conf_t));
    if (trlcf == NULL) {
        return NULL;
    }

    trlcf->enable = NGX_CONF_UNSET;
    trlcf->insecure_provider_tls = NGX_CONF_UNSET;
    trlcf->reject_log_level = NGX_CONF_UNSET_UINT;

    return trlcf;
}


static char *
ngx_http_tokenroute_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_tokenroute_loc_conf_t  *prev = parent;
    ngx_http_tokenroute_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->insecure_provider_tls,
                         prev->insecure_provider_tls, 0);
    ngx_conf_merge_uint_value(conf->reject_log_level,
                              prev->reject_log_level, NGX_LOG_ERR);

    /* checked in postconfiguration, once every module has merged */

    if (conf->enable && ngx_http_tokenroute_tls_note(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tokenroute_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                             *rv;
    ngx_http_tokenroute_loc_conf_t   *trlcf = conf;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (trlcf->enable) {
        trmcf = ngx_http_conf_get_module_main_conf(cf,
                                                   ngx_http_tokenroute_module);
        trmcf->used = 1;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tokenroute_init_process(ngx_cycle_t *cycle)
{
    ngx_http_tokenroute_main_conf_t  *trmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_http_tokenroute_resolve_start(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    trmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_tokenroute_module);
    if (trmcf == NULL || !trmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_tokenroute_journal_start(cycle, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_replay_start(cycle) != NGX_OK
        || ngx_http_tokenroute_lease_start(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_redis_init(cycle, &trmcf->redis) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_tokenroute_inval_init(cycle, trmcf);
}


static void
ngx_http_tokenroute_exit_process(ngx_cycle_t *cycle)
{
    /*
     * The settlements in flight are journaled as the connection closes,
     * then the ones still waiting to be sent.
     */
    ngx_http_tokenroute_lease_shutdown();
    ngx_http_tokenroute_inval_shutdown();
    ngx_http_tokenroute_redis_shutdown();
    ngx_http_tokenroute_settle_shutdown();
    ngx_http_tokenroute_metrics_worker_exit();
}
