
/*
 * Copyright (C) tokenroute authors
 *
 * Admission, batched: the key check and the reservation of every request
 * that asks in the same turn of the event loop go to Redis in one
 * EVALSHA at the end of that turn.  The script admits them one after
 * the other, atomically, exactly as separate calls would (a reservation
 * counts against the next request of the same key or account), reads
 * each key and account once, and writes one increment per key and
 * account.  Nothing waits for a timer: a lone request is sent at the end
 * of its own turn.
 *
 * A request that goes away while its admission is queued leaves its slot
 * empty, closed up when the batch is sent.  One that goes away while its
 * admission is in Redis leaves its slot empty too: when the reply says
 * it was admitted, its reservation is released at once.  When no reply
 * comes (timeout, connection lost after sending), the requests get 503
 * and their reservations, which Redis may have made, are released as
 * soon as Redis answers again.  The batch keeps the request ids for
 * that, the requests being gone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_admit.h"
#include "ngx_http_tokenroute_park.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_settle.h"
#include "tokenroute_money.h"


/* 2^53 - 1: amounts the scripts take, exact in their doubles */
#define NGX_HTTP_TOKENROUTE_EXACT  9007199254740991LL

#define NGX_HTTP_TOKENROUTE_ADMIT_BATCH   32
#define NGX_HTTP_TOKENROUTE_ADMIT_FIELDS  4

#define NGX_HTTP_TOKENROUTE_ADMIT_ARGC                                       \
    (5 + NGX_HTTP_TOKENROUTE_ADMIT_BATCH * NGX_HTTP_TOKENROUTE_ADMIT_FIELDS)

/* batches kept for reuse */
#define NGX_HTTP_TOKENROUTE_ADMIT_FREE    64


typedef struct ngx_http_tokenroute_admit_batch_s
    ngx_http_tokenroute_admit_batch_t;

