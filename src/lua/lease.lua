-- Copyright (C) tokenroute authors
--
-- Leases (src/ngx_http_tokenroute_lease.c): a slice of a key's headroom
-- reserved in Redis for one gateway, which then admits the key's
-- requests from shared memory, with no script of their own.
--
-- A lease is a reservation like a request's: a field of "tr:rsvd" (its
-- lease id: "key hash outstanding account tenant - - - -") and a member
-- of "tr:rsv" (by deadline).  Its outstanding amount counts in the key's,
-- the tenant's and the account's "reserved" exactly as a request's
-- amount does, so every cap stays hard; a lease whose gateway died is
-- released by the sweep (src/lua/sweep.lua) at its deadline, as a
-- request's reservation is.  Settlement (src/lua/settle.lua) charges the
-- aggregates of leased requests and takes their cost off the lease.
--
-- ARGV[1] "get": now, deadline, key hash, lease id, want, have ("1": the
-- gateway holds that lease).  Checks the key as src/lua/admission.lua
-- does (the same fields, the same verdicts) and, for a key that may
-- reserve and is not "exact", grants min(want, 1/8 of the headroom of
-- each level: account credit, key limit, tenant limit) on the lease,
-- creating it, and moves its deadline.  "Exact" keys get no lease: rate
-- limits on the key or its tenant (they are counted per request), a
-- tenant that does not exist.  Returns {status ("ok", "unknown",
-- "revoked", "expired"), key id, account, tenant, models, expires_at
-- (0: never; 1: damaged, expired), exact ("0"/"1"), grant, lease
-- ("live", "gone": the gateway said it held one Redis has not (swept):
-- nothing granted, "moved": the lease is reserved on another tenant
-- than the key's: nothing granted, "none")}.
--
-- ARGV[1] "back": lease id, amount, close ("1": delete the lease once
-- nothing is outstanding).  Gives back at most the outstanding amount;
-- returns what was given back.

-- period_id(period, t): src/lua/period.lua, embedded before this script

local op = ARGV[1]

-- amount_of, count_of, expiry_of, key_refusal, tenant_valid, level:
-- src/lua/keyrules.lua, embedded before this script
local function fmt(x) return string.format('%.0f', x) end
-- the lease record: key hash, outstanding, account, tenant ("-": none)
local function record(x)
  local kh, amt, acct, tn = string.match(x or '',
    '^(%S+) (%d+) (%S+) (%S+)')
  if not kh or #amt > 16 then return nil end
  return {kh = kh, amt = tonumber(amt), acct = acct, tn = tn}
end
local function write_record(lid, r)
  redis.call('HSET', 'tr:rsvd', lid, table.concat({r.kh, fmt(r.amt),
             r.acct, r.tn, '-', '-', '-', '-'}, ' '))
end
-- a key's record as settlement finds it: a rotated key's forwarding
local function keyrec(kh)
  local r = 'tr:key:' .. kh
  local m = redis.pcall('HMGET', r, 'id', 'moved')
  if m.err or m[1] then return r end
  if m[2] then
    local nh = redis.pcall('GET', 'tr:keyid:' .. m[2])
    return type(nh) == 'string' and 'tr:key:' .. nh or nil
  end
  return nil
end
-- the levels a lease's amount is reserved on
local function levels(r)
  local hs = {'tr:acct:' .. r.acct}
  local k = keyrec(r.kh)
  if k then hs[#hs + 1] = k end
  if r.tn ~= '-' then hs[#hs + 1] = 'tr:tenant:' .. r.acct .. '|' .. r.tn end
  return hs
end
local function all_int(hs)
  for _, k in ipairs(hs) do
    local c = redis.pcall('HGET', k, 'reserved')
    if type(c) == 'table' or c and not amount_of(c) then return false end
  end
  return true
end

if op == 'back' then
  local lid, amount, close = ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
  if not lid or not amount or amount < 0 then
    return redis.error_reply('bad lease: ARGV')
  end
  local r = record(redis.call('HGET', 'tr:rsvd', lid))
  if not r then return 0 end
  local give = math.min(amount, r.amt)
  local hs = levels(r)
  if not all_int(hs) then return redis.error_reply('bad lease: reserved') end
  if give > 0 then
    for _, k in ipairs(hs) do
      redis.call('HINCRBY', k, 'reserved', fmt(-give))
    end
  end
  r.amt = r.amt - give
  if close and r.amt == 0 then
    redis.call('HDEL', 'tr:rsvd', lid)
    redis.call('ZREM', 'tr:rsv', lid)
  else
    write_record(lid, r)
  end
  return give
end

if op ~= 'get' then return redis.error_reply('bad lease: op') end

local now, deadline, kh, lid = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local want, have = tonumber(ARGV[6]), ARGV[7] == '1'
if not now or not string.match(deadline or '', '^%d+$') or not kh
   or #kh == 0 or #kh > 64 or string.find(kh, '%W') or not lid
   or #lid == 0 or #lid > 64 or string.find(lid, '[^%w_-]')
   or not want or want < 0 then
  return redis.error_reply('bad lease: ARGV')
end

-- the fields admission.lua reads, in its order, then its tenant's
local f = redis.call('HMGET', 'tr:key:' .. kh, 'id', 'account', 'models',
                     'expires_at', 'revoked', 'limit', 'spent', 'reserved',
                     'rpm', 'tpm', 'concurrency', 'tenant', 'period', 'pid',
                     'pspent')
if not f[1] then return {'unknown', '', '', '', '', '0', '0', '0', 'none'} end

local acct, tname = f[2] or 'default', f[12] or ''
local exp = expiry_of(f[4])
local status = key_refusal(f[5], f[4], now) or 'ok'

local exact = count_of(f[9]) > 0 or count_of(f[10]) > 0
              or count_of(f[11]) > 0

local klv = level(now, f[6], f[13], f[14], f[15], f[7], f[8])
local tlv, tkey = nil, nil
if tname ~= '' then
  if not tenant_valid(tname)
     or redis.call('SISMEMBER', 'tr:tenants:' .. acct, tname) ~= 1 then
    exact = true
  else
    tkey = 'tr:tenant:' .. acct .. '|' .. tname
    local x = redis.call('HMGET', tkey, 'limit', 'period', 'pid', 'pspent',
                         'spent', 'reserved', 'rpm', 'tpm', 'concurrency')
    tlv = level(now, x[1], x[2], x[3], x[4], x[5], x[6])
    exact = exact or count_of(x[7]) > 0 or count_of(x[8]) > 0
            or count_of(x[9]) > 0
  end
end

local lease = redis.call('HGET', 'tr:rsvd', lid)
local rec = lease and record(lease)
local state = rec and 'live' or 'none'
local grant = 0

if rec and (rec.acct ~= acct or rec.tn ~= (tkey and tname or '-')) then
  -- the key moved to another tenant: this lease is reserved on the old
  -- one, where its give-back goes; no more on it (the gateway gives it
  -- back and takes a new one)
  state = 'moved'
elseif have and not rec then
  state = 'gone'
elseif status == 'ok' and not exact then
  local a = redis.call('HMGET', 'tr:acct:' .. acct, 'credit', 'reserved')
  local credit, held = amount_of(a[1]), amount_of(a[2])
  local room = credit and held and credit - held or 0
  if klv.left and klv.left < room then room = klv.left end
  if tlv and tlv.left and tlv.left < room then room = tlv.left end
  grant = math.max(0, math.min(want, math.floor(room / 8)))
  local hs = {'tr:acct:' .. acct, 'tr:key:' .. kh}
  if tkey then hs[#hs + 1] = tkey end
  if grant > 0 and not all_int(hs) then grant = 0 end
  if grant > 0 then
    for _, k in ipairs(hs) do
      redis.call('HINCRBY', k, 'reserved', fmt(grant))
    end
    -- a period moved on, as an admission moves it
    if klv.stale then
      redis.call('HSET', 'tr:key:' .. kh, 'pid', klv.pid, 'pspent', '0')
    end
    if tlv and tlv.stale then
      redis.call('HSET', tkey, 'pid', tlv.pid, 'pspent', '0')
    end
    rec = rec or {kh = kh, amt = 0, acct = acct,
                  tn = tkey and tname or '-'}
    rec.amt = rec.amt + grant
    write_record(lid, rec)
    state = 'live'
  end
  if rec then redis.call('ZADD', 'tr:rsv', deadline, lid) end
end

return {status, f[1], acct, tname, f[3] or '', fmt(exp),
        exact and '1' or '0', fmt(grant), state}
