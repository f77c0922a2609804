-- Copyright (C) tokenroute authors
--
-- The prelude of the control scripts (src/lua/ctl_*.lua): src/lua/embed.sh
-- puts this text (after src/lua/period.lua) before each of them, so that
-- the CLI and the admin API run the same rules and the same writes, in
-- one atomic script per operation.  Nothing here writes.
--
-- ARGV: op, now (unix seconds), actor ("cli", "admin:<name>", or
-- "admin-key:<sha256>" from the admin API, checked against tr:admin and
-- replaced by "admin:<name>" before the op runs), then parameter/value
-- pairs.  A script ends with ctl.run{op = function ...}:
-- the op's function returns the JSON document that is the admin API's
-- response body and the CLI's --json output, or calls ctl.fail(status,
-- type, message), which becomes the error reply "<status> <type>
-- <message>" (400 -> CLI exit 2, 404/409 -> exit 1).  An op checks all
-- its input before its first write: Redis keeps the writes a script made
-- before an error.

local ctl = {}
local MAX = 9007199254740991  -- 2^53 - 1: Lua's doubles are exact below

ctl.op, ctl.now, ctl.actor = ARGV[1], tonumber(ARGV[2]), ARGV[3]
ctl.p = {}
ctl.MAX = MAX

-- What the gateways cache of keys changed (README "Invalidation"): the
-- hashes of the keys an op wrote, or "*" for an account or a tenant (its
-- keys are many) and past INVAL_MAX keys, published on tr:inval when the
-- op ends, also when it fails after a write (Redis keeps the writes).
local INVAL_MAX = 32
local inval, ninval = {}, 0

function ctl.changed(kh)
  if inval['*'] then return end
  if kh == '*' or ninval >= INVAL_MAX then
    inval, ninval = {['*'] = true}, 1
  elseif not inval[kh] then
    inval[kh], ninval = true, ninval + 1
  end
end

local function publish()
  for kh in pairs(inval) do redis.call('PUBLISH', 'tr:inval', kh) end
end

function ctl.fail(status, kind, msg)
  error({ctl = status .. ' ' .. kind .. ' ' .. msg}, 0)
end

local function bad(name, why)
  ctl.fail(400, 'invalid_request', name .. ': ' .. why)
end

-- ops: op name -> function returning the JSON text
function ctl.run(ops)
  if not ctl.now or not string.match(ARGV[2], '^%d+$')
     or not ctl.actor or #ARGV % 2 ~= 1
  then
    return redis.error_reply('400 invalid_request bad control call')
  end
  for i = 4, #ARGV, 2 do ctl.p[ARGV[i]] = ARGV[i + 1] end
  local denied = ctl.authenticate()
  if denied then return redis.error_reply(denied) end
  local f = ops[ctl.op]
  if not f then
    return redis.error_reply('400 invalid_request unknown operation: '
                             .. tostring(ctl.op))
  end
  local ok, r = pcall(f)
  publish()
  if ok then return r end
  if type(r) == 'table' and r.ctl then return redis.error_reply(r.ctl) end
  error(r, 0)
end

-- refuses parameters the op does not know: allowed is a list of names
function ctl.only(allowed)
  local set = {}
  for _, n in ipairs(allowed) do set[n] = true end
  for n in pairs(ctl.p) do
    if not set[n] then bad(n, 'unknown parameter') end
  end
end

function ctl.need(name)
  local v = ctl.p[name]
  if not v or v == '' then bad(name, 'required') end
  return v
end

-- names: accounts as the gateway checks them, tenants without : and |
function ctl.account(v, name)
  if not v or #v == 0 or #v > 128 or string.find(v, '[^%w%._:@-]') then
    bad(name or 'account', 'use 1-128 letters, digits and . _ : @ -')
  end
  return v
end

function ctl.tenant(v, name)
  if not v or #v == 0 or #v > 64 or string.find(v, '[^%w%._@-]') then
    bad(name or 'tenant', 'use 1-64 letters, digits and . _ @ -')
  end
  return v
end

-- a label for humans (key or admin key name): printable UTF-8, 1-128
-- bytes (the documents that show it must stay valid JSON)
function ctl.label(v, name)
  if not v or #v == 0 or #v > 128 or string.find(v, '%c')
     or not ctl.utf8_valid(v)
  then
    bad(name, 'use 1-128 printable UTF-8 characters')
  end
  return v
end

