-- Copyright (C) tokenroute authors
--
-- Accounts, the bill: prepaid credit that the keys of an account (and of
-- its tenants) spend.  Run behind src/lua/ctl_lib.lua (the calling
-- convention is there) by "tokenroute accounts ...", "tokenroute credit
-- ..." and the admin API.
--
-- The credit ledger: tr:ledger:<account>, a list of JSON entries, oldest
-- first, never trimmed, so an entry's seq (1, 2, ...) is its position.
-- Idempotency: tr:idem:<key>, a string kept IDEM_TTL seconds, "<op>
-- <account> <nano-USD>[ <reason>]" then a newline and the document the
-- first call answered, which a retry gets again, byte for byte, without
-- a second write; the same key with another op, account, amount or
-- reason is a 409.

local IDEM_TTL = 7 * 86400
local HISTORY_LIMIT = 100
local HISTORY_MAX = 1000

local function acct_key(name) return 'tr:acct:' .. name end

-- an integer field of a record, or a 409 naming what is wrong with it
local function field(name, h, f)
  local x = h and h[f]
  if not x or x == '' then return 0 end
  if not string.match(x, '^-?%d+$') then
    ctl.fail(409, 'conflict', 'account ' .. name .. ' has a malformed '
             .. f .. ' (' .. x .. ')')
  end
  local n = tonumber(x)
  if #x > 18 or n > ctl.MAX or n < -ctl.MAX then
    ctl.fail(409, 'conflict', 'account ' .. name .. ': ' .. f
             .. ' out of range, an addition would overflow')
  end
  return n
end

