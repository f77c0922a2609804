-- Copyright (C) tokenroute authors
--
-- Admission (src/ngx_http_tokenroute_admit.c): the key check and the
-- reservation of a batch of requests, one after the other.
--
-- ARGV: now, deadline, then 4 fields per request: key hash, model,
-- request id, amount.  Returns one string per request, its fields
-- separated by "\n": status, key id, account, available (for a 402),
-- the key's allowed models.  A request whose amount is not digits below
-- 2^53 (exact in a double), or whose key hash or request id is
-- malformed, is answered "bad" and nothing is written for it.
--
-- A reservation is a field of one hash, "tr:rsvd" (request id: "key hash
-- amount account"), and a member of the sorted set "tr:rsv" (by
-- deadline): a whole batch's take two writes, not two per request.

local now, deadline = tonumber(ARGV[1]), ARGV[2]
if not string.match(ARGV[1] or '', '^%d+$')
   or not string.match(deadline or '', '^%d+$') or #ARGV % 4 ~= 2 then
  return redis.error_reply('bad admission: ARGV')
end
local keys, accts, out, h, z = {}, {}, {}, {}, {}
local function allowed(list, model)
  for m in string.gmatch(list, '[^,]+') do
    if m == model then return true end
  end
  return false
end
for a = 3, #ARGV, 4 do
  local kh, model, rid, amt = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local bad = #amt == 0 or #amt > 16 or string.find(amt, '%D')
              or tonumber(amt) >= 9007199254740992
              or #kh == 0 or #kh > 64 or string.find(kh, '%W')
              or #rid == 0 or #rid > 64 or string.find(rid, '[^%w_-]')
  local k = keys[kh]
  if not k and not bad then
    k = {f = redis.call('HMGET', 'tr:key:' .. kh, 'id', 'account',
                        'models', 'expires_at', 'revoked', 'limit',
                        'spent', 'reserved'), add = 0}
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
    local exp = tonumber(f[4] or '0') or 0
    if f[5] == '1' then
      r = 'revoked\n' .. who
    elseif exp > 0 and now >= exp then
      r = 'expired\n' .. who
    elseif f[3] and f[3] ~= '' and not allowed(f[3], model) then
      r = 'forbidden\n' .. who
    else
      local ac = accts[acct]
      if not ac then
        local x = redis.call('HMGET', 'tr:acct:' .. acct, 'credit',
                             'reserved')
        ac = {avail = (tonumber(x[1]) or 0) - (tonumber(x[2]) or 0),
              add = 0}
        accts[acct] = ac
      end
      local amount = tonumber(amt)
      local left = nil
      if f[6] and f[6] ~= '' then
        left = tonumber(f[6]) - (tonumber(f[7]) or 0)
               - (tonumber(f[8]) or 0) - k.add
      end
      if ac.avail < amount then
        r = 'credit\n' .. who .. '\n' .. string.format('%.0f', ac.avail)
      elseif left and left < amount then
        r = 'limit\n' .. who .. '\n' .. string.format('%.0f', left)
      else
        ac.avail = ac.avail - amount
        ac.add = ac.add + amount
        k.add = k.add + amount
        h[#h + 1] = rid
        h[#h + 1] = kh .. ' ' .. amt .. ' ' .. acct
        z[#z + 1] = deadline
        z[#z + 1] = rid
        r = 'ok\n' .. who .. '\n0\n' .. (f[3] or '')
      end
    end
  end
  out[#out + 1] = r
end
for kh, k in pairs(keys) do
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
