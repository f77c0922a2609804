
/*
 * Copyright (C) tokenroute authors
 *
 * The key purge: keys revoked or expired more than
 * tokenroute_key_retention ago are deleted (their usage records stay),
 * so that one key per agent session does not grow Redis forever.  Each
 * worker, from the replay's once-a-second timer, runs the "purge"
 * operation of src/lua/ctl_keys.lua about once a minute, a bounded
 * batch at a time; the script itself lets one caller of the whole fleet
 * through per interval (tr:keys:purge), and a batch that leaves more to
 * do is followed by the next one a second later.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_purge.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_lua.h"


/* keys deleted per call: one script must stay short */
#define NGX_HTTP_TOKENROUTE_PURGE_BATCH     "100"

/* the interval between purges, or the retention when shorter */
#define NGX_HTTP_TOKENROUTE_PURGE_INTERVAL  60


static void ngx_http_tokenroute_purge_reply(void *data, redisReply *reply);


static u_char      ngx_http_tokenroute_purge_sha[41];
static time_t      ngx_http_tokenroute_retention;
static time_t      ngx_http_tokenroute_purge_next;
static ngx_uint_t  ngx_http_tokenroute_purging;


/* tokenroute_key_retention 30d | off */

char *
ngx_http_tokenroute_key_retention(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t  *trmcf = conf;

    ngx_str_t  *value;

    if (trmcf->key_retention != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        trmcf->key_retention = 0;
        return NGX_CONF_OK;
    }

    trmcf->key_retention = ngx_parse_time(&value[1], 1);

    if (trmcf->key_retention == (time_t) NGX_ERROR) {
        return "invalid value";
    }

    return NGX_CONF_OK;
}


/* the script: src/lua/ctl_lib.lua + src/lua/ctl_keys.lua, embedded */

ngx_int_t
ngx_http_tokenroute_purge_init(ngx_conf_t *cf, ngx_str_t *script,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_http_tokenroute_retention = trmcf->key_retention;
    ngx_http_tokenroute_purge_next = 0;

    return ngx_http_tokenroute_script_init(cf, script,
                                           tokenroute_lua_ctl_keys,
                                           tokenroute_lua_ctl_keys_len,
                                           ngx_http_tokenroute_purge_sha);
}


/* called every second: one purge at a time per worker */

void
ngx_http_tokenroute_purge(void)
{
    u_char      *p;
    time_t       interval;
    const char  *argv[12];
    size_t       argvlen[12];
    u_char       now[NGX_TIME_T_LEN], age[NGX_TIME_T_LEN + 1];
    u_char       every[NGX_TIME_T_LEN];

    if (ngx_http_tokenroute_retention == 0
        || ngx_http_tokenroute_purging
        || ngx_time() < ngx_http_tokenroute_purge_next)
    {
        return;
    }

    interval = ngx_min(ngx_http_tokenroute_retention,
                       NGX_HTTP_TOKENROUTE_PURGE_INTERVAL);

    argv[0] = "EVALSHA";
    argv[1] = (const char *) ngx_http_tokenroute_purge_sha;
    argv[2] = "0";
    argv[3] = "purge";

    p = ngx_sprintf(now, "%T", ngx_time());
    argv[4] = (const char *) now;
    argvlen[4] = p - now;

    argv[5] = "gateway";
    argv[6] = "older_than";

    p = ngx_sprintf(age, "%Ts", ngx_http_tokenroute_retention);
    argv[7] = (const char *) age;
    argvlen[7] = p - age;

    argv[8] = "limit";
    argv[9] = NGX_HTTP_TOKENROUTE_PURGE_BATCH;
    argv[10] = "interval";

    p = ngx_sprintf(every, "%T", interval);
    argv[11] = (const char *) every;
    argvlen[11] = p - every;

    argvlen[0] = 7;
    argvlen[1] = 40;
    argvlen[2] = 1;
    argvlen[3] = 5;
    argvlen[5] = 7;
    argvlen[6] = 10;
    argvlen[8] = 5;
    argvlen[9] = sizeof(NGX_HTTP_TOKENROUTE_PURGE_BATCH) - 1;
    argvlen[10] = 8;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_purge_reply,
                                          NULL, 12, argv, argvlen)
        != NULL)
    {
        ngx_http_tokenroute_purging = 1;
        ngx_http_tokenroute_purge_next = ngx_time() + interval;
    }
}


/* {"purged":N,"ids":[...],"more":true|false,"skipped":...} */

static void
ngx_http_tokenroute_purge_reply(void *data, redisReply *reply)
{
    u_char     *p, *last;
    ngx_int_t   n;

    static u_char  purged[] = "\"purged\":";
    static u_char  more[] = "\"more\":true";

    ngx_http_tokenroute_purging = 0;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: key purge failed: %s", reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return;
    }

    last = (u_char *) reply->str + reply->len;

    /* a full batch: the next one on the next tick */
    if (ngx_strlcasestrn((u_char *) reply->str, last, more,
                         sizeof(more) - 2)
        != NULL)
    {
        ngx_http_tokenroute_purge_next = 0;
    }

    p = ngx_strlcasestrn((u_char *) reply->str, last, purged,
                         sizeof(purged) - 2);
    if (p == NULL) {
        return;
    }

    p += sizeof(purged) - 1;

    for (n = 0; p + n < last && p[n] >= '0' && p[n] <= '9'; n++) {
        /* void */
    }

    n = ngx_atoi(p, n);

    if (n > 0) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tokenroute: purged %i keys revoked or expired "
                      "more than %T s ago", n, ngx_http_tokenroute_retention);
    }
}