struct ngx_http_tokenroute_admit_batch_s {
    ngx_http_tokenroute_admit_batch_t  *next;   /* to send, or free */
    ngx_http_request_t                 *reqs[NGX_HTTP_TOKENROUTE_ADMIT_BATCH];
    ngx_uint_t                          n;
    ngx_uint_t                          sent;
    u_char                              rids[NGX_HTTP_TOKENROUTE_ADMIT_BATCH]
                                        [NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
};


static void ngx_http_tokenroute_admit_flush(ngx_event_t *ev);
static void ngx_http_tokenroute_admit_send(
    ngx_http_tokenroute_admit_batch_t *b);
static void ngx_http_tokenroute_admit_reply(void *data, redisReply *reply);
static void ngx_http_tokenroute_admit_parse(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, redisReply *e);
static ngx_int_t ngx_http_tokenroute_admit_field(ngx_http_request_t *r,
    ngx_str_t *to, u_char *from, u_char *last);
static void ngx_http_tokenroute_admit_cleanup(void *data);
static void ngx_http_tokenroute_admit_free(
    ngx_http_tokenroute_admit_batch_t *b);


/*
 * ARGV: now, deadline, then 4 fields per request: key hash, model,
 * request id, amount.  Returns one string per request, its fields
 * separated by "\n": status, key id, account, available (for a 402),
 * the key's allowed models.  A request whose amount is not digits below
 * 2^53 (exact in a double), or whose key hash or request id is
 * malformed, is answered "bad" and nothing is written for it.
 *
 * A reservation is a field of one hash, "tr:rsvd" (request id: "key hash
 * amount account"), and a member of the sorted set "tr:rsv" (by
 * deadline): a whole batch's take two writes, not two per request.
 */

static ngx_str_t  ngx_http_tokenroute_admit_lua = ngx_string(
"local now, deadline = tonumber(ARGV[1]), ARGV[2]\n"
"if not string.match(ARGV[1] or '', '^%d+$')\n"
"   or not string.match(deadline or '', '^%d+$') or #ARGV % 4 ~= 2 then\n"
"  return redis.error_reply('bad admission: ARGV')\n"
"end\n"
"local keys, accts, out, h, z = {}, {}, {}, {}, {}\n"
"local function allowed(list, model)\n"
"  for m in string.gmatch(list, '[^,]+') do\n"
"    if m == model then return true end\n"
"  end\n"
"  return false\n"
"end\n"
"for a = 3, #ARGV, 4 do\n"
"  local kh, model, rid, amt = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]\n"
"  local bad = #amt == 0 or #amt > 16 or string.find(amt, '%D')\n"
"              or tonumber(amt) >= 9007199254740992\n"
"              or #kh == 0 or #kh > 64 or string.find(kh, '%W')\n"
"              or #rid == 0 or #rid > 64 or string.find(rid, '[^%w_-]')\n"
"  local k = keys[kh]\n"
"  if not k and not bad then\n"
"    k = {f = redis.call('HMGET', 'tr:key:' .. kh, 'id', 'account',\n"
"                        'models', 'expires_at', 'revoked', 'limit',\n"
"                        'spent', 'reserved'), add = 0}\n"
"    keys[kh] = k\n"
"  end\n"
"  local f, r = k and k.f, nil\n"
"  if bad then\n"
"    r = 'bad'\n"
"  elseif not f[1] then\n"
"    r = 'unknown'\n"
"  else\n"
"    local acct = f[2] or 'default'\n"
"    local who = f[1] .. '\\n' .. acct\n"
"    local exp = tonumber(f[4] or '0') or 0\n"
"    if f[5] == '1' then\n"
"      r = 'revoked\\n' .. who\n"
"    elseif exp > 0 and now >= exp then\n"
"      r = 'expired\\n' .. who\n"
"    elseif f[3] and f[3] ~= '' and not allowed(f[3], model) then\n"
"      r = 'forbidden\\n' .. who\n"
"    else\n"
"      local ac = accts[acct]\n"
"      if not ac then\n"
"        local x = redis.call('HMGET', 'tr:acct:' .. acct, 'credit',\n"
"                             'reserved')\n"
"        ac = {avail = (tonumber(x[1]) or 0) - (tonumber(x[2]) or 0),\n"
"              add = 0}\n"
"        accts[acct] = ac\n"
"      end\n"
"      local amount = tonumber(amt)\n"
"      local left = nil\n"
"      if f[6] and f[6] ~= '' then\n"
"        left = tonumber(f[6]) - (tonumber(f[7]) or 0)\n"
"               - (tonumber(f[8]) or 0) - k.add\n"
"      end\n"
"      if ac.avail < amount then\n"
"        r = 'credit\\n' .. who .. '\\n' .. string.format('%.0f', ac.avail)\n"
"      elseif left and left < amount then\n"
"        r = 'limit\\n' .. who .. '\\n' .. string.format('%.0f', left)\n"
"      else\n"
"        ac.avail = ac.avail - amount\n"
"        ac.add = ac.add + amount\n"
"        k.add = k.add + amount\n"
"        h[#h + 1] = rid\n"
"        h[#h + 1] = kh .. ' ' .. amt .. ' ' .. acct\n"
"        z[#z + 1] = deadline\n"
"        z[#z + 1] = rid\n"
"        r = 'ok\\n' .. who .. '\\n0\\n' .. (f[3] or '')\n"
"      end\n"
"    end\n"
"  end\n"
"  out[#out + 1] = r\n"
"end\n"
"for kh, k in pairs(keys) do\n"
"  if k.add ~= 0 then\n"
"    redis.call('HINCRBY', 'tr:key:' .. kh, 'reserved',\n"
"               string.format('%.0f', k.add))\n"
"  end\n"
"end\n"
"for acct, ac in pairs(accts) do\n"
"  if ac.add ~= 0 then\n"
"    redis.call('HINCRBY', 'tr:acct:' .. acct, 'reserved',\n"
"               string.format('%.0f', ac.add))\n"
"  end\n"
"end\n"
"if #z > 0 then\n"
"  redis.call('HSET', 'tr:rsvd', unpack(h))\n"
"  redis.call('ZADD', 'tr:rsv', unpack(z))\n"
"end\n"
"return out\n");
static ngx_int_t ngx_http_tokenroute_admit_queue(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


static u_char  ngx_http_tokenroute_admit_sha[41];

/* the batch being filled, and the full ones waiting for the flush */
static ngx_http_tokenroute_admit_batch_t   *ngx_http_tokenroute_admit_current;
static ngx_http_tokenroute_admit_batch_t   *ngx_http_tokenroute_admit_full;

static ngx_http_tokenroute_admit_batch_t   *ngx_http_tokenroute_admit_freelist;
static ngx_uint_t                           ngx_http_tokenroute_admit_nfree;

static ngx_event_t                          ngx_http_tokenroute_admit_event;


ngx_int_t
ngx_http_tokenroute_admit_init(ngx_conf_t *cf, ngx_str_t *script)
{
    if (ngx_http_tokenroute_script_sha1(cf, &ngx_http_tokenroute_admit_lua,
                                        ngx_http_tokenroute_admit_sha)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *script = ngx_http_tokenroute_admit_lua;

    return NGX_OK;
}


/* queues the request's admission; NGX_AGAIN: the reply resumes it */

static ngx_int_t
ngx_http_tokenroute_admit_queue(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_event_t                        *ev;
    ngx_pool_cleanup_t                 *cln;
    ngx_http_tokenroute_admit_batch_t  *b;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    b = ngx_http_tokenroute_admit_current;

    if (b && b->n == NGX_HTTP_TOKENROUTE_ADMIT_BATCH) {
        b->next = ngx_http_tokenroute_admit_full;
        ngx_http_tokenroute_admit_full = b;
        b = NULL;
    }

    if (b == NULL) {
        b = ngx_http_tokenroute_admit_freelist;

        if (b) {
            ngx_http_tokenroute_admit_freelist = b->next;
            ngx_http_tokenroute_admit_nfree--;

        } else {
            b = ngx_alloc(sizeof(ngx_http_tokenroute_admit_batch_t),
                          r->connection->log);
            if (b == NULL) {
                return NGX_ERROR;
            }
        }

        b->next = NULL;
        b->n = 0;
        b->sent = 0;

        ngx_http_tokenroute_admit_current = b;
    }

    ctx->admit_batch = b;
    ctx->admit_slot = b->n;
    b->reqs[b->n++] = r;

    cln->handler = ngx_http_tokenroute_admit_cleanup;
    cln->data = ctx;

    ctx->t_sent = ngx_http_tokenroute_usec();

    ev = &ngx_http_tokenroute_admit_event;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute admission: queued, reserve %L, slot %ui",
                   ctx->reserve, ctx->admit_slot);

    if (!ev->posted) {
        ev->handler = ngx_http_tokenroute_admit_flush;
        ev->log = ngx_cycle->log;
        ngx_post_event(ev, &ngx_posted_events);
    }

    return NGX_AGAIN;
}


/* the request is freed: its slot is left empty */

static void
ngx_http_tokenroute_admit_cleanup(void *data)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    ngx_http_tokenroute_admit_batch_t  *b;

    b = ctx->admit_batch;

    if (b) {
        b->reqs[ctx->admit_slot] = NULL;
        ctx->admit_batch = NULL;
    }
}


static void
ngx_http_tokenroute_admit_flush(ngx_event_t *ev)
{
    ngx_http_tokenroute_admit_batch_t  *b;

    while (ngx_http_tokenroute_admit_full) {
        b = ngx_http_tokenroute_admit_full;
        ngx_http_tokenroute_admit_full = b->next;
        ngx_http_tokenroute_admit_send(b);
    }

    b = ngx_http_tokenroute_admit_current;

    if (b) {
        ngx_http_tokenroute_admit_current = NULL;
        ngx_http_tokenroute_admit_send(b);
    }
}


static void
ngx_http_tokenroute_admit_send(ngx_http_tokenroute_admit_batch_t *b)
{
    u_char                           *p;
    ngx_uint_t                        i, n;
    ngx_http_request_t               *r;
    ngx_http_tokenroute_ctx_t        *ctx;
    ngx_http_tokenroute_main_conf_t  *trmcf;
    const char                      **arg;
    size_t                           *len;
    u_char                            now[NGX_TIME_T_LEN];
    u_char                            deadline[NGX_TIME_T_LEN];
    u_char                            amount[NGX_HTTP_TOKENROUTE_ADMIT_BATCH]
                                            [NGX_INT64_LEN];
    const char                       *argv[NGX_HTTP_TOKENROUTE_ADMIT_ARGC];
    size_t                            argvlen[NGX_HTTP_TOKENROUTE_ADMIT_ARGC];

    /* the slots of requests gone meanwhile are closed up */

    n = 0;

    for (i = 0; i < b->n; i++) {
        r = b->reqs[i];

        if (r == NULL) {
            continue;
        }

        ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);
        ctx->admit_slot = n;
        ngx_memcpy(b->rids[n], ctx->request_id,
                   NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
        b->reqs[n++] = r;
    }

    b->n = n;

    if (n == 0) {
        ngx_http_tokenroute_admit_free(b);
        return;
    }

    trmcf = ngx_http_get_module_main_conf(b->reqs[0],
                                          ngx_http_tokenroute_module);

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_admit_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;

    p = ngx_http_tokenroute_write_int(now, ngx_time());
    argv[3] = (const char *) now;
    argvlen[3] = p - now;

    p = ngx_http_tokenroute_write_int(deadline,
                                      ngx_time() + trmcf->reservation_ttl);
    argv[4] = (const char *) deadline;
    argvlen[4] = p - deadline;

    for (i = 0; i < n; i++) {
        ctx = ngx_http_get_module_ctx(b->reqs[i], ngx_http_tokenroute_module);

        arg = &argv[5 + i * NGX_HTTP_TOKENROUTE_ADMIT_FIELDS];
        len = &argvlen[5 + i * NGX_HTTP_TOKENROUTE_ADMIT_FIELDS];

        arg[0] = (const char *) ctx->key_hash;
        len[0] = NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN;
        arg[1] = (const char *) ctx->model->id.data;
        len[1] = ctx->model->id.len;
        arg[2] = (const char *) ctx->request_id;
        len[2] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

        /* no account holds 2^53 nano-USD (9 million USD): a 402 */
        p = ngx_http_tokenroute_write_int(amount[i],
                                          ngx_min(ctx->reserve,
                                                  NGX_HTTP_TOKENROUTE_EXACT));
        arg[3] = (const char *) amount[i];
        len[3] = p - amount[i];

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, b->reqs[i]->connection->log, 0,
                       "tokenroute admission: sent in a batch of %ui", n);
    }

