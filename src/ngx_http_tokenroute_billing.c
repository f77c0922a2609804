
/*
 * Copyright (C) tokenroute authors
 *
 * Money in Redis: admission (key check and reservation, atomically, in
 * one EVALSHA) in the access phase; in the log phase, what the request
 * cost, handed to settlement (ngx_http_tokenroute_settle.c).
 *
 * Redis's Lua numbers are doubles: amounts are exact below 2^53 nano-USD
 * (9 million USD) per account.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_billing.h"
#include "tokenroute_money.h"


static void ngx_http_tokenroute_admit_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_log_handler(ngx_http_request_t *r);


/*
 * ARGV: key hash, model, now, request id, amount, deadline.
 * Returns {status, key id, account, available, allowed models}.
 */

static ngx_str_t  ngx_http_tokenroute_admit_lua = ngx_string(
"local k = 'tr:key:' .. ARGV[1]\n"
"local f = redis.call('HMGET', k, 'id', 'account', 'models',\n"
"                     'expires_at', 'revoked', 'limit', 'spent',\n"
"                     'reserved')\n"
"if not f[1] then return {'unknown'} end\n"
"local acct = f[2] or 'default'\n"
"if f[5] == '1' then return {'revoked', f[1], acct} end\n"
"local exp = tonumber(f[4] or '0') or 0\n"
"if exp > 0 and tonumber(ARGV[3]) >= exp then\n"
"  return {'expired', f[1], acct}\n"
"end\n"
"if f[3] and f[3] ~= '' then\n"
"  local allowed = false\n"
"  for m in string.gmatch(f[3], '[^,]+') do\n"
"    if m == ARGV[2] then allowed = true break end\n"
"  end\n"
"  if not allowed then return {'forbidden', f[1], acct} end\n"
"end\n"
"local amount = tonumber(ARGV[5])\n"
"local a = redis.call('HMGET', 'tr:acct:' .. acct, 'credit', 'reserved')\n"
"local avail = (tonumber(a[1]) or 0) - (tonumber(a[2]) or 0)\n"
"if avail < amount then\n"
"  return {'credit', f[1], acct, string.format('%.0f', avail)}\n"
"end\n"
"if f[6] and f[6] ~= '' then\n"
"  local left = tonumber(f[6]) - (tonumber(f[7]) or 0)\n"
"               - (tonumber(f[8]) or 0)\n"
"  if left < amount then\n"
"    return {'limit', f[1], acct, string.format('%.0f', left)}\n"
"  end\n"
"end\n"
"if ARGV[5] ~= '0' then\n"
"  redis.call('HINCRBY', k, 'reserved', ARGV[5])\n"
"  redis.call('HINCRBY', 'tr:acct:' .. acct, 'reserved', ARGV[5])\n"
"end\n"
"redis.call('HSET', 'tr:rsv:' .. ARGV[4], 'key', ARGV[1], 'account', acct,\n"
"           'amount', ARGV[5])\n"
"redis.call('ZADD', 'tr:rsv', ARGV[6], ARGV[4])\n"
"return {'ok', f[1], acct, '0', f[3] or ''}\n");


static u_char  ngx_http_tokenroute_admit_sha[41];

static ngx_str_t  ngx_http_tokenroute_scripts[3];


ngx_int_t
ngx_http_tokenroute_billing_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_tokenroute_script_sha1(cf, &ngx_http_tokenroute_admit_lua,
                                        ngx_http_tokenroute_admit_sha)
        != NGX_OK
        || ngx_http_tokenroute_settle_init(cf, &ngx_http_tokenroute_scripts[1])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_tokenroute_scripts[0] = ngx_http_tokenroute_admit_lua;

    trmcf->redis.scripts = ngx_http_tokenroute_scripts;
    trmcf->redis.nscripts = 3;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    /*
     * Log handlers run in the order they were added, and the access log's
     * was added first: settle first, so that $tokenroute_cost and friends
     * are final when the access log line is written.
     */

    h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    ngx_memmove(&h[1], &h[0],
                (cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts - 1)
                * sizeof(ngx_http_handler_pt));

    h[0] = ngx_http_tokenroute_log_handler;

    return ngx_http_tokenroute_journal_init(cf, trmcf);
}


ngx_int_t
ngx_http_tokenroute_script_sha1(ngx_conf_t *cf, ngx_str_t *text, u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  n;

    if (EVP_Digest(text->data, text->len, md, &n, EVP_sha1(), NULL) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "SHA-1 failed");
        return NGX_ERROR;
    }

    *ngx_hex_dump(hex, md, n) = '\0';

    return NGX_OK;
}


