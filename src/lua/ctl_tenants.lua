-- Copyright (C) tokenroute authors
--
-- Tenants: named groups of keys inside one account (agent sessions of a
-- product, customers of a reseller), with no credit of their own but
-- their own spend ceiling, budget period and rate limits, which the
-- admission reserves against with the key's and the account's.  Run
-- behind src/lua/ctl_lib.lua by "tokenroute tenants ..." and the admin
-- API.  This script writes only the settings (limit, period, rpm, tpm,
-- concurrency); the gateway writes the spend and rate state.

local SETTINGS = {'limit', 'period', 'rpm', 'tpm', 'max_concurrent'}

local function tkey(acct, name) return 'tr:tenant:' .. acct .. '|' .. name end

-- an integer setting or counter as JSON: null when absent, "" or damaged
local function jint(x, zero_is_none)
  local n = ctl.int(x)
  if not n or x == nil or x == '' or (zero_is_none and n == 0) then
    return 'null'
  end
  return ctl.num(n)
end

local function jmoney(kv, f, n)
  kv[#kv + 1] = f .. '_usd'
  kv[#kv + 1] = n and ctl.jusd(n) or 'null'
  kv[#kv + 1] = f .. '_nusd'
  kv[#kv + 1] = ctl.num(n)
end

-- a tenant with its settings and its spend: spent (lifetime), spent in
-- the current period when it has one, reserved, remaining of its limit
local function tenant_json(h)
  local limit = (h.limit and h.limit ~= '') and ctl.int(h.limit) or nil
  local period = (h.period and h.period ~= '') and h.period or nil
  local spent, held = ctl.int(h.spent), ctl.int(h.reserved)
  local pid = period and ctl.pid(period, ctl.now) or nil
  local pspent = nil
  if pid then
    pspent = (h.pid == pid) and ctl.int(h.pspent) or 0
  end
  local counted = period and pspent or spent
  local remaining = nil
  if limit and counted and held then remaining = limit - counted - held end

  local kv = {'account', ctl.str(h.account), 'name', ctl.str(h.name),
              'created_at', jint(h.created_at)}
  jmoney(kv, 'limit', limit)
  kv[#kv + 1] = 'period'
  kv[#kv + 1] = ctl.str(period)
  kv[#kv + 1] = 'period_id'
  kv[#kv + 1] = ctl.str(pid)
  for _, f in ipairs({{'rpm', 'rpm'}, {'tpm', 'tpm'},
                      {'max_concurrent', 'concurrency'}}) do
    kv[#kv + 1] = f[1]
    kv[#kv + 1] = jint(h[f[2]], true)
  end
  jmoney(kv, 'spent', spent)
  jmoney(kv, 'period_spent', pspent)
  jmoney(kv, 'reserved', held)
  jmoney(kv, 'remaining', remaining)
  kv[#kv + 1] = 'inflight'
  kv[#kv + 1] = ctl.num(ctl.int(h.inflight))
  return ctl.obj(kv)
end

local function must_be(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= want and t ~= 'none' then
    ctl.fail(409, 'conflict', key .. ' is a ' .. t)
  end
end

local function names()
  local acct = ctl.account(ctl.need('account'), 'account')
  local name = ctl.tenant(ctl.need('name'), 'tenant')
  return acct, name
end

-- the tenant's record, or a 404
local function find(acct, name)
  local h = nil
  if redis.call('SISMEMBER', 'tr:tenants:' .. acct, name) == 1 then
    h = ctl.hash(tkey(acct, name))
  end
  if not h then
    ctl.fail(404, 'not_found', 'no such tenant: ' .. name
             .. ' in account ' .. acct)
  end
  return h
end

-- the settings given, as field/value pairs to write ("" clears) and the
-- number given
local function settings()
  local set, n = {}, 0
  local limit = ctl.p.limit
  if limit ~= nil then
    n = n + 1
    set.limit = (limit == 'none') and '' or ctl.num(ctl.usd('limit'))
  end
  local period = ctl.period('period')
  if period then n = n + 1; set.period = period end
  for _, f in ipairs({{'rpm', 'rpm'}, {'tpm', 'tpm'},
                      {'max_concurrent', 'concurrency'}}) do
    local v = ctl.p[f[1]]
    if v ~= nil then
      n = n + 1
      local c = (v == 'none') and 0 or ctl.count(f[1])
      set[f[2]] = (c == 0) and '' or ctl.num(c)
    end
  end
  return set, n
end

local function write(key, set)
  local args = {}
  for _, f in ipairs({'limit', 'period', 'rpm', 'tpm', 'concurrency'}) do
    if set[f] then
      args[#args + 1] = f
      args[#args + 1] = set[f]
    end
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
end

-- the most keys (of any status) a tenant may have for delete to look at
-- each of them in one call
local DELETE_KEYS_MAX = 1000

-- the keys that can still be used (not revoked, not expired) with this
-- tenant, from the index of its keys (tr:tenantkeys, kept by
-- src/lua/ctl_keys.lua): never a pass over every key
local function keys_of(acct, name)
  if not ctl.keys_indexed() then
    ctl.fail(409, 'conflict', 'the index of each tenant\'s keys is being '
             .. 'built for keys made by an older version: run "tokenroute '
             .. 'keys reindex", then delete the tenant')
  end
  local set = 'tr:tenantkeys:' .. acct .. '|' .. name
  must_be(set, 'set')
  local all = redis.call('SCARD', set)
  if all > DELETE_KEYS_MAX then
    ctl.fail(409, 'conflict', 'tenant ' .. name .. ' has ' .. all
             .. ' keys; delete them, or let the purge remove those '
             .. 'revoked or expired, until at most ' .. DELETE_KEYS_MAX
             .. ' are left')
  end
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    local ok, hash = pcall(redis.call, 'GET', 'tr:keyid:' .. id)
    if ok and hash then
      local ok2, k = pcall(redis.call, 'HMGET', 'tr:key:' .. hash,
                           'account', 'tenant', 'revoked', 'expires_at')
      if ok2 and (k[1] or 'default') == acct and k[2] == name
         and k[3] ~= '1'
      then
        local exp = ctl.int(k[4])
        if exp == 0 or (exp and exp > ctl.now) then n = n + 1 end
      end
    end
  end
  return n
end

local ALL = {'account', 'name', unpack(SETTINGS)}

return ctl.run{
  -- account, name, limit (USD), period (day|week|month|none), rpm, tpm,
  -- max_concurrent (0 or none: no limit)
  create = function()
    ctl.only(ALL)
    local acct, name = names()
    local set = settings()
    local listed = ctl.account_exists(acct)
    local key = tkey(acct, name)
    if redis.call('SISMEMBER', 'tr:tenants:' .. acct, name) == 1
       or redis.call('EXISTS', key) == 1
    then
      ctl.fail(409, 'conflict', 'tenant exists: ' .. name .. ' in account '
               .. acct)
    end
    must_be('tr:tenants:' .. acct, 'set')
    must_be('tr:accts', 'set')
    must_be('tr:acct:' .. acct, 'hash')
    ctl.changed('*')
    if not listed then
      redis.call('SADD', 'tr:accts', acct)
      redis.call('HSETNX', 'tr:acct:' .. acct, 'created_at',
                 ctl.num(ctl.now))
    end
    redis.call('HSET', key, 'name', name, 'account', acct,
               'created_at', ctl.num(ctl.now))
    write(key, set)
    redis.call('SADD', 'tr:tenants:' .. acct, name)
    return tenant_json(ctl.hash(key))
  end,

  -- account, name
  show = function()
    ctl.only({'account', 'name'})
    local acct, name = names()
    return tenant_json(find(acct, name))
  end,

  -- account: its tenants, sorted by name; limit, cursor: one page
  -- {"tenants": [...], "next_cursor": ...} (sorted within the page), as
  -- ctl.page() reads it
  list = function()
    ctl.only({'account', 'limit', 'cursor'})
    local acct = ctl.account(ctl.need('account'), 'account')
    if redis.call('SISMEMBER', 'tr:accts', acct) == 0
       and redis.call('EXISTS', 'tr:acct:' .. acct) == 0
       and acct ~= 'default'
    then
      ctl.fail(404, 'not_found', 'no such account: ' .. acct)
    end
    local all, nextc, paged = ctl.page('tr:tenants:' .. acct, 'tenants')
    table.sort(all)
    local out = {}
    for i, n in ipairs(all) do
      local ok, h = pcall(ctl.hash, tkey(acct, n))
      if ok and h and n ~= all[i - 1] then out[#out + 1] = tenant_json(h) end
    end
    if not paged then return ctl.arr(out) end
    return ctl.obj{'tenants', ctl.arr(out), 'next_cursor', ctl.str(nextc)}
  end,

  -- account, name and the settings to change (at least one); none (or
  -- 0 for the counts) clears one.  Changing the period starts counting
  -- the new period's spend from 0.
  update = function()
    ctl.only(ALL)
    local acct, name = names()
    local set, n = settings()
    if n == 0 then
      ctl.fail(400, 'invalid_request', 'nothing to update: give limit, '
               .. 'period, rpm, tpm or max_concurrent')
    end
    local key = tkey(acct, name)
    find(acct, name)
    ctl.changed('*')
    write(key, set)
    return tenant_json(ctl.hash(key))
  end,

  -- account, name: refused (409) while a usable key has the tenant or a
  -- request of it is in flight; its usage records stay
  delete = function()
    ctl.only({'account', 'name'})
    local acct, name = names()
    local h = find(acct, name)
    local busy = (ctl.int(h.reserved) or 1) ~= 0
                 or (ctl.int(h.inflight) or 1) ~= 0
    if busy then
      ctl.fail(409, 'conflict', 'tenant ' .. name .. ' has requests in '
               .. 'flight; try again when they are settled')
    end
    local n = keys_of(acct, name)
    if n > 0 then
      ctl.fail(409, 'conflict', 'tenant ' .. name .. ' has ' .. n
               .. ' usable key' .. (n > 1 and 's' or '') .. '; revoke, '
               .. 'delete or move them first')
    end
    ctl.changed('*')
    redis.call('DEL', tkey(acct, name))
    redis.call('SREM', 'tr:tenants:' .. acct, name)
    return ctl.obj{'account', ctl.str(acct), 'name', ctl.str(name),
                   'deleted', 'true'}
  end,
}