    n = 5 + n * NGX_HTTP_TOKENROUTE_ADMIT_FIELDS;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_admit_reply, b,
                                          n, argv, argvlen)
        == NULL)
    {
        /* connection lost since the requests were queued: 503 */
        ngx_http_tokenroute_admit_reply(b, NULL);
        return;
    }

    b->sent = 1;
}


static void
ngx_http_tokenroute_admit_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_admit_batch_t  *b = data;

    ngx_uint_t                  i, lost;
    redisReply                 *e;
    ngx_http_request_t         *r;
    ngx_http_tokenroute_ctx_t  *ctx;

    /*
     * Sent, and no answer (timeout, connection lost): Redis may have made
     * the reservations, or may still make them.  An error reply means the
     * script wrote nothing.
     */

    lost = b->sent
           && (reply == NULL
               || (reply->type != REDIS_REPLY_ERROR
                   && (reply->type != REDIS_REPLY_ARRAY
                       || reply->elements != b->n)));

    if (reply
        && (reply->type != REDIS_REPLY_ARRAY || reply->elements != b->n))
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: admission failed: %s",
                      reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
        reply = NULL;
    }

    /*
     * Each request is resumed in turn; one that finishes then frees only
     * itself, and its slot is emptied before it runs.
     */

    for (i = 0; i < b->n; i++) {
        r = b->reqs[i];

        if (r == NULL) {
            /* gone while in Redis: no one will use what it was given */

            e = reply ? reply->element[i] : NULL;

            if (e && e->type == REDIS_REPLY_STRING && e->len >= 2
                && ngx_strncmp(e->str, "ok", 2) == 0
                && (e->len == 2 || e->str[2] == '\n'))
            {
                ngx_http_tokenroute_release(b->rids[i], 0);
            }

            continue;
        }

        b->reqs[i] = NULL;

        ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);
        ctx->admit_batch = NULL;
        ctx->redis_status = NGX_ERROR;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute admission: %s",
                       reply ? "answered" : "no answer");

        if (reply) {
            e = reply->element[i];

            if (e->type == REDIS_REPLY_STRING) {
                ngx_http_tokenroute_admit_parse(r, ctx, e);
            }
        }

        ngx_http_tokenroute_resume(r, ctx);
    }

    if (lost) {
        for (i = 0; i < b->n; i++) {
            ngx_http_tokenroute_release(b->rids[i], 1);
        }
    }

    ngx_http_tokenroute_admit_free(b);
}