/*
 * The reservation: an upper bound of what the request can cost.  Input:
 * no tokenizer yields more tokens than bytes (bytes_per_token 1), priced
 * as an Anthropic cache write (1.25x) where that can happen.  Output:
 * the request's own cap, or the configured default.
 */

ngx_int_t
ngx_http_tokenroute_admit(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *p;
    int64_t                           input, output, price, reserve, cost;
    ngx_uint_t                        i;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;
    u_char                            now[NGX_TIME_T_LEN];
    u_char                            amount[NGX_INT64_LEN];
    u_char                            deadline[NGX_TIME_T_LEN];
    const char                       *argv[9];
    size_t                            argvlen[9];

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);
    m = ctx->model;

    input = (ctx->body.len + trmcf->bytes_per_token - 1)
            / trmcf->bytes_per_token;
    output = ctx->req.max_tokens > 0 ? ctx->req.max_tokens
                                     : trmcf->default_max_tokens;

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_EMBEDDINGS) {
        output = 0;
    }

    /* any model of the chain may serve: reserve for the dearest */

    reserve = 0;

    for (i = 0; i < ctx->nchain; i++) {
        price = ctx->chain[i]->input_price;

        if (ctx->chain[i]->provider->type == NGX_HTTP_TOKENROUTE_ANTHROPIC) {
            price = price + (price + 3) / 4;
        }

        cost = tokenroute_money_cost(input, price);
        cost += tokenroute_money_cost(output, ctx->chain[i]->output_price);

        if (cost < 0) {
            cost = INT64_MAX;
        }

        reserve = ngx_max(reserve, cost);
    }

    ctx->reserve = reserve;

    argv[0] = "EVALSHA";
    argv[1] = (const char *) ngx_http_tokenroute_admit_sha;
    argv[2] = "0";
    argv[3] = (const char *) ctx->key_hash;
    argv[4] = (const char *) m->id.data;
    argv[6] = (const char *) ctx->request_id;

    argvlen[0] = 7;
    argvlen[1] = 40;
    argvlen[2] = 1;
    argvlen[3] = NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN;
    argvlen[4] = m->id.len;
    argvlen[6] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

    p = ngx_http_tokenroute_write_int(now, ngx_time());
    argv[5] = (const char *) now;
    argvlen[5] = p - now;

    p = ngx_http_tokenroute_write_int(amount, reserve);
    argv[7] = (const char *) amount;
    argvlen[7] = p - amount;

    p = ngx_http_tokenroute_write_int(deadline,
                                      ngx_time() + trmcf->reservation_ttl);
    argv[8] = (const char *) deadline;
    argvlen[8] = p - deadline;

    return ngx_http_tokenroute_ctx_command(r, ctx,
                                           ngx_http_tokenroute_admit_reply,
                                           9, argv, argvlen);
}


static void
ngx_http_tokenroute_admit_reply(void *data, redisReply *reply)
{
    ngx_http_request_t         *r = data;

    size_t                      i;
    ngx_str_t                  *field[2];
    ngx_int_t                   n;
    redisReply                 *e, *st;
    ngx_http_tokenroute_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    ctx->redis_status = NGX_ERROR;

    if (reply == NULL) {
        goto done;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: admission failed: %s",
                      reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
        goto done;
    }

    st = reply->element[0];

    field[0] = &ctx->key.id;
    field[1] = &ctx->key.account;

    for (i = 1; i < 3 && i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        field[i - 1]->data = ngx_pnalloc(r->pool, e->len);
        if (field[i - 1]->data == NULL) {
            goto done;
        }

        ngx_memcpy(field[i - 1]->data, e->str, e->len);
        field[i - 1]->len = e->len;
    }

    ctx->redis_status = NGX_OK;
    ctx->key.found = (ngx_strcmp(st->str, "unknown") != 0);
    ctx->key.revoked = (ngx_strcmp(st->str, "revoked") == 0);
    ctx->key.expired = (ngx_strcmp(st->str, "expired") == 0);

    if (ngx_strcmp(st->str, "ok") == 0) {
        ctx->admit = NGX_HTTP_TOKENROUTE_ADMIT_OK;

        /* the fallbacks the key may use are chosen from these */

        if (reply->elements > 4
            && reply->element[4]->type == REDIS_REPLY_STRING
            && reply->element[4]->len)
        {
            e = reply->element[4];

            ctx->key.models.data = ngx_pnalloc(r->pool, e->len);
            if (ctx->key.models.data == NULL) {
                ctx->redis_status = NGX_ERROR;
                goto done;
            }

            ngx_memcpy(ctx->key.models.data, e->str, e->len);
            ctx->key.models.len = e->len;
        }

    } else if (ngx_strcmp(st->str, "forbidden") == 0) {
        ctx->admit = NGX_HTTP_TOKENROUTE_ADMIT_FORBIDDEN;

    } else if (ngx_strcmp(st->str, "credit") == 0
               || ngx_strcmp(st->str, "limit") == 0)
    {
        ctx->admit = (st->str[0] == 'c') ? NGX_HTTP_TOKENROUTE_ADMIT_CREDIT
                                         : NGX_HTTP_TOKENROUTE_ADMIT_LIMIT;

        if (reply->elements > 3
            && reply->element[3]->type == REDIS_REPLY_STRING)
        {
            e = reply->element[3];

            if (e->len && e->str[0] == '-') {
                ctx->available = 0;

            } else {
                n = ngx_atoof((u_char *) e->str, e->len);
                ctx->available = (n == NGX_ERROR) ? 0 : n;
            }
        }
    }

done:

    ngx_http_tokenroute_resume(r, ctx);
}


