-- Copyright (C) tokenroute authors
--
-- The reservation sweep (src/ngx_http_tokenroute_sweep.c).
--
-- ARGV: now.  Releases reservations past their deadline, whose requests
-- will never settle (their nginx was killed), or settle late and find
-- the "swept" marker, which holds the reservation's record.  Returns how
-- many.  The amount is given back to the key, the account and, when the
-- record names one, the tenant.  Like the settlement it checks before it
-- writes: a reservation whose key, account or tenant cannot be written
-- is not released but moved to the dead letters ("tr:dead": request id,
-- its record, why), so the others are not held up by it.
-- Each reservation released ends one of its key's requests in flight
-- ("inflight", never below 0; a damaged count is left alone).
-- A gateway's lease (src/lua/lease.lua: a record whose tokens field is
-- "-") is released the same way, its outstanding amount given back; it
-- ends no request in flight and leaves no marker (its aggregates, if
-- they come, are charged alone).

-- a key's record, as settlement finds it (src/lua/settle.lua): through
-- a rotated key's forwarding record; none for a deleted key
local function keyrec(kh)
  local r = 'tr:key:' .. kh
  local m = redis.pcall('HMGET', r, 'id', 'moved')
  if m.err or m[1] then return r end
  if m[2] then
    local nh = redis.pcall('GET', 'tr:keyid:' .. m[2])
    return type(nh) == 'string' and 'tr:key:' .. nh or nil
  end
  return redis.call('EXISTS', r) == 1 and r or nil
end

local stale = redis.call('ZRANGEBYSCORE', 'tr:rsv', '-inf', ARGV[1],
                         'LIMIT', 0, 64)
if #stale == 0 then return 0 end
local v = redis.call('HMGET', 'tr:rsvd', unpack(stale))
local go, dead = {}, {}
for i, rid in ipairs(stale) do
  if v[i] then
    local kh, amt, acct = string.match(v[i], '^(%S+) (%d+) (%S+)')
    -- the 4th field of a record of 8: its tenant ("-": none)
    local tn = string.match(v[i], '^%S+ %d+ %S+ (%S+) %S+ %S+ %S+ %S+$')
    local why, kr = nil, kh and keyrec(kh)
    local hs = {acct and 'tr:acct:' .. acct}
    if kr then hs[#hs + 1] = kr end
    if tn and tn ~= '-' then
      hs[#hs + 1] = 'tr:tenant:' .. acct .. '|' .. tn
    end
    if amt and #amt > 16 then
      why = 'amount'
    elseif amt and amt ~= '0' then
      for _, k in ipairs(hs) do
        local c = redis.pcall('HGET', k, 'reserved')
        if type(c) == 'table' and c.err then
          why = k .. ': ' .. c.err
        elseif c and not string.match(c, '^-?%d+$') then
          why = k .. ' reserved: not an integer'
        end
        if why then break end
      end
    end
    if why then
      dead[#dead + 1] = rid .. ' ' .. v[i] .. ' swept: ' .. why
    else
      go[#go + 1] = {rid, kr, amt, acct, hs, v[i],
                     tn and tn ~= '-' and hs[#hs],
                     string.match(v[i], '^%S+ %d+ %S+ %S+ %S+ %S+ %- %S+$')}
    end
  end
end
-- the requests in flight that end, by record (the hash of a key, of a
-- tenant), read before any write
local ends = {}
local function ending(k)
  if not ends[k] then
    local c = redis.pcall('HGET', k, 'inflight')
    c = type(c) == 'string' and string.match(c, '^%d+$')
    ends[k] = {left = c and #c <= 15 and tonumber(c) or 0, n = 0}
  end
  ends[k].n = ends[k].n + 1
end
for _, r in ipairs(go) do
  if r[2] and not r[8] then ending(r[2]) end
  if r[7] and not r[8] then ending(r[7]) end
end
if #dead > 0 then
  local t = redis.call('TYPE', 'tr:dead').ok
  if t ~= 'list' and t ~= 'none' then
    return redis.error_reply('tr:dead is a ' .. t)
  end
  redis.call('RPUSH', 'tr:dead', unpack(dead))
end
for _, r in ipairs(go) do
  if r[3] and r[3] ~= '0' then
    for _, k in ipairs(r[5]) do
      redis.call('HINCRBY', k, 'reserved', '-' .. r[3])
    end
  end
  -- the record: its late settlement charges the period it was made in
  if not r[8] then
    redis.call('SET', 'tr:swept:' .. r[1], r[6], 'EX', 604800)
  end
end
for k, e in pairs(ends) do
  if math.min(e.n, e.left) > 0 then
    redis.call('HINCRBY', k, 'inflight', -math.min(e.n, e.left))
  end
end
redis.call('HDEL', 'tr:rsvd', unpack(stale))
redis.call('ZREM', 'tr:rsv', unpack(stale))
return #stale