/* "status\nkey id\naccount\navailable\nmodels", trailing fields optional */

static void
ngx_http_tokenroute_admit_parse(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, redisReply *e)
{
    u_char     *p, *last, *f[5], *end[5];
    ngx_int_t   n;
    ngx_uint_t  i, nf;

    p = (u_char *) e->str;
    last = p + e->len;

    for (nf = 0; nf < 5; nf++) {
        f[nf] = p;

        if (nf < 4) {
            p = ngx_strlchr(p, last, '\n');
            end[nf] = p ? p : last;

        } else {
            end[nf] = last;
        }

        if (p == NULL || nf == 4) {
            nf++;
            break;
        }

        p++;
    }

    if (nf > 1 && ngx_http_tokenroute_admit_field(r, &ctx->key.id, f[1],
                                                  end[1])
                  != NGX_OK)
    {
        return;
    }

    if (nf > 2 && ngx_http_tokenroute_admit_field(r, &ctx->key.account, f[2],
                                                  end[2])
                  != NGX_OK)
    {
        return;
    }

#define ngx_http_tokenroute_status_is(s)                                     \
    ((size_t) (end[0] - f[0]) == sizeof(s) - 1                               \
     && ngx_strncmp(f[0], s, sizeof(s) - 1) == 0)

    if (ngx_http_tokenroute_status_is("bad")) {
        /* the script refused what it was given: 503, as for an error */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: admission refused its arguments");
        return;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute admission: \"%*s\", key \"%V\" account \"%V\"",
                   (size_t) (end[0] - f[0]), f[0], &ctx->key.id,
                   &ctx->key.account);

    ctx->redis_status = NGX_OK;

    ctx->key.found = !ngx_http_tokenroute_status_is("unknown");
    ctx->key.revoked = ngx_http_tokenroute_status_is("revoked");
    ctx->key.expired = ngx_http_tokenroute_status_is("expired");

    if (ngx_http_tokenroute_status_is("ok")) {
        ctx->admit = NGX_HTTP_TOKENROUTE_ADMIT_OK;

        /* the fallbacks the key may use are chosen from these */

        if (nf > 4 && end[4] > f[4]
            && ngx_http_tokenroute_admit_field(r, &ctx->key.models, f[4],
                                               end[4])
               != NGX_OK)
        {
            ctx->redis_status = NGX_ERROR;
        }

    } else if (ngx_http_tokenroute_status_is("forbidden")) {
        ctx->admit = NGX_HTTP_TOKENROUTE_ADMIT_FORBIDDEN;

    } else if (ngx_http_tokenroute_status_is("credit")
               || ngx_http_tokenroute_status_is("limit"))
    {
        ctx->admit = (f[0][0] == 'c') ? NGX_HTTP_TOKENROUTE_ADMIT_CREDIT
                                      : NGX_HTTP_TOKENROUTE_ADMIT_LIMIT;

        if (nf > 3) {
            i = end[3] - f[3];

            if (i && f[3][0] == '-') {
                ctx->available = 0;

            } else {
                n = ngx_atoof(f[3], i);
                ctx->available = (n == NGX_ERROR) ? 0 : n;
            }
        }
    }

#undef ngx_http_tokenroute_status_is
}