/*
 * Log phase: the response is over (or the client is gone).  Settle what
 * was reserved with what the provider reported.  Nothing here may keep a
 * reference to r: the request is freed right after.
 */

static ngx_int_t
ngx_http_tokenroute_log_handler(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t         *ctx;
    ngx_http_tokenroute_settlement_t   s;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL || ctx->admit != NGX_HTTP_TOKENROUTE_ADMIT_OK
        || ctx->settled)
    {
        return NGX_OK;
    }

    ctx->settled = 1;

    ngx_http_tokenroute_usage_finalize(r, ctx);

    ngx_memzero(&s, sizeof(ngx_http_tokenroute_settlement_t));

    ngx_memcpy(s.request_id, ctx->request_id,
               NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
    ngx_memcpy(s.key_hash, ctx->key_hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);

    s.key_id_len = ngx_min(ctx->key.id.len, sizeof(s.key_id));
    ngx_memcpy(s.key_id, ctx->key.id.data, s.key_id_len);

    s.account_len = ngx_min(ctx->key.account.len, sizeof(s.account));
    ngx_memcpy(s.account, ctx->key.account.data, s.account_len);

    s.model_len = ngx_min(ctx->model->id.len, sizeof(s.model));
    ngx_memcpy(s.model, ctx->model->id.data, s.model_len);

    s.cost = ctx->cost;
    s.input = ctx->usage.input_tokens + ctx->usage.cached_tokens
              + ctx->usage.cache_write_tokens;
    s.output = ctx->usage.output_tokens;
    s.cached = ctx->usage.cached_tokens;
    s.estimated = ctx->estimated;
    s.time = ngx_time();

    ngx_http_tokenroute_settle(&s);

    return NGX_OK;
}


/*
 * What the request is charged: the provider's own report where there is
 * one.  A stream cut short (client gone, provider failure) is charged for
 * what was produced: the larger of the reported and the estimated output,
 * marked as estimated.  An error status costs nothing.
 */

void
ngx_http_tokenroute_usage_finalize(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int64_t                           estimate;
    tokenroute_usage_t               *u;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_response_t   *resp;

    if (ctx->usage_done) {
        return;
    }

    ctx->usage_done = 1;

    u = &ctx->usage;
    resp = ctx->resp;
    m = ctx->model;

    if (resp == NULL || resp->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* no provider response, or an error status: nothing produced */
        ngx_memzero(u, sizeof(tokenroute_usage_t));
        ctx->cost = 0;
        return;
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_EMBEDDINGS) {
        /* embeddings produce no tokens, and report only input */
        u->output_tokens = 0;

    } else if (!resp->complete || !u->seen_output) {
        estimate = tokenroute_usage_estimate_output(u);

        if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON && !u->seen_output) {
            estimate = (resp->body_bytes + 3) / 4;
        }

        if (estimate > u->output_tokens || !u->seen_output) {
            u->output_tokens = ngx_max(estimate, u->output_tokens);
            ctx->estimated = 1;
        }
    }

    if (!u->seen_input) {
        u->input_tokens = (ctx->body.len + 3) / 4;
        ctx->estimated = 1;
    }

    ctx->cost = tokenroute_usage_cost(u, m->input_price,
                                      m->cached_input_price,
                                      m->output_price);

    if (ctx->cost < 0) {
        ctx->cost = 0;
    }
}
