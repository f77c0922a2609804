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
-- "forbidden" (the first model), "credit", "limit", "rate" (a rate
-- limit: "rate\nkey id\naccount\nretry after s\nrpm|tpm|concurrency\n
-- key|tenant\nthe limit"), or "bad": a request whose amount or tokens are
-- not digits below 2^53 (exact in a double), or whose key hash or
-- request id is malformed; nothing is written for it.
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

local now, deadline = tonumber(ARGV[1]), ARGV[2]
if not string.match(ARGV[1] or '', '^%d+$')
   or not string.match(deadline or '', '^%d+$') or #ARGV % 5 ~= 2 then
  return redis.error_reply('bad admission: ARGV')
end
local minute = math.floor(now / 60)
local keys, accts, out, h, z = {}, {}, {}, {}, {}
-- a stored amount: 0 when absent, nil when it is no integer (a damaged
-- record leaves nothing, rather than failing the whole batch)
local function amount_of(x)
  if not x or x == '' then return 0 end
  return string.match(x, '^-?%d+$') and #x <= 18 and tonumber(x) or nil
end
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
local function count_of(x)
  return x and #x <= 15 and string.match(x, '^%d+$') and tonumber(x) or 0
end
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
for a = 3, #ARGV, 5 do
  local kh, models, rid, amt = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local tok = ARGV[a + 4]
  local bad = #kh == 0 or #kh > 64 or string.find(kh, '%W')
              or #rid == 0 or #rid > 64 or string.find(rid, '[^%w_-]')
              or notint(amt) or notint(tok)
  local k = keys[kh]
  if not k and not bad then
    k = {f = redis.call('HMGET', 'tr:key:' .. kh, 'id', 'account',
                        'models', 'expires_at', 'revoked', 'limit',
                        'spent', 'reserved', unpack(RATE)), add = 0}
    k.rate = rate_state({unpack(k.f, 9, 8 + #RATE)})
    keys[kh] = k
  end
  local f, r = k and k.f, nil
  if bad then
    r = 'bad'
  elseif not f[1] then
    r = 'unknown'
  else
    local acct = f[2] or 'default'
    local who = f[1] .. '\n' .. acct
    -- an expiry that is no time (digits only, as the CLI writes): expired
    local exp = amount_of(f[4])
    if not exp or f[4] and string.find(f[4], '-', 1, true) then exp = 1 end
    local may = nil
    if f[5] == '1' then
      r = 'revoked\n' .. who
    elseif exp > 0 and now >= exp then
      r = 'expired\n' .. who
    else
      may = may_use(f[3], models)
    end
    if not may then
      -- r is set
    elseif amt == '-' then
      r = 'key\n' .. who .. '\n0\n' .. may
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
      if tok == '-' then tok = '0' end
      local amount, tokens = tonumber(amt), tonumber(tok)
      local left = nil
      if f[6] and f[6] ~= '' then
        local limit, spent = amount_of(f[6]), amount_of(f[7])
        local held = amount_of(f[8])
        left = limit and spent and held and limit - spent - held - k.add
               or 0
      end
      if ac.avail < amount then
        r = 'credit\n' .. who .. '\n' .. string.format('%.0f', ac.avail)
      elseif left and left < amount then
        r = 'limit\n' .. who .. '\n' .. string.format('%.0f', left)
      else
        r = rate_verdict(k.rate, tokens, who, 'key')
      end
      if not r then
        rate_take(k.rate, tokens)
        ac.avail = ac.avail - amount
        ac.add = ac.add + amount
        k.add = k.add + amount
        h[#h + 1] = rid
        h[#h + 1] = kh .. ' ' .. amt .. ' ' .. acct .. ' - - - ' .. tok .. ' '
                    .. k.rate.minute
        z[#z + 1] = deadline
        z[#z + 1] = rid
        r = 'ok\n' .. who .. '\n0\n' .. may
      end
    end
  end
  out[#out + 1] = r
end
for kh, k in pairs(keys) do
  rate_write('tr:key:' .. kh, k.rate)
  if k.add ~= 0 then
    redis.call('HINCRBY', 'tr:key:' .. kh, 'reserved',
               string.format('%.0f', k.add))
  end
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
return out
