-- Copyright (C) tokenroute authors
--
-- The key rules and the spend levels, for the scripts that run behind
-- this text (src/lua/embed.sh joins them, after period.lua): the
-- admission (src/lua/admission.lua) and the leases (src/lua/lease.lua)
-- give a key the same verdict and see the same headroom, from one copy
-- of the rules.

-- a stored amount: 0 when absent, nil when it is no integer (a damaged
-- record leaves nothing, rather than failing the whole batch)
local function amount_of(x)
  if not x or x == '' then return 0 end
  return string.match(x, '^-?%d+$') and #x <= 18 and tonumber(x) or nil
end
-- a stored count: 0 when absent or damaged
local function count_of(x)
  return x and #x <= 15 and string.match(x, '^%d+$') and tonumber(x) or 0
end
-- a key's expiry as a time: an expiry that is no time (digits only, as
-- the CLI writes) is 1, long past; 0 is none
local function expiry_of(x)
  local exp = amount_of(x)
  if not exp or x and string.find(x, '-', 1, true) then exp = 1 end
  return exp
end
-- why a key that exists refuses every request at time now ("revoked",
-- "expired"), nil when it does not; revoked and expires_at its fields
local function key_refusal(revoked, expires_at, now)
  if revoked == '1' then return 'revoked' end
  local exp = expiry_of(expires_at)
  if exp > 0 and now >= exp then return 'expired' end
  return nil
end
-- a name the record format cannot hold names no tenant: the key has none
local function tenant_valid(name)
  return #name <= 64 and not string.find(name, '[^%w._@-]')
end
-- A spend level (a key or a tenant) at time now from its record's limit,
-- period, pid, pspent, spent and reserved: left (nil: no limit) before
-- this call's reservations, add (what they reserved), pid (nil: no
-- period), stale (the record's pid is to be moved on).  A gateway whose
-- clock lags keeps a newer pid the record already has: it never resets
-- a period.
local function level(now, limit, period, pid, pspent, spent, held)
  local lv, broken, counted = {add = 0, n = 0, period = ''}, false, spent
  if period and period ~= '' then
    if period == 'day' or period == 'week' or period == 'month' then
      local cur = period_id(period, now)
      if pid and string.sub(pid, 1, 1) == string.sub(cur, 1, 1)
         and string.match(pid, '^%a%d+$') and #pid <= 12
         and tonumber(string.sub(pid, 2)) > tonumber(string.sub(cur, 2))
      then
        cur = pid
      end
      lv.pid, lv.stale, lv.period = cur, pid ~= cur, period
      counted = lv.stale and '0' or pspent
    else
      broken = true
    end
  end
  if limit and limit ~= '' then
    local l, s, h = amount_of(limit), amount_of(counted), amount_of(held)
    lv.left = not broken and l and s and h and l - s - h or 0
  end
  return lv
end
