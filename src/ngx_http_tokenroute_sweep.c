
/*
 * Copyright (C) tokenroute authors
 *
 * The reservation sweep: every worker, once a second, off the admission
 * path, releases the reservations past their deadline
 * (tokenroute_reservation_ttl), whose requests will never settle (their
 * nginx was killed).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_sweep.h"


static void ngx_http_tokenroute_sweep_reply(void *data, redisReply *reply);


/*
 * ARGV: now.  Releases reservations past their deadline, whose requests
 * will never settle (their nginx was killed), or settle late and find
 * the "swept" marker.  Returns how many.  Like the settlement it checks
 * before it writes: a reservation whose key or account cannot be
 * written is not released but moved to the dead letters ("tr:dead":
 * request id, its record, why), so the others are not held up by it.
 */

static ngx_str_t  ngx_http_tokenroute_sweep_lua = ngx_string(
"local stale = redis.call('ZRANGEBYSCORE', 'tr:rsv', '-inf', ARGV[1],\n"
"                         'LIMIT', 0, 64)\n"
"if #stale == 0 then return 0 end\n"
"local v = redis.call('HMGET', 'tr:rsvd', unpack(stale))\n"
"local go, dead = {}, {}\n"
"for i, rid in ipairs(stale) do\n"
"  if v[i] then\n"
"    local kh, amt, acct = string.match(v[i], '^(%S+) (%d+) (.*)$')\n"
"    local why = nil\n"
"    if amt and #amt > 16 then\n"
"      why = 'amount'\n"
"    elseif amt and amt ~= '0' then\n"
"      for _, k in ipairs({'tr:key:' .. kh, 'tr:acct:' .. acct}) do\n"
"        local c = redis.pcall('HGET', k, 'reserved')\n"
"        if type(c) == 'table' and c.err then\n"
"          why = k .. ': ' .. c.err\n"
"        elseif c and not string.match(c, '^-?%d+$') then\n"
"          why = k .. ' reserved: not an integer'\n"
"        end\n"
"        if why then break end\n"
"      end\n"
"    end\n"
"    if why then\n"
"      dead[#dead + 1] = rid .. ' ' .. v[i] .. ' swept: ' .. why\n"
"    else\n"
"      go[#go + 1] = {rid, kh, amt, acct}\n"
"    end\n"
"  end\n"
"end\n"
"if #dead > 0 then\n"
"  local t = redis.call('TYPE', 'tr:dead').ok\n"
"  if t ~= 'list' and t ~= 'none' then\n"
"    return redis.error_reply('tr:dead is a ' .. t)\n"
"  end\n"
"  redis.call('RPUSH', 'tr:dead', unpack(dead))\n"
"end\n"
"for _, r in ipairs(go) do\n"
"  if r[3] and r[3] ~= '0' then\n"
"    redis.call('HINCRBY', 'tr:key:' .. r[2], 'reserved', '-' .. r[3])\n"
"    redis.call('HINCRBY', 'tr:acct:' .. r[4], 'reserved', '-' .. r[3])\n"
"  end\n"
"  redis.call('SET', 'tr:swept:' .. r[1], '1', 'EX', 604800)\n"
"end\n"
"redis.call('HDEL', 'tr:rsvd', unpack(stale))\n"
"redis.call('ZREM', 'tr:rsv', unpack(stale))\n"
"return #stale\n");


static u_char      ngx_http_tokenroute_sweep_sha[41];
static ngx_uint_t  ngx_http_tokenroute_sweeping;


ngx_int_t
ngx_http_tokenroute_sweep_init(ngx_conf_t *cf, ngx_str_t *script)
{
    if (ngx_http_tokenroute_script_sha1(cf, &ngx_http_tokenroute_sweep_lua,
                                        ngx_http_tokenroute_sweep_sha)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *script = ngx_http_tokenroute_sweep_lua;

    return NGX_OK;
}


/* called every second: one sweep at a time per worker */

void
ngx_http_tokenroute_sweep(void)
{
    u_char      *p;
    const char  *argv[4];
    size_t       argvlen[4];
    u_char       now[NGX_TIME_T_LEN];

    if (ngx_http_tokenroute_sweeping) {
        return;
    }

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_sweep_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;

    p = ngx_sprintf(now, "%T", ngx_time());
    argv[3] = (const char *) now;
    argvlen[3] = p - now;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_sweep_reply,
                                          NULL, 4, argv, argvlen)
        != NULL)
    {
        ngx_http_tokenroute_sweeping = 1;
    }
}


static void
ngx_http_tokenroute_sweep_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_sweeping = 0;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: reservation sweep failed: %s", reply->str);

    } else if (reply && reply->type == REDIS_REPLY_INTEGER
               && reply->integer > 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tokenroute: released %L expired reservations",
                      (int64_t) reply->integer);
    }
}