-- USD as typed ("12", "0.5", "1.000000001"; signed if allowed) to an
-- exact integer of nano-USD; nil when the parameter is absent
function ctl.usd(name, signed)
  local v = ctl.p[name]
  if v == nil then return nil end
  local sign, int, frac = string.match(v, '^(%-?)%$?(%d+)%.?(%d*)$')
  if not int or (sign == '-' and not signed)
     or string.match(v, '%.$') or #frac > 9
  then
    bad(name, 'a USD amount with at most 9 decimals'
        .. (signed and '' or ', not negative') .. ': ' .. v)
  end
  -- 2^53 - 1 nano-USD, the most the scripts' numbers hold exactly
  int = (string.gsub(int, '^0+(%d)', '%1'))
  local n = #int <= 7 and tonumber(int) * 1000000000
            + tonumber(frac .. string.rep('0', 9 - #frac))
  if not n or n > MAX then
    bad(name, 'at most 9007199.254740991 USD: ' .. v)
  end
  return sign == '-' and -n or n
end

-- a count (rpm, tpm, max_concurrent): digits, 0 meaning none
function ctl.count(name)
  local v = ctl.p[name]
  if v == nil then return nil end
  if not string.match(v, '^%d+$') or #v > 12 then
    bad(name, 'a whole number, 0 for none: ' .. v)
  end
  return tonumber(v)
end

-- 30s, 10m, 12h, 7d, 2w or never (0) to seconds
function ctl.duration(name)
  local v = ctl.p[name]
  if v == nil then return nil end
  if v == 'never' then return 0 end
  local n, u = string.match(v, '^(%d+)([smhdw])$')
  local secs = {s = 1, m = 60, h = 3600, d = 86400, w = 604800}
  if not n or #n > 9 or tonumber(n) == 0 then
    bad(name, 'a duration like 30s, 10m, 12h, 7d, 2w, or never: ' .. v)
  end
  return tonumber(n) * secs[u]
end

-- budget period: day, week, month, or none ("")
function ctl.period(name)
  local v = ctl.p[name]
  if v == nil then return nil end
  if v == 'none' then return '' end
  if v ~= 'day' and v ~= 'week' and v ~= 'month' then
    bad(name, 'day, week, month or none: ' .. v)
  end
  return v
end

-- an integer field of a record: 0 when absent, nil when damaged
function ctl.int(x)
  if not x or x == '' then return 0 end
  return string.match(x, '^-?%d+$') and #x <= 18 and tonumber(x) or nil
end

-- JSON text: strings escaped (bytes that are no UTF-8 as U+FFFD: a
-- record may predate the checks), integers exact, USD as the CLI prints
-- it (at least 2 decimals, trailing zeros dropped), null for nil
local esc = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n',
             ['\r'] = '\\r', ['\t'] = '\\t'}
function ctl.str(s)
  if s == nil then return 'null' end
  s = ctl.utf8_fix(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return esc[c] or string.format('\\u%04x', string.byte(c))
  end) .. '"'
end

function ctl.num(n)
  if n == nil then return 'null' end
  return string.format('%.0f', n)
end

function ctl.usd_text(n)
  local s = n < 0 and '-' or ''
  n = math.abs(n)
  local frac = string.format('%09.0f', n % 1000000000)
  frac = string.gsub(frac, '0+$', '')
  if #frac < 2 then frac = frac .. string.rep('0', 2 - #frac) end
  return s .. string.format('%.0f', math.floor(n / 1000000000)) .. '.'
         .. frac
end

function ctl.jusd(n)
  if n == nil then return 'null' end
  return '"' .. ctl.usd_text(n) .. '"'
end

function ctl.bool(b) return b and 'true' or 'false' end

-- an object from an ordered list: key, JSON value, key, JSON value, ...
function ctl.obj(kv)
  local t = {}
  for i = 1, #kv, 2 do
    t[#t + 1] = ctl.str(kv[i]) .. ':' .. kv[i + 1]
  end
  return '{' .. table.concat(t, ',') .. '}'
end

function ctl.arr(items) return '[' .. table.concat(items, ',') .. ']' end

-- a hash as a table, from HGETALL's flat reply
function ctl.hash(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

-- the account exists, or fails 404; "default" springs into existence
function ctl.account_exists(acct)
  if redis.call('SISMEMBER', 'tr:accts', acct) == 1 then return true end
  if acct == 'default' then return false end
  ctl.fail(404, 'not_found', 'no such account: ' .. acct)
end

-- the id of the budget period holding now: period_id() of
-- src/lua/period.lua, which runs before this prelude; nil for none
ctl.pid = period_id

-- the admin API's actor "admin-key:<sha256 hex of the raw admin key>":
-- the key must be a live tr:admin record (the check and the operation are
-- one round trip); the op then sees "admin:<name>" and ctl.admin, the
-- record.  Returns the error reply's text when the key is refused.
function ctl.authenticate()
  local hash = string.match(ctl.actor, '^admin%-key:(.*)$')
  if not hash then return nil end
  local h = #hash == 64 and not string.find(hash, '[^0-9a-f]')
            and ctl.hash('tr:admin:' .. hash)
  if not h or h.revoked == '1' or not h.name then
    return '401 invalid_api_key invalid or revoked admin key'
  end
  ctl.actor = 'admin:' .. h.name
  ctl.admin = h
  return nil
end

-- UTF-8 as JSON requires it (RFC 3629: no surrogates, no overlong forms,
-- at most U+10FFFF): the length of the valid sequence at byte i of s,
-- or 0
local function utf8_len(s, i)
  local c = string.byte(s, i)
  if c < 128 then return 1 end
  local n, lo, hi = 0, 128, 191
  if c >= 194 and c <= 223 then n = 2
  elseif c >= 224 and c <= 239 then
    n = 3
    if c == 224 then lo = 160 elseif c == 237 then hi = 159 end
  elseif c >= 240 and c <= 244 then
    n = 4
    if c == 240 then lo = 144 elseif c == 244 then hi = 143 end
  else
    return 0
  end
  for j = i + 1, i + n - 1 do
    local d = string.byte(s, j)
    if not d or d < lo or d > hi then return 0 end
    lo, hi = 128, 191
  end
  return n
end

-- s with each byte that starts no valid sequence replaced by U+FFFD
function ctl.utf8_fix(s)
  if not string.find(s, '[\128-\255]') then return s end
  local out, i, from = {}, 1, 1
  while i <= #s do
    local n = utf8_len(s, i)
    if n > 0 then
      i = i + n
    else
      out[#out + 1] = string.sub(s, from, i - 1) .. '\239\191\189'
      i = i + 1
      from = i
    end
  end
  if from == 1 then return s end
  out[#out + 1] = string.sub(s, from)
  return table.concat(out)
end

function ctl.utf8_valid(s)
  return ctl.utf8_fix(s) == s
end

-- the key indexes (tr:keypfx, tr:keys:ended, tr:tenantkeys) hold every
-- key: their migration is done (src/lua/ctl_keys.lua), or there is no key
-- for them to lack
function ctl.keys_indexed()
  return redis.call('HGET', 'tr:keys:index', 'done') == '1'
         or redis.call('ZCARD', 'tr:keys') == 0
end

-- the members of a set for a list op, never more than PAGE_MAX at once:
-- with the parameters limit (1-1000) or cursor (a next_cursor), one page
-- by SSCAN (about limit members; the cursor is Redis's, "0" the end),
-- else every member, refused (409) when there are more than PAGE_MAX.
-- Returns the members (unsorted), the next cursor (nil at the end) and
-- whether a page was asked for.
ctl.PAGE_MAX = 1000

function ctl.page(key, what)
  local paged = ctl.p.limit ~= nil or ctl.p.cursor ~= nil
  local limit = ctl.count('limit') or 100
  if limit < 1 or limit > ctl.PAGE_MAX then
    bad('limit', '1 to ' .. ctl.PAGE_MAX)
  end
  local cursor = ctl.p.cursor or '0'
  if not string.match(cursor, '^%d+$') or #cursor > 20 then
    bad('cursor', 'a next_cursor of this list')
  end
  local t = redis.call('TYPE', key).ok
  if t ~= 'set' then return {}, nil, paged end
  if not paged then
    local n = redis.call('SCARD', key)
    if n > ctl.PAGE_MAX then
      ctl.fail(409, 'conflict', n .. ' ' .. what .. ' to list, more than '
               .. ctl.PAGE_MAX .. ' at once: give limit and cursor '
               .. '(the next_cursor of each page)')
    end
    return redis.call('SMEMBERS', key), nil, false
  end
  local r = redis.call('SSCAN', key, cursor, 'COUNT', limit)
  return r[2], r[1] ~= '0' and r[1] or nil, true
end
