-- Copyright (C) tokenroute authors
--
-- Admission (src/ngx_http_tokenroute_admission.c): the key check and the
-- reservation of a batch of requests, one after the other.
--
-- The key rules (unknown, revoked, expired, which models a key may use)
-- are here and nowhere else: every request the gateway serves gets its
-- key's verdict from this script, in the one round trip it makes to
-- Redis before being answered, whether it reserves or not.  A revoked
-- key cannot reserve, since the check and the reservation are one
-- atomic script.
--
-- ARGV: now, deadline, then 5 fields per request: key hash, models (the
-- ids the gateway asks about, separated by spaces, which no model id
-- holds: the model asked for, then its fallbacks; or the catalog for
-- GET /v1/models), request id, amount, or "-" for a request that
-- reserves nothing (only its key is checked), tokens (the input bound
-- plus the output cap: what the request counts against a tpm limit;
-- "-" with an amount "-").  Returns one string per
-- request, its fields separated by "\n": status, key id, account,
-- available (for a 402), then, for "ok" and "key", one "1" (the key may
-- use it) or "0" per model asked about.  Status: "ok" (reserved), "key"
-- (checked, nothing reserved), "unknown", "revoked", "expired",
-- "forbidden" (the first model), "credit", "limit", "tenant" (the key's
-- tenant cannot cover it), "rate" (a rate limit: "rate\nkey id\naccount\n
-- retry after s\nrpm|tpm|concurrency\nkey|tenant\nthe limit"), or
-- "bad": a request whose amount or tokens are not digits below 2^53
-- (exact in a double), or whose key hash or request id is malformed;
-- nothing is written for it.  When the key has a tenant, "ok" and "key"
-- add it as a 6th field; "credit", "limit" and "tenant" add, when either
-- is not empty, the period of the limit that ran short ("" lifetime,
-- "day", "week", "month"; "missing": the key names a tenant that does
-- not exist) and the tenant.
--
-- Three levels, checked and reserved together: the account (the bill:
-- credit - reserved), the key and its tenant ("tr:tenant:<account>|
-- <tenant>"; it exists when "tr:tenants:<account>" holds its name),
-- each of these with its own limit when it has one.  A limit with a
-- period (day, week, month: UTC calendar periods) counts "pspent", what
-- was charged in period "pid", instead of "spent"; a record whose pid is
-- older is moved to the current period (pid, and pspent 0) when it
-- reserves.  A key whose tenant does not exist can reserve nothing
-- (fail-safe: a tenant deleted, or a typo, never lifts a ceiling).
--
-- A reservation is a field of one hash, "tr:rsvd" (request id: "key hash
-- amount account tenant key-pid tenant-pid tokens minute", "-" for none),
-- and a member of the sorted set "tr:rsv" (by deadline): a whole batch's
-- take two writes, not two per request.
--
-- Rate limits (rpm, tpm, concurrency) are counted by the same script, in
-- the record's rate state, written once per record at the end: a
-- request of a batch counts against the next of the same key, exactly
-- as separate calls would.
--
-- Cooldowns the fleet shares (src/ngx_http_tokenroute_cooldown_fleet.c):
-- when ARGV has one more argument after the requests' (#ARGV % 5 == 3),
-- it is "now-ms seen[ model until status]...": the gateway's wall clock
-- in ms, the version of "tr:cooldown" it last saw, and the cooldowns it
-- started since it last published (model id, deadline in wall-clock ms,
-- the status that started it).  Each is merged into the hash
-- "tr:cooldown" (model id: "until status") when its deadline is later
-- than the one there (a later deadline wins: publishing twice, or out of
-- order, changes nothing), and then "tr:cooldown:v" is moved on (to
-- max(v + 1, now-ms): a Redis that lost its data never gives an old
-- version back).  The reply then has one more element, an array: empty
-- when "tr:cooldown:v" is still "seen" (the common path: one GET),
-- else the version then "model, until, status" of every cooldown not
-- over yet, those over (or damaged) deleted on the way.  The batch may
-- have no request at all: the cooldowns alone.  Nothing of this ever
-- fails the admission (it runs under pcall): a damaged "tr:cooldown"
-- answers no news.  A deadline more than an hour ahead of now-ms, or a
-- status that is not 3 digits, is damaged: not stored, and deleted.

local now, deadline = tonumber(ARGV[1]), ARGV[2]
if not string.match(ARGV[1] or '', '^%d+$')
   or not string.match(deadline or '', '^%d+$')
   or #ARGV % 5 ~= 2 and #ARGV % 5 ~= 3 then
  return redis.error_reply('bad admission: ARGV')
end
-- the cooldowns' argument, and the last of the requests'
local fleet = #ARGV % 5 == 3 and ARGV[#ARGV]
local last_arg = fleet and #ARGV - 1 or #ARGV
local minute = math.floor(now / 60)
local keys, accts, tenants, out, h, z = {}, {}, {}, {}, {}, {}
-- amount_of, count_of, key_refusal, tenant_valid, level:
-- src/lua/keyrules.lua, embedded before this script
-- Rate limits, over the fields of one record (a key or a tenant), in
-- the order of RATE: the limits rpm, tpm, concurrency (absent, "" or
-- "0": none), then the state: rwin, rn (requests admitted in the
-- calendar minute rwin), twin, tn (tokens counted in the minute twin),
-- inflight (admitted, not yet settled, released or swept).  A window of
-- an earlier minute counts nothing; one of the next minute (written by a
-- gateway whose clock is ahead) is the current one, so that clocks a
-- little apart never open a window twice; one further ahead is damaged
-- (no clock is that far off), and counts nothing.  A damaged field
-- counts 0.
local RATE = {'rpm', 'tpm', 'concurrency', 'rwin', 'rn', 'twin', 'tn',
  'inflight'}
local function rate_state(v)
  local s = {rpm = count_of(v[1]), tpm = count_of(v[2]),
             conc = count_of(v[3]), rwin = count_of(v[4]), rn = count_of(v[5]),
             twin = count_of(v[6]), tn = count_of(v[7]),
             inflight = count_of(v[8]), taken = false}
  if s.rwin < minute or s.rwin > minute + 1 then s.rwin, s.rn = minute, 0 end
  if s.twin < minute or s.twin > minute + 1 then s.twin, s.tn = minute, 0 end
  -- as the reservation records write it, once for the batch
  s.minute = string.format('%.0f', s.twin)
  return s
end
-- the seconds until the window of minute win is over
local function wait(win)
  return math.max(1, (win + 1) * 60 - now)
end
-- nil when a request of this many tokens may be admitted now; else which
-- limit refuses it, the seconds until it may (the next minute, or 1 for
-- concurrency: a request ends any time), and that limit
local function rate_refuses(s, tokens)
  if s.tpm > 0 and tokens > s.tpm then return 'tpm', wait(s.twin), s.tpm end
  if s.rpm > 0 and s.rn >= s.rpm then return 'rpm', wait(s.rwin), s.rpm end
  if s.tpm > 0 and s.tn + tokens > s.tpm then
    return 'tpm', wait(s.twin), s.tpm
  end
  if s.conc > 0 and s.inflight >= s.conc then
    return 'concurrency', 1, s.conc
  end
  return nil
end
-- the verdict of a record's rate limits (level: "key" or "tenant"), nil
-- when they admit the request
local function rate_verdict(s, tokens, who, level)
  local which, retry, value = rate_refuses(s, tokens)
  return which and 'rate\n' .. who .. '\n' .. retry .. '\n' .. which
                   .. '\n' .. level .. '\n' .. string.format('%.0f', value)
end
local function rate_take(s, tokens)
  s.rn, s.tn, s.inflight = s.rn + 1, s.tn + tokens, s.inflight + 1
  s.taken = true
end
local function rate_write(hash, s)
  if s.taken then
    redis.call('HSET', hash, 'rwin', s.rwin, 'rn', s.rn, 'twin', s.twin,
               'tn', string.format('%.0f', s.tn), 'inflight', s.inflight)
  end
end
-- a key's fields, read at once: 1-8 the key rules and the money, then
-- the rate fields, then its tenant and its period
local KEY = {'id', 'account', 'models', 'expires_at', 'revoked', 'limit',
  'spent', 'reserved'}
for _, f in ipairs(RATE) do KEY[#KEY + 1] = f end
for _, f in ipairs({'tenant', 'period', 'pid', 'pspent'}) do
  KEY[#KEY + 1] = f
end
-- a spend level: level(now, ...) of src/lua/keyrules.lua
local function short(lv, amount)
  return lv.left and lv.left - lv.add < amount
end
local function take(lv, amount)
  lv.add = lv.add + amount
  lv.n = lv.n + 1
end
-- a level's writes: its reserved, and its period moved on
local function write(name, lv)
  if lv.add ~= 0 then
    redis.call('HINCRBY', name, 'reserved', string.format('%.0f', lv.add))
  end
  if lv.n > 0 and lv.stale then
    redis.call('HSET', name, 'pid', lv.pid, 'pspent', '0')
  end
end
-- the reply's last fields: the period, the tenant, when not both ""
local function extra(period, tenant)
  if period == '' and tenant == '' then return '' end
  return '\n' .. period .. '\n' .. tenant
end
-- the key's models: a comma list, none meaning all
local function allowed(list, model)
  for m in string.gmatch(list, '[^,]+') do
    if m == model then return true end
  end
  return false
end
local function may_use(list, models)
  if not list or list == '' then
    if not string.find(models, ' ', 1, true) then
      return models == '' and '' or '1'
    end
    local _, n = string.gsub(models, '%S+', '')
    return string.rep('1', n)
  end
  local t = {}
  for m in string.gmatch(models, '%S+') do
    t[#t + 1] = allowed(list, m) and '1' or '0'
  end
  return table.concat(t)
end
-- digits below 2^53 (exact in a double), or "-"
local function notint(x)
  return x ~= '-' and (#x == 0 or #x > 16 or string.find(x, '%D')
                       or tonumber(x) >= 9007199254740992)
end
for a = 3, last_arg, 5 do
  local kh, models, rid, amt = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local tok = ARGV[a + 4]
  local bad = #kh == 0 or #kh > 64 or string.find(kh, '%W')
              or #rid == 0 or #rid > 64 or string.find(rid, '[^%w_-]')
              or notint(amt) or notint(tok)
  local k = keys[kh]
  if not k and not bad then
    k = {f = redis.call('HMGET', 'tr:key:' .. kh, unpack(KEY))}
    k.rate = rate_state({unpack(k.f, 9, 8 + #RATE)})
    k.tenant = k.f[9 + #RATE]
    k.lv = level(now, k.f[6], k.f[10 + #RATE], k.f[11 + #RATE],
                 k.f[12 + #RATE], k.f[7], k.f[8])
    keys[kh] = k
  end
  local f, r = k and k.f, nil
  if bad then
    r = 'bad'
  elseif not f[1] then
    r = 'unknown'
  else
    local acct, tname = f[2] or 'default', k.tenant or ''
    local who = f[1] .. '\n' .. acct
    local tvalid = tenant_valid(tname)
    if not tvalid then tname = '?' end
    local last = tname ~= '' and '\n' .. tname or ''
    local refusal, may = key_refusal(f[5], f[4], now), nil
    if refusal then
      r = refusal .. '\n' .. who
    else
      may = may_use(f[3], models)
    end
    if not may then
      -- r is set
    elseif amt == '-' then
      r = 'key\n' .. who .. '\n0\n' .. may .. last
    elseif string.sub(may, 1, 1) ~= '1' then
      r = 'forbidden\n' .. who
    else
      local ac = accts[acct]
      if not ac then
        local x = redis.call('HMGET', 'tr:acct:' .. acct, 'credit',
                             'reserved')
        local credit, held = amount_of(x[1]), amount_of(x[2])
        ac = {avail = credit and held and credit - held or 0, add = 0}
        accts[acct] = ac
      end
      local tn = tname ~= '' and acct .. '|' .. tname
      local te = tn and tenants[tn]
      if tn and not te then
        te = {missing = true,
              lv = {left = 0, add = 0, n = 0, period = 'missing'}}
        -- a tenant exists iff its account's set holds it (schema11)
        if tvalid and redis.call('SISMEMBER', 'tr:tenants:' .. acct, tname)
                      == 1
        then
          local x = redis.call('HMGET', 'tr:tenant:' .. tn, 'limit',
                               'period', 'pid', 'pspent', 'spent',
                               'reserved', unpack(RATE))
          te = {lv = level(now, x[1], x[2], x[3], x[4], x[5], x[6]),
                rate = rate_state({unpack(x, 7, 6 + #RATE)})}
        end
        tenants[tn] = te
      end
      if tok == '-' then tok = '0' end
      local amount, tokens = tonumber(amt), tonumber(tok)
      if ac.avail < amount then
        r = 'credit\n' .. who .. '\n' .. string.format('%.0f', ac.avail)
            .. extra('', tname)
      elseif short(k.lv, amount) then
        r = 'limit\n' .. who .. '\n'
            .. string.format('%.0f', k.lv.left - k.lv.add)
            .. extra(k.lv.period, tname)
      elseif te and (te.missing or short(te.lv, amount)) then
        r = 'tenant\n' .. who .. '\n'
            .. string.format('%.0f', te.lv.left - te.lv.add)
            .. extra(te.lv.period, tname)
      else
        r = rate_verdict(k.rate, tokens, who, 'key')
            or te and te.rate and rate_verdict(te.rate, tokens, who, 'tenant')
      end
      if not r then
        rate_take(k.rate, tokens)
        if te and te.rate then rate_take(te.rate, tokens) end
        ac.avail = ac.avail - amount
        ac.add = ac.add + amount
        take(k.lv, amount)
        if te then take(te.lv, amount) end
        h[#h + 1] = rid
        h[#h + 1] = table.concat({kh, amt, acct, tn and tname or '-',
                                  k.lv.pid or '-',
                                  te and te.lv.pid or '-', tok,
                                  k.rate.minute}, ' ')
        z[#z + 1] = deadline
        z[#z + 1] = rid
        r = 'ok\n' .. who .. '\n0\n' .. may .. last
      end
    end
  end
  out[#out + 1] = r
end
for kh, k in pairs(keys) do
  if k.rate then rate_write('tr:key:' .. kh, k.rate) end
  if k.lv then write('tr:key:' .. kh, k.lv) end
end
for tn, te in pairs(tenants) do
  if te.rate then rate_write('tr:tenant:' .. tn, te.rate) end
  write('tr:tenant:' .. tn, te.lv)
end
for acct, ac in pairs(accts) do
  if ac.add ~= 0 then
    redis.call('HINCRBY', 'tr:acct:' .. acct, 'reserved',
               string.format('%.0f', ac.add))
  end
end
if #z > 0 then
  redis.call('HSET', 'tr:rsvd', unpack(h))
  redis.call('ZADD', 'tr:rsv', unpack(z))
end
-- the cooldowns: under pcall, so that they never fail the batch.  A
-- window is at most COOLDOWN_MAX ms (NGX_HTTP_TOKENROUTE_COOLDOWN_MAX
-- in src/ngx_http_tokenroute_cooldown.h): a deadline beyond now + that,
-- or a status that is not 3 digits, is damaged.  At most COOLDOWN_DEL
-- fields are deleted per call, COOLDOWN_CHUNK per HDEL (unpack has a
-- limit); when more are left the version answered is 0, so that the
-- gateway reads the hash again next time, and it shrinks step by step.
local COOLDOWN_MAX, COOLDOWN_DEL, COOLDOWN_CHUNK = 3600000, 4000, 1000
local function cooldown_ok(u, s, now_ms)
  return u and #u <= 15 and #s == 3 and tonumber(u) > now_ms
         and tonumber(u) <= now_ms + COOLDOWN_MAX
end
local function cooldowns(arg)
  local now_ms, seen, rest = string.match(arg, '^(%d+) (%d+)(.*)$')
  if not now_ms or #now_ms > 15 or #seen > 15 then return {} end
  now_ms = tonumber(now_ms)
  local v = redis.pcall('GET', 'tr:cooldown:v')
  if type(v) == 'table' then return {} end
  v = v and string.match(v, '^%d+$') and #v <= 15 and v or '0'
  local moved = false
  for m, u, s in string.gmatch(rest, ' (%S+) (%d+) (%d+)') do
    if #m <= 256 and cooldown_ok(u, s, now_ms) then
      local cur = redis.pcall('HGET', 'tr:cooldown', m)
      local cu = type(cur) == 'string'
                 and string.match(cur, '^(%d+) %d%d%d$')
      if not cu or #cu > 15 or tonumber(u) > tonumber(cu)
         or tonumber(cu) > now_ms + COOLDOWN_MAX then
        local w = redis.pcall('HSET', 'tr:cooldown', m, u .. ' ' .. s)
        moved = moved or type(w) ~= 'table'
      end
    end
  end
  if moved then
    v = string.format('%.0f', math.max(tonumber(v) + 1, now_ms))
    redis.pcall('SET', 'tr:cooldown:v', v)
  end
  if v == seen then return {} end
  local all = redis.pcall('HGETALL', 'tr:cooldown')
  local live, over, more = {v}, {}, false
  if type(all) ~= 'table' or all.err then return live end
  for i = 1, #all - 1, 2 do
    local u, s = string.match(all[i + 1], '^(%d+) (%d+)$')
    if cooldown_ok(u, s, now_ms) and #all[i] <= 256 then
      live[#live + 1] = all[i]
      live[#live + 1] = u
      live[#live + 1] = s
    elseif #over < COOLDOWN_DEL then
      over[#over + 1] = all[i]
    else
      more = true
    end
  end
  for i = 1, #over, COOLDOWN_CHUNK do
    redis.pcall('HDEL', 'tr:cooldown',
                unpack(over, i, math.min(i + COOLDOWN_CHUNK - 1, #over)))
  end
  if more then live[1] = '0' end
  return live
end
if fleet then
  local done, cd = pcall(cooldowns, fleet)
  out[#out + 1] = done and type(cd) == 'table' and cd or {}
end
return out
