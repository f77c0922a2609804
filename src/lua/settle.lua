-- Copyright (C) tokenroute authors
--
-- Settlement (src/ngx_http_tokenroute_settle.c).
--
-- ARGV: the number of releases, their request ids; then groups of
-- settlements of the same account, tenant, key, model and hour: account,
-- tenant ("" for none), key hash, key id, model, day, hour, count; then
-- count times request id, cost, input, output, cached, estimated,
-- unbilled, clamped, fail.  Returns how many were charged (a replay is
-- not, nor a release).
--
-- fail is 1 for a request on which every attempt failed (charged
-- nothing: the gateway sends it under the model the client asked for):
-- it counts in the usage field "fail" instead of "req".
--
-- A release gives a reservation back without charging anything: its
-- request never ran (its admission reply came too late, or its client
-- left before it).  A release of a request with no reservation does
-- nothing.
--
-- The reservation record (src/lua/admission.lua) says what it holds:
-- "key hash amount account tenant key-pid tenant-pid tokens minute" ("-"
-- for none), or the 3 first fields alone (written before tenants and
-- periods: none).  Its amount is given back to the key, the account and
-- the tenant; the cost is charged to the account (credit, spent), the
-- key and the tenant (spent, and pspent, the period's, only when the
-- reservation's pid is still the record's: a reservation made in a
-- period now over is charged to that period, and counts no more against
-- the new one; "spent" is lifetime).
--
-- Idempotency costs no marker per request: a request's reservation is
-- settled once, and deleted then; one released by the sweep because its
-- settlement was late leaves a "swept" marker for that settlement (its
-- record, or "1" from an older sweep: no period).
--
-- Nothing is written before everything is checked: Redis keeps the
-- writes a script made before an error, so a batch failing half-way
-- would be charged again at each replay.  Every input is checked (an
-- amount is digits below 2^53, where doubles are exact; the characters
-- of all amounts, and of all request ids, are checked with one pattern
-- match each: one per field would cost more than the rest of the
-- script), then every hash the batch writes is read, tenants' and
-- period ids included (a key of the wrong type, or a field that is not
-- an integer, fails there), then the writes are made.  A bad batch is
-- refused whole ("bad settlement N: why", N counting releases and
-- settlements from 1), and the gateway splits it to find the bad one.
--
-- Sums are Lua numbers (doubles), exact below 2^53, and are written as
-- integers with %.0f: Lua's own number-to-string would use an exponent.
--
-- Aggregates (src/ngx_http_tokenroute_lease.c): a settlement whose
-- request id is "flush id:lease id:count" sums count requests admitted
-- from a lease (its fail field counts those that failed).  It is
-- charged once per flush id ("tr:fl:<flush id>", kept 8 days, is the
-- marker), in the key's and tenant's current period, and, while the
-- lease lives, its cost comes off the lease's outstanding amount and
-- the levels' reserved (at most what is outstanding); a lease swept or
-- closed gave its reservation back already: the cost is charged alone.
--
-- Rate state (README "Rate limits"): each reservation settled or released
-- drops its key's "inflight" by one, and its tokens, counted in "tn" at
-- admission, are replaced by the actual ones (input + output; none for a
-- release) while the reservation's minute is still the key's "twin".
-- Neither goes below 0; a damaged counter is left alone, never blocking
-- a charge.

local F, MAX = 9, 9007199254740992
local names = {'req', 'cost', 'in', 'out', 'cached', 'est', 'unbilled',
  'clamped', 'fail'}
local function bad(i, why)
  return redis.error_reply('bad settlement ' .. i .. ': ' .. why)
end
local function int(x)
  return x and #x > 0 and #x <= 16 and not string.find(x, '%D')
         and tonumber(x) < MAX
end
local function name(x, n, chars)
  return x and #x > 0 and #x <= n and not string.find(x, chars)
end
local function isid(x) return name(x, 64, '[^%w_-]') end
local nrel = ARGV[1]
if not int(nrel) or tonumber(nrel) >= #ARGV then
  return bad(1, 'release count')
end
nrel = tonumber(nrel)
local rl, nums, i, a, agg = {}, {}, 0, 2, {}
local nint = ': not an integer below 2^53'
for j = 1, nrel do
  i = i + 1
  if not isid(ARGV[a]) then return bad(i, 'request id') end
  rl[i] = ARGV[a]
  a = a + 1