static ngx_int_t
ngx_http_tokenroute_admit_field(ngx_http_request_t *r, ngx_str_t *to,
    u_char *from, u_char *last)
{
    to->len = last - from;
    to->data = ngx_pnalloc(r->pool, to->len);

    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, from, to->len);

    return NGX_OK;
}


static void
ngx_http_tokenroute_admit_free(ngx_http_tokenroute_admit_batch_t *b)
{
    if (ngx_http_tokenroute_admit_nfree >= NGX_HTTP_TOKENROUTE_ADMIT_FREE) {
        ngx_free(b);
        return;
    }

    b->next = ngx_http_tokenroute_admit_freelist;
    ngx_http_tokenroute_admit_freelist = b;
    ngx_http_tokenroute_admit_nfree++;
}


/*
 * The reservation: an upper bound of what the request can cost.  Input:
 * no tokenizer yields more tokens than bytes (bytes_per_token 1), priced
 * at the dearer of the input and cache read prices, and as an Anthropic
 * cache write (1.25x) where that can happen.  Output:
 * the request's output cap on that model.  The charge is clamped to the
 * same bounds (ngx_http_tokenroute_usage_finalize()), so it never exceeds
 * the reservation.  max_tokens is at most TOKENROUTE_MAX_TOKENS_LIMIT
 * (ngx_http_tokenroute_prepare()) and amounts saturate at
 * TOKENROUTE_MONEY_MAX: no product or sum here overflows.
 */