-- an account as "credit show" prints it: USD strings and nano-USD
-- integers, null for a damaged field
local function account_kv(name, h)
  h = h or {}
  local credit, held = ctl.int(h.credit), ctl.int(h.reserved)
  local spent, added = ctl.int(h.spent), ctl.int(h.added)
  local avail = credit and held and credit - held or nil
  local kv = {'account', ctl.str(name)}
  for _, f in ipairs({{'credit', credit}, {'reserved', held},
                      {'available', avail}, {'spent', spent},
                      {'added', added}}) do
    kv[#kv + 1] = f[1] .. '_usd'
    kv[#kv + 1] = f[2] and ctl.jusd(f[2]) or 'null'
    kv[#kv + 1] = f[1] .. '_nusd'
    kv[#kv + 1] = ctl.num(f[2])
  end
  kv[#kv + 1] = 'created_at'
  kv[#kv + 1] = h.created_at and ctl.num(ctl.int(h.created_at)) or 'null'
  return kv
end

local function account_json(name, h)
  return ctl.obj(account_kv(name, h))
end

-- the account's record, or a 404: listed in tr:accts or, charged by the
-- gateway before anyone listed it, with a record
local function find(name)
  local h = ctl.hash(acct_key(name))
  if not h and redis.call('SISMEMBER', 'tr:accts', name) == 0 then
    ctl.fail(404, 'not_found', 'no such account: ' .. name)
  end
  return h or {}
end

local function must_be(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= want and t ~= 'none' then
    ctl.fail(409, 'conflict', key .. ' is a ' .. t)
  end
end

-- a free text: 1-500 bytes, no control characters
local function reason(required)
  local v = ctl.p.reason
  if v == nil or (v == '' and not required) then
    if required then ctl.need('reason') end
    return nil
  end
  if #v > 500 or string.find(v, '%c') or not ctl.utf8_valid(v) then
    ctl.fail(400, 'invalid_request',
             'reason: use 1-500 printable UTF-8 characters')
  end
  return v
end

local function idem_key()
  local v = ctl.p.idempotency_key
  if v == nil then return nil end
  if #v == 0 or #v > 128 or string.find(v, '[^\33-\126]') then
    ctl.fail(400, 'invalid_request', 'idempotency_key: use 1-128 '
             .. 'printable ASCII characters without spaces')
  end
  return v
end

-- credit_add and credit_adjust: one change of credit, one ledger entry
local function change(kind)
  local name = ctl.account(ctl.need('name'), 'account')
  local amount = ctl.usd('amount', kind == 'adjust')
  if not amount then ctl.need('amount') end
  if amount == 0 then
    ctl.fail(400, 'invalid_request', 'amount: '
             .. (kind == 'add' and 'more than 0' or 'not 0'))
  end
  local why = reason(kind == 'adjust')
  local create = ctl.p.create
  if create ~= nil and create ~= '0' and create ~= '1' then
    ctl.fail(400, 'invalid_request', 'create: 1 or 0')
  end
  local idem = idem_key()

  -- a retry: the first call's answer, whatever happened since
  local ikey, itag
  if idem then
    ikey = 'tr:idem:' .. idem
    -- the reason too: a key reused for another top-up is refused, not
    -- answered as if that top-up were made
    itag = kind .. ' ' .. name .. ' ' .. ctl.num(amount)
           .. (why and ' ' .. why or '')
    must_be(ikey, 'string')
    local seen = redis.call('GET', ikey)
    if seen then
      local tag, doc = string.match(seen, '^([^\n]*)\n(.*)$')
      if tag == itag then return doc end
      ctl.fail(409, 'conflict', 'idempotency_key ' .. idem
               .. ' was used for another request (' .. (tag or '?') .. ')')
    end
  end

  local listed = redis.call('SISMEMBER', 'tr:accts', name) == 1
  if not listed and name ~= 'default' and create ~= '1' then
    ctl.fail(404, 'not_found', 'no such account: ' .. name
             .. (kind == 'add' and ' (create it, or add with create)'
                 or ''))
  end
  must_be(acct_key(name), 'hash')
  must_be('tr:accts', 'set')
  must_be('tr:ledger:' .. name, 'list')

  local h = ctl.hash(acct_key(name)) or {}
  local credit, added = field(name, h, 'credit'), field(name, h, 'added')
  local held = field(name, h, 'reserved')
  if credit + amount > ctl.MAX or added + amount > ctl.MAX
     or added + amount < -ctl.MAX
  then
    ctl.fail(409, 'conflict', 'account ' .. name
             .. ': the credit would overflow')
  end

  -- the hard ceiling: requests in flight may still be charged what they
  -- reserved, so credit taken away may not dig into it
  if amount < 0 and credit + amount - held < 0 then
    ctl.fail(409, 'conflict', 'account ' .. name .. ': an adjustment of '
             .. ctl.usd_text(amount) .. ' USD would leave less than the '
             .. 'credit reserved by requests in flight; available: '
             .. ctl.usd_text(credit - held) .. ' USD')
  end

  -- the leases of every key of the account hold a slice of its credit
  ctl.changed('*')
  if not listed then
    redis.call('SADD', 'tr:accts', name)
    redis.call('HSETNX', acct_key(name), 'created_at', ctl.num(ctl.now))
  end
  redis.call('HINCRBY', acct_key(name), 'credit', ctl.num(amount))
  redis.call('HINCRBY', acct_key(name), 'added', ctl.num(amount))

  local seq = redis.call('LLEN', 'tr:ledger:' .. name) + 1
  local entry = ctl.obj{
    'seq', ctl.num(seq), 'at', ctl.num(ctl.now), 'account', ctl.str(name),
    'kind', ctl.str(kind),
    'amount_usd', ctl.jusd(amount), 'amount_nusd', ctl.num(amount),
    'balance_usd', ctl.jusd(credit + amount),
    'balance_nusd', ctl.num(credit + amount),
    'reason', ctl.str(why), 'actor', ctl.str(ctl.actor),
    'idempotency_key', ctl.str(idem)}
  redis.call('RPUSH', 'tr:ledger:' .. name, entry)

  local kv = account_kv(name, ctl.hash(acct_key(name)))
  kv[#kv + 1] = 'entry'
  kv[#kv + 1] = entry
  local doc = ctl.obj(kv)
  if ikey then
    redis.call('SET', ikey, itag .. '\n' .. doc, 'EX', IDEM_TTL)
  end
  return doc
end

return ctl.run{
  -- name: a new account, with no credit; 409 if it exists
  create = function()
    ctl.only({'name'})
    local name = ctl.account(ctl.need('name'), 'name')
    if redis.call('SISMEMBER', 'tr:accts', name) == 1 then
      ctl.fail(409, 'conflict', 'account exists: ' .. name)
    end
    must_be(acct_key(name), 'hash')
    must_be('tr:accts', 'set')
    ctl.changed('*')
    redis.call('HSETNX', acct_key(name), 'created_at',
               ctl.num(ctl.now))
    redis.call('SADD', 'tr:accts', name)
    return account_json(name, ctl.hash(acct_key(name)))
  end,

  -- name: one account; 409 if its record is damaged
  show = function()
    ctl.only({'name'})
    local name = ctl.account(ctl.need('name'), 'account')
    local h = find(name)
    for _, f in ipairs({'credit', 'reserved', 'spent', 'added'}) do
      if not ctl.int(h[f]) then
        ctl.fail(409, 'conflict', 'account ' .. name
                 .. ' has a malformed record (' .. f .. ')')
      end
    end
    return account_json(name, h)
  end,

  -- every account of tr:accts, sorted by name; a damaged field is null
  -- (its account still listed), a record of the wrong type all null.
  -- limit, cursor: one page {"accounts": [...], "next_cursor": ...}
  -- (sorted within the page), as ctl.page() reads it
  list = function()
    ctl.only({'limit', 'cursor'})
    local members, nextc, paged = ctl.page('tr:accts', 'accounts')
    local names, seen = {}, {}
    for _, n in ipairs(members) do
      if #n <= 128 and not string.find(n, '[^%w%._:@-]') and #n > 0
         and not seen[n]
      then
        seen[n] = true
        names[#names + 1] = n
      end
    end
    table.sort(names)
    local out = {}
    for _, n in ipairs(names) do
      local ok, h = pcall(ctl.hash, acct_key(n))
      if not ok then h = {credit = 'wrong type'} end
      out[#out + 1] = account_json(n, h)
    end
    if not paged then return ctl.arr(out) end
    return ctl.obj{'accounts', ctl.arr(out), 'next_cursor', ctl.str(nextc)}
  end,

  -- name, amount (USD, > 0), create ("1": make a missing account),
  -- idempotency_key, reason: credit added, one ledger entry
  credit_add = function()
    ctl.only({'name', 'amount', 'create', 'idempotency_key', 'reason'})
    return change('add')
  end,

  -- name, amount (signed USD, not 0), reason (required),
  -- idempotency_key: a correction or a refund; it may not leave less
  -- credit than requests in flight reserved
  credit_adjust = function()
    ctl.only({'name', 'amount', 'idempotency_key', 'reason'})
    return change('adjust')
  end,

  -- name, limit (1-1000, default 100), cursor (the next_cursor of the
  -- page before): the ledger, newest first
  history = function()
    ctl.only({'name', 'limit', 'cursor'})
    local name = ctl.account(ctl.need('name'), 'account')
    local limit = ctl.p.limit or tostring(HISTORY_LIMIT)
    limit = string.match(limit, '^%d+$') and #limit <= 4 and tonumber(limit)
    if not limit or limit < 1 or limit > HISTORY_MAX then
      ctl.fail(400, 'invalid_request', 'limit: 1 to ' .. HISTORY_MAX)
    end
    local cursor = ctl.p.cursor
    if cursor ~= nil and (not string.match(cursor, '^%d+$')
                          or #cursor > 15 or tonumber(cursor) < 1)
    then
      ctl.fail(400, 'invalid_request', 'cursor: a next_cursor of history')
    end
    if name ~= 'default' then find(name) end
    must_be('tr:ledger:' .. name, 'list')
    local n = redis.call('LLEN', 'tr:ledger:' .. name)
    -- entries seq < cursor: positions 1 .. top
    local top = cursor and math.min(tonumber(cursor) - 1, n) or n
    local low = math.max(top - limit + 1, 1)
    local items = {}
    if top >= 1 then
      items = redis.call('LRANGE', 'tr:ledger:' .. name, low - 1, top - 1)
    end
    local out = {}
    for i = #items, 1, -1 do out[#out + 1] = items[i] end
    return ctl.obj{'account', ctl.str(name), 'entries', ctl.arr(out),
                   'next_cursor', low > 1 and ctl.str(ctl.num(low)) or 'null'}
  end,
}