end
local first = a
while a <= #ARGV do
  local n = ARGV[a + 7]
  if not n then return bad(i + 1, 'group fields missing') end
  if not name(ARGV[a], 128, '[^%w%._:@-]') then
    return bad(i + 1, 'account')
  end
  if ARGV[a + 1] ~= '' and not name(ARGV[a + 1], 64, '[^%w._@-]') then
    return bad(i + 1, 'tenant')
  end
  if not name(ARGV[a + 2], 64, '%W') then return bad(i + 1, 'key hash') end
  if not name(ARGV[a + 3], 32, '[%c%s|]') then
    return bad(i + 1, 'key id')
  end
  if not name(ARGV[a + 4], 256, '[%c%s|]') then
    return bad(i + 1, 'model')
  end
  if not string.match(ARGV[a + 5], '^%d%d%d%d%d%d%d%d$')
     or not string.match(ARGV[a + 6], '^' .. ARGV[a + 5] .. '%d%d$')
  then
    return bad(i + 1, 'day or hour')
  end
  if not int(n) or n == '0' or a + 7 + tonumber(n) * F > #ARGV then
    return bad(i + 1, 'count ' .. n)
  end
  a = a + 8
  for j = 1, tonumber(n) do
    i = i + 1
    rl[i] = ARGV[a]
    if #rl[i] == 0 or #rl[i] > 64 then return bad(i, 'request id') end
    local fid, lid, cnt = string.match(rl[i], '^([%w_-]+):([%w_-]+):(%d+)$')
    if fid then
      if #cnt > 9 or tonumber(ARGV[a + F - 1]) > tonumber(cnt) then
        return bad(i, 'aggregate count')
      end
      agg[i] = {fid = fid, lid = lid, n = tonumber(cnt)}
      rl[i] = lid
    elseif string.find(rl[i], ':', 1, true) then
      return bad(i, 'request id')
    end
    for f = 2, F do
      local x = ARGV[a + f - 1]
      nums[#nums + 1] = x
      if #x > 16 or (tonumber(x) or MAX) >= MAX then
        return bad(i, names[f] .. ' ' .. string.sub(x, 1, 24) .. nint)
      end
    end
    if not agg[i] and ARGV[a + F - 1] ~= '0' and ARGV[a + F - 1] ~= '1'
    then
      return bad(i, 'fail ' .. string.sub(ARGV[a + F - 1], 1, 24))
    end
    a = a + F
  end
end
local s = table.concat(nums, ',')
if string.find(s, '[^%d,]') then
  for p, x in ipairs(nums) do
    if string.find(x, '%D') then
      return bad(nrel + math.floor((p - 1) / (F - 1)) + 1,
                 names[(p - 1) % (F - 1) + 2] .. ' ' .. x .. nint)
    end
  end
end
s = table.concat(rl, ' ')
local _, spaces = string.gsub(s, ' ', '')
if spaces ~= #rl - 1 or string.find(s, '[^%w_ -]') then
  for p, x in ipairs(rl) do
    if not isid(x) then return bad(p, 'request id') end
  end
end
if #rl == 0 then return 0 end
local v = redis.call('HMGET', 'tr:rsvd', unpack(rl))
local seen, live, swept, adds, ttl, periods = {}, {}, {}, {}, {}, {}
local flushed, leases = {}, {}
local charged = 0
local function add(k, f, x)
  if x == 0 or not k then return end
  local h = adds[k]
  if not h then h = {} adds[k] = h end
  h[f] = (h[f] or 0) + x
end
-- a key's record, by the hash a reservation names: a rotated key left
-- a forwarding record {moved = <key id>} there (src/lua/ctl_keys.lua),
-- followed through tr:keyid:; a deleted key nothing, and settlement
-- never creates a record (nil: the account and usage are charged alone)
local recs = {}
local function keyrec(kh)
  local r = recs[kh]
  if r == nil then
    r = 'tr:key:' .. kh
    local m = redis.pcall('HMGET', r, 'id', 'moved')
    if not m.err and not m[1] then
      if m[2] then
        local nh = redis.pcall('GET', 'tr:keyid:' .. m[2])
        r = type(nh) == 'string' and 'tr:key:' .. nh or false
      elseif redis.call('EXISTS', r) == 0 then
        r = false
      end
    end
    recs[kh] = r
  end
  return r or nil
end
-- a reservation record: "key hash, amount, account" (an older gateway's),
-- then "tenant, key pid, tenant pid, tokens, minute" ("-": none); nil
-- when it is no record
local function record(x)
  local f = {}
  for w in string.gmatch(x, '%S+') do f[#f + 1] = w end
  if #f ~= 3 and #f ~= 8 or not int(f[2]) then return nil end
  local function none(y) return y and y ~= '-' and y or nil end
  return {kh = f[1], amt = tonumber(f[2]), acct = f[3],
          tenant = none(f[4]) and 'tr:tenant:' .. f[3] .. '|' .. f[4],
          kpid = none(f[5]), tpid = none(f[6]),
          tokens = int(f[7]) and tonumber(f[7]), minute = f[8]}
end
-- a reservation's amount back to every level it was made on
local function unreserve(rec)
  add(keyrec(rec.kh), 'reserved', -rec.amt)
  add('tr:acct:' .. rec.acct, 'reserved', -rec.amt)
  if rec.tenant then add(rec.tenant, 'reserved', -rec.amt) end
end
-- a cost to charge to the period pid of a record, if still its period
local function period_charge(k, pid, cost)
  if not k or not pid or cost == 0 then return end
  local p = periods[k]
  if not p then p = {} periods[k] = p end
  p[pid] = (p[pid] or 0) + cost
end
-- the rate state a reservation gives back to a record (the hash k of its
-- key, or of its tenant), tokens being its actual ones: one request in
-- flight ends, and its tokens are corrected in the minute it counted in
local back = {}
local function rate_back(k, rec, tokens)
  local b = back[k]
  if not b then b = {n = 0, tn = {}} back[k] = b end
  b.n = b.n + 1
  if rec.tokens and rec.minute then
    b.tn[rec.minute] = (b.tn[rec.minute] or 0) + tokens - rec.tokens
  end
end
-- a reservation's rate state back to its records: its key's, its
-- tenant's
local function rate_end(rec, tokens)
  local k = rec and keyrec(rec.kh)
  if k then rate_back(k, rec, tokens) end
  if rec and rec.tenant then rate_back(rec.tenant, rec, tokens) end
end
-- read before any write: a record that is no hash fails the batch here
local function rate_adds()
  for k, b in pairs(back) do
    local cur = redis.pcall('HMGET', k, 'inflight', 'twin', 'tn')
    if cur.err then
      return redis.error_reply('bad settlement: ' .. k .. ': ' .. cur.err)
    end
    local inflight = cur[1] and string.match(cur[1], '^%d+$')
    if inflight and #inflight <= 15 then
      add(k, 'inflight', -math.min(b.n, tonumber(inflight)))
    end
    local tn = cur[3] and string.match(cur[3], '^%d+$')
    if tn and #tn <= 15 and cur[2] and b.tn[cur[2]] then
      add(k, 'tn', math.max(b.tn[cur[2]], -tonumber(tn)))
    end
  end
end
for j = 1, nrel do
  if not seen[rl[j]] and v[j] then
    local rec = record(v[j])
    if rec then unreserve(rec) end
    rate_end(rec, 0)
    live[#live + 1] = rl[j]
  end
  seen[rl[j]] = true
end
a, i = first, nrel
while a <= #ARGV do
  local acct, kh, n = ARGV[a], ARGV[a + 2], tonumber(ARGV[a + 7])
  local tk = ARGV[a + 1] ~= '' and 'tr:tenant:' .. acct .. '|' .. ARGV[a + 1]
  local p = acct .. '|' .. ARGV[a + 1] .. '|' .. ARGV[a + 3] .. '|'
            .. ARGV[a + 4] .. '|'
  local d, h = 'tr:u:d:' .. ARGV[a + 5], 'tr:u:h:' .. ARGV[a + 6]
  local u = {0, 0, 0, 0, 0, 0, 0, 0, 0}
  a = a + 8
  for j = 1, n do
    i = i + 1
    local rid, rec, found = ARGV[a], nil, false
    local g = agg[i]
    if g then
      -- seen: this batch's; the marker: an earlier one's
      if not seen[g.fid] and redis.call('EXISTS', 'tr:fl:' .. g.fid) == 0
      then
        seen[g.fid] = true
        flushed[#flushed + 1] = 'tr:fl:' .. g.fid
        local cost = tonumber(ARGV[a + 1])
        charged = charged + g.n
        u[1] = u[1] + g.n - tonumber(ARGV[a + F - 1])
        for f = 2, F do u[f] = u[f] + tonumber(ARGV[a + f - 1]) end
        period_charge(keyrec(kh), '*', cost)
        if tk then period_charge(tk, '*', cost) end
        local lr = v[i] and record(v[i])
        if lr and cost > 0 then
          local l = leases[g.lid]
          if not l then
            l = {rec = lr, cost = 0}
            leases[g.lid] = l
          end
          local take = math.min(cost, lr.amt - l.cost)
          if take > 0 then
            l.cost = l.cost + take
            add(keyrec(lr.kh), 'reserved', -take)
            add('tr:acct:' .. lr.acct, 'reserved', -take)
            if lr.tenant then add(lr.tenant, 'reserved', -take) end
          end
        end
      end
      rid = nil
    end
    if rid and not seen[rid] then
      seen[rid] = true
      if v[i] then
        rec, found = record(v[i]), true
        if rec then unreserve(rec) end
        rate_end(rec, tonumber(ARGV[a + 2]) + tonumber(ARGV[a + 3]))
        live[#live + 1] = rid
      else
        -- not a string (edited by hand): a marker all the same
        local m = redis.pcall('GET', 'tr:swept:' .. rid)
        if m then
          rec, found = type(m) == 'string' and record(m), true
          swept[#swept + 1] = 'tr:swept:' .. rid
        end
      end
    end
    if found then
      local cost = tonumber(ARGV[a + 1])
      charged = charged + 1
      u[1] = u[1] + 1 - tonumber(ARGV[a + F - 1])
      for f = 2, F do u[f] = u[f] + tonumber(ARGV[a + f - 1]) end
      if rec then
        period_charge(keyrec(kh), rec.kpid, cost)
        if tk then period_charge(tk, rec.tpid, cost) end
      end
    end
    a = a + F
  end
  if u[1] + u[F] > 0 then
    local k, ak = keyrec(kh), 'tr:acct:' .. acct
    add(k, 'spent', u[2])
    add(ak, 'credit', -u[2])
    add(ak, 'spent', u[2])
    if tk then add(tk, 'spent', u[2]) end
    for f = 1, F do
      add(d, p .. names[f], u[f])
      add(h, p .. names[f], u[f])
    end
    ttl[d] = 34560000
    ttl[h] = 691200
  end
end
local err = rate_adds()
if err then return err end
-- the period charges, on the records still in the reservation's period
for k, pc in pairs(periods) do
  local cur = redis.pcall('HGET', k, 'pid')
  if type(cur) == 'table' and cur.err then
    return redis.error_reply('bad settlement: ' .. k .. ': ' .. cur.err)
  end
  if cur and pc[cur] then add(k, 'pspent', pc[cur]) end
  if cur and pc['*'] then add(k, 'pspent', pc['*']) end
end
for k, fields in pairs(adds) do
  local fl = {}
  for f in pairs(fields) do fl[#fl + 1] = f end
  local cur = redis.pcall('HMGET', k, unpack(fl))
  if cur.err then
    return redis.error_reply('bad settlement: ' .. k .. ': ' .. cur.err)
  end
  for j, f in ipairs(fl) do
    local x = cur[j] and string.match(cur[j], '^-?(%d+)$')
    if cur[j] and (not x or #x > 18) then
      return redis.error_reply('bad settlement: ' .. k .. ' ' .. f
                               .. ': not an integer')
    end
  end
end
if #live > 0 then
  local t = redis.call('TYPE', 'tr:rsv').ok
  if t ~= 'zset' and t ~= 'none' then
    return redis.error_reply('bad settlement: tr:rsv is a ' .. t)
  end
end
if #swept > 0 then redis.call('DEL', unpack(swept)) end
for _, m in ipairs(flushed) do redis.call('SET', m, '1', 'EX', 691200) end
for lid, l in pairs(leases) do
  local r = l.rec
  redis.call('HSET', 'tr:rsvd', lid, table.concat({r.kh,
             string.format('%.0f', r.amt - l.cost), r.acct,
             r.tenant and string.match(r.tenant, '|(.*)$') or '-',
             '-', '-', '-', '-'}, ' '))
end
for k, fields in pairs(adds) do
  for f, x in pairs(fields) do
    if x ~= 0 then
      redis.call('HINCRBY', k, f, string.format('%.0f', x))
    end
  end
end
for b, secs in pairs(ttl) do
  if redis.call('TTL', b) == -1 then redis.call('EXPIRE', b, secs) end
end
if #live > 0 then
  redis.call('HDEL', 'tr:rsvd', unpack(live))
  redis.call('ZREM', 'tr:rsv', unpack(live))
end
return charged