ngx_int_t
ngx_http_tokenroute_admit(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int64_t                           input, price, reserve, cost;
    ngx_uint_t                        i;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    input = ngx_http_tokenroute_input_bound(trmcf, ctx);

    /* any model of the chain may serve: reserve for the dearest */

    reserve = 0;

    for (i = 0; i < ctx->nchain; i++) {
        m = ctx->chain[i];

        /* a cache read priced above the input (odd, but configurable) */
        price = ngx_max(m->input_price, m->cached_input_price);

        if (m->provider->type == NGX_HTTP_TOKENROUTE_ANTHROPIC
            && __builtin_add_overflow(price, price / 4 + (price % 4 != 0),
                                      &price))
        {
            price = INT64_MAX;
        }

        cost = tokenroute_money_add(
                   tokenroute_money_cost(input, price),
                   tokenroute_money_cost(
                       ngx_http_tokenroute_output_cap(trmcf, ctx, m),
                       m->output_price));

        reserve = ngx_max(reserve, cost);
    }

    ctx->reserve = reserve;

    return ngx_http_tokenroute_admit_queue(r, ctx);
}


/* tokenroute_model max_output_tokens=, or tokenroute_default_max_tokens */

int64_t
ngx_http_tokenroute_max_output(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_model_t *m)
{
    return m->max_output_tokens ? m->max_output_tokens
                                : trmcf->default_max_tokens;
}


/*
 * The most output a request served by m can be charged for: its
 * max_tokens, but not above a max_output_tokens configured for m (the
 * provider would refuse or clamp it), or that model's maximum when it
 * names none.
 */

int64_t
ngx_http_tokenroute_output_cap(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m)
{
    if (ctx->api == NGX_HTTP_TOKENROUTE_API_EMBEDDINGS) {
        return 0;
    }

    if (ctx->req.max_tokens <= 0) {
        return ngx_http_tokenroute_max_output(trmcf, m);
    }

    if (m->max_output_tokens && ctx->req.max_tokens > m->max_output_tokens) {
        return m->max_output_tokens;
    }

    return ctx->req.max_tokens;
}


/* the most input a request can be charged for: its body's bytes / N */

int64_t
ngx_http_tokenroute_input_bound(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx)
{
    return (int64_t) ((ctx->body.len + trmcf->bytes_per_token - 1)
                      / trmcf->bytes_per_token);
}
