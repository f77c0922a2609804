-- Copyright (C) tokenroute authors
--
-- API keys: create, list, show, update, rotate, revoke, delete, purge.
-- Run behind src/lua/ctl_lib.lua (the calling convention is there) by
-- "tokenroute keys ..." and the admin API, so that both keep the same
-- rules and make the same writes.
--
-- Records (src/tokenroute_schema.h): tr:key:<sha256 of the raw key> the
-- key, tr:keyid:<id> its hash, tr:keys its id by created_at, tr:keypfx
-- prefix -> ids (space separated: prefixes may collide), tr:keys:ended
-- the ids of keys revoked or with an expiry, by the time they ended or
-- will end (what purge reads, so that it never scans every key).
--
-- A key is named by the parameter "key" (its id, key_..., or its prefix,
-- the first 12 characters of the raw key) or "key_hash" (the SHA-256 of
-- a raw key, which the caller computes: the raw key never comes here).
--
-- Rotation and deletion with requests in flight: their reservations
-- (tr:rsvd) name the key by its old hash.  A rotation leaves at the old
-- hash a forwarding record {moved = <key id>} for 8 days (the
-- reservation TTL plus the 7 days a late settlement is still charged):
-- the admission finds no id there and answers "unknown", settlement and
-- the sweep follow it to the key's record (src/lua/settle.lua).  A
-- deleted key leaves nothing, and settlement never creates a record:
-- its requests in flight are charged to the account and the usage
-- records only.

local FORWARD_TTL = 8 * 86400
local MODELS_MAX = 4096

local function bad(name, why)
  ctl.fail(400, 'invalid_request', name .. ': ' .. why)
end

-- the indexes of keys that predate them (tr:keypfx, tr:keys:ended,
-- tr:tenantkeys) are made by a migration in batches of at most BATCH keys
-- per call, "tokenroute keys reindex" or one batch per purge (the
-- gateways' timers), never all at once: one script call over millions of
-- keys would stall the Redis every admission waits on.  Its cursor,
-- "<score>:<id>" in tr:keys, and "done" are fields of tr:keys:index.
local BATCH = 1000

local function tenant_set(acct, tenant)
  return 'tr:tenantkeys:' .. (acct or 'default') .. '|' .. tenant
end

-- the key in its tenant's index, or out of it
local function tenant_add(h)
  if h.tenant and h.tenant ~= '' then
    redis.call('SADD', tenant_set(h.account, h.tenant), h.id)
  end
end

local function tenant_del(h)
  if h.tenant and h.tenant ~= '' then
    redis.call('SREM', tenant_set(h.account, h.tenant), h.id)
  end
end

local function pfx_add(prefix, id)
  local cur = redis.call('HGET', 'tr:keypfx', prefix)
  redis.call('HSET', 'tr:keypfx', prefix, cur and cur .. ' ' .. id or id)
end

local function pfx_del(prefix, id)
  if not prefix or prefix == '' then return end
  local cur = redis.call('HGET', 'tr:keypfx', prefix)
  if not cur then return end
  local left = {}
  for x in string.gmatch(cur, '%S+') do
    if x ~= id then left[#left + 1] = x end
  end
  if #left == 0 then
    redis.call('HDEL', 'tr:keypfx', prefix)
  else
    redis.call('HSET', 'tr:keypfx', prefix, table.concat(left, ' '))
  end
end

-- when the key ended or will end: revoked_at, expires_at, the earlier
local function ended_at(h)
  local e = nil
  if h.revoked == '1' then e = ctl.int(h.revoked_at) or 0 end
  local x = ctl.int(h.expires_at)
  if x and x > 0 and (not e or x < e) then e = x end
  return e
end

local function reindex_end(id, h)
  local e = ended_at(h)
  if e then
    redis.call('ZADD', 'tr:keys:ended', e, id)
  else
    redis.call('ZREM', 'tr:keys:ended', id)
  end
end

-- one key of tr:keys in every index (each write is idempotent: a key
-- made or changed since is already in them)
local function index_one(id)
  local kh = redis.call('GET', 'tr:keyid:' .. id)
  if not kh then return end
  local f = redis.call('HMGET', 'tr:key:' .. kh, 'id', 'prefix', 'revoked',
                       'revoked_at', 'expires_at', 'account', 'tenant')
  if f[1] ~= id then return end
  local h = {id = id, prefix = f[2], revoked = f[3], revoked_at = f[4],
             expires_at = f[5], account = f[6], tenant = f[7]}
  if h.prefix and h.prefix ~= '' then
    local cur = redis.call('HGET', 'tr:keypfx', h.prefix)
    if not cur or not string.find(' ' .. cur .. ' ', ' ' .. id .. ' ', 1,
                                  true)
    then
      redis.call('HSET', 'tr:keypfx', h.prefix, cur and cur .. ' ' .. id
                                                or id)
    end
  end
  local e = ended_at(h)
  if e then redis.call('ZADD', 'tr:keys:ended', e, id) end
  tenant_add(h)
end

-- one batch of the migration, from its cursor: the number of keys
-- indexed and whether the indexes are whole
local function reindex(limit)
  if ctl.keys_indexed() then
    redis.call('HSET', 'tr:keys:index', 'done', '1')
    redis.call('HDEL', 'tr:keys:index', 'cursor')
    return 0, true
  end
  local start = 0
  local cur = redis.call('HGET', 'tr:keys:index', 'cursor')
  local s, id = string.match(cur or '', '^(%d+):(.+)$')
  if id then
    -- the cursor's key deleted since: from the first of its second
    local r = redis.call('ZRANK', 'tr:keys', id)
    start = r and r + 1 or redis.call('ZCOUNT', 'tr:keys', '-inf', '(' .. s)
  end
  local chunk = redis.call('ZRANGE', 'tr:keys', start, start + limit - 1,
                           'WITHSCORES')
  for i = 1, #chunk, 2 do index_one(chunk[i]) end
  if #chunk < 2 * limit then
    redis.call('HSET', 'tr:keys:index', 'done', '1')
    redis.call('HDEL', 'tr:keys:index', 'cursor')
    return #chunk / 2, true
  end
  redis.call('HSET', 'tr:keys:index', 'cursor',
             string.format('%.0f', tonumber(chunk[#chunk])) .. ':'
             .. chunk[#chunk - 1])
  return #chunk / 2, false
end

local function status_of(h)
  if h.revoked == '1' then return 'revoked' end
  local x = ctl.int(h.expires_at)
  if not x or x > 0 and x <= ctl.now then return 'expired' end
  return 'active'
end

-- the key named by the parameters: its hash and record, or 404/409
local function find()
  local kh, name = ctl.p.key_hash, ctl.p.key
  if kh then
    if name then bad('key', 'give key or key_hash, not both') end
    if not string.match(kh, '^' .. string.rep('%x', 64) .. '$') then
      bad('key_hash', 'the hex SHA-256 of a raw key')
    end
    local h = ctl.hash('tr:key:' .. kh)
    if not h or not h.id then ctl.fail(404, 'not_found', 'no such key') end
    return kh, h
  end
  name = ctl.need('key')
  if #name > 128 or string.find(name, '[%c%s]') then
    bad('key', 'an id (key_...), a prefix or a raw key')
  end
  local id = name
  if string.sub(name, 1, 4) ~= 'key_' then
    -- an older key missing from the prefix index could have this prefix
    if redis.call('HEXISTS', 'tr:keypfx', '~indexed') == 0
       and not ctl.keys_indexed()
    then
      ctl.fail(409, 'conflict', 'the prefix index is being built for keys '
               .. 'made by an older version: run "tokenroute keys '
               .. 'reindex", or give the key\'s id or the raw key')
    end
    -- "~indexed" is the index's own field, not a prefix
    local ids = string.sub(name, 1, 1) ~= '~'
                and redis.call('HGET', 'tr:keypfx', name)
    local list = {}
    for x in string.gmatch(ids or '', '%S+') do list[#list + 1] = x end
    if #list == 0 then
      ctl.fail(404, 'not_found', 'no key with prefix ' .. name)
    end
    if #list > 1 then
      ctl.fail(409, 'conflict', 'prefix ' .. name .. ' is ambiguous: '
               .. table.concat(list, ', ') .. ': give the id')
    end
    id = list[1]
  end
  kh = redis.call('GET', 'tr:keyid:' .. id)
  local h = kh and ctl.hash('tr:key:' .. kh)
  if not h or not h.id then
    ctl.fail(404, 'not_found', 'no key with id ' .. id)
  end
  if h.id ~= id then
    ctl.fail(500, 'server_error', 'key ' .. id
             .. ' has a malformed record: it has another id')
  end
  return kh, h
end

-- the record as JSON; a field that is no number makes it malformed
local function key_json(h, extra)
  local n = {}
  for _, f in ipairs({'expires_at', 'created_at', 'revoked_at', 'spent',
                      'reserved', 'pspent', 'rpm', 'tpm', 'concurrency'})
  do
    n[f] = ctl.int(h[f])
    if not n[f] then
      return nil, 'bad field \'' .. f .. '\''
    end
  end
  local limit = nil
  if h.limit and h.limit ~= '' then
    limit = ctl.int(h.limit)
    if not limit then return nil, 'bad field \'limit\'' end
  end
  local period = h.period or ''
  local cur = ctl.pid(period, ctl.now)
  local pspent = (cur and h.pid == cur) and n.pspent or 0
  local counted = cur and pspent or n.spent
  local remaining = limit and limit - counted - n.reserved or nil
  local models = {}
  for m in string.gmatch(h.models or '', '[^,]+') do
    models[#models + 1] = ctl.str(m)
  end
  local function opt(x) return x > 0 and ctl.num(x) or 'null' end
  local kv = {
    'id', ctl.str(h.id), 'name', ctl.str(h.name),
    'account', ctl.str(h.account or 'default'),
    'tenant', (h.tenant and h.tenant ~= '') and ctl.str(h.tenant) or 'null',
    'prefix', ctl.str(h.prefix), 'models', ctl.arr(models),
    'limit_usd', ctl.jusd(limit),
    'period', period ~= '' and ctl.str(period) or 'null',
    'rpm', opt(n.rpm), 'tpm', opt(n.tpm),
    'max_concurrent', opt(n.concurrency),
    'expires_at', opt(n.expires_at), 'created_at', ctl.num(n.created_at)}
  if extra ~= 'create' then
    for _, f in ipairs({'spent_usd', ctl.jusd(n.spent),
                        'reserved_usd', ctl.jusd(n.reserved),
                        'remaining_usd', ctl.jusd(remaining),
                        'period_spent_usd', cur and ctl.jusd(pspent)
                                            or 'null',
                        'spent_nusd', ctl.num(n.spent),
                        'reserved_nusd', ctl.num(n.reserved),
                        'remaining_nusd', ctl.num(remaining),
                        'period_spent_nusd', cur and ctl.num(pspent)
                                             or 'null',
                        'revoked', ctl.bool(h.revoked == '1'),
                        'revoked_at', h.revoked == '1'
                                      and ctl.num(n.revoked_at) or 'null',
                        'status', ctl.str(status_of(h))}) do
      kv[#kv + 1] = f
    end
  end
  return kv
end

local function show_json(h, more)
  local kv, why = key_json(h)
  if not kv then
    ctl.fail(500, 'server_error', 'key ' .. tostring(h.id)
             .. ' has a malformed record: ' .. why)
  end
  for _, x in ipairs(more or {}) do kv[#kv + 1] = x end
  return ctl.obj(kv)
end

-- the settings create and update share: field -> value ("" clears)
local function settings(fields, account, creating)
  local name = ctl.p.name
  if name then fields.name = ctl.label(name, 'name') end
  local limit = ctl.p.limit
  if limit == 'none' and not creating then
    fields.limit = ''
  elseif limit then
    fields.limit = ctl.num(ctl.usd('limit'))
  end
  local period = ctl.period('period')
  if period then fields.period = period end
  local models = ctl.p.models
  if models == 'all' or models == '' and not creating then
    fields.models = ''
  elseif models then
    if #models > MODELS_MAX then bad('models', 'too long') end
    for m in string.gmatch(models .. ',', '([^,]*),') do
      if m == '' then bad('models', 'empty model id: ' .. models) end
      if m == '*' then
        bad('models', '\'*\' is not a model id; leave out models '
            .. 'to allow all models')
      end
      if string.find(m, '[%c%s]') or not ctl.utf8_valid(m) then
        bad('models', 'model ids must be UTF-8 without spaces or control '
            .. 'characters: ' .. models)
      end
    end
    fields.models = models
  end
  if ctl.p.expires == '0' then ctl.p.expires = 'never' end
  local ttl = ctl.duration('expires')
  if ttl then
    if ttl > 100 * 366 * 86400 then bad('expires', 'at most 100 years') end
    fields.expires_at = ttl == 0 and '0' or ctl.num(ctl.now + ttl)
  end
  for _, f in ipairs({{'rpm', 'rpm'}, {'tpm', 'tpm'},
                      {'max_concurrent', 'concurrency'}}) do
    local c = ctl.count(f[1])
    if c then fields[f[2]] = c > 0 and ctl.num(c) or '' end
  end
  local tenant = ctl.p.tenant
  if tenant == 'none' or tenant == '' and not creating then
    fields.tenant = ''
  elseif tenant then
    ctl.tenant(tenant)
    if redis.call('SISMEMBER', 'tr:tenants:' .. account, tenant) ~= 1 then
      ctl.fail(404, 'not_found', 'no such tenant: ' .. tenant
               .. ' in account ' .. account)
    end
    fields.tenant = tenant
  end
end

-- the record, the id and prefix indexes, the lists: gone
local function remove(kh, h)
  ctl.changed(kh)
  redis.call('DEL', 'tr:key:' .. kh, 'tr:keyid:' .. h.id)
  redis.call('ZREM', 'tr:keys', h.id)
  redis.call('ZREM', 'tr:keys:ended', h.id)
  pfx_del(h.prefix, h.id)
  tenant_del(h)
end

local function new_secret(op)
  local kh = ctl.need('hash')
  if not string.match(kh, '^' .. string.rep('%x', 64) .. '$')
     or string.find(kh, '%u')
  then
    bad('hash', 'the lowercase hex SHA-256 of the new raw key')
  end
  local prefix = ctl.need('prefix')
  if #prefix > 32 or string.find(prefix, '[%c%s]') then
    bad('prefix', '1-32 characters, no spaces')
  end
  if redis.call('EXISTS', 'tr:key:' .. kh) == 1 then
    ctl.fail(409, 'conflict', op .. ': the new key exists: try again')
  end
  return kh, prefix
end

local ops = {}

-- name, account (default "default"), tenant, limit, period, models,
-- expires, rpm, tpm, max_concurrent; hash, id, prefix made by the caller
function ops.create()
  ctl.only({'name', 'account', 'tenant', 'limit', 'period', 'models',
            'expires', 'rpm', 'tpm', 'max_concurrent', 'hash', 'id',
            'prefix'})
  local fields = {}
  ctl.need('name')
  local account = ctl.account(ctl.p.account or 'default')
  settings(fields, account, true)
  local kh, prefix = new_secret('create')
  local id = ctl.need('id')
  if not string.match(id, '^key_[%x]+$') or #id > 64 then
    bad('id', 'key_ and hex digits')
  end
  if redis.call('EXISTS', 'tr:keyid:' .. id) == 1 then
    ctl.fail(409, 'conflict', 'create: the new id exists: try again')
  end
  local exists = ctl.account_exists(account)
  local t = redis.call('TYPE', 'tr:accts').ok
  if t ~= 'set' and t ~= 'none' then
    ctl.fail(500, 'server_error', 'tr:accts is a ' .. t)
  end
  local h = {id = id, name = fields.name, account = account,
             models = fields.models or '', limit = fields.limit or '',
             expires_at = fields.expires_at or '0', revoked = '0',
             revoked_at = '0', created_at = ctl.num(ctl.now),
             prefix = prefix}
  local flat = {}
  for _, f in ipairs({'id', 'name', 'account', 'models', 'limit',
                      'expires_at', 'revoked', 'revoked_at', 'created_at',
                      'prefix'}) do
    flat[#flat + 1] = f
    flat[#flat + 1] = h[f]
  end
  -- the new settings only when given: old records lack them too
  for _, f in ipairs({'tenant', 'period', 'rpm', 'tpm', 'concurrency'}) do
    if fields[f] and fields[f] ~= '' then
      h[f] = fields[f]
      flat[#flat + 1] = f
      flat[#flat + 1] = fields[f]
    end
  end
  if not exists then redis.call('SADD', 'tr:accts', account) end
  -- the first key: none predates the indexes
  if redis.call('ZCARD', 'tr:keys') == 0 then
    redis.call('HSET', 'tr:keys:index', 'done', '1')
  end
  ctl.changed(kh)
  redis.call('HSET', 'tr:key:' .. kh, unpack(flat))
  redis.call('SET', 'tr:keyid:' .. id, kh)
  redis.call('ZADD', 'tr:keys', ctl.now, id)
  pfx_add(prefix, id)
  reindex_end(id, h)
  tenant_add(h)
  local warnings = {}
  local a = redis.call('HMGET', 'tr:acct:' .. account, 'credit', 'reserved')
  local credit, held = ctl.int(a[1]), ctl.int(a[2])
  if not credit or not held or credit - held <= 0 then
    warnings[#warnings + 1] = ctl.str('account ' .. account
      .. ' has no available credit: requests with this key are refused '
      .. '(402) until credit is added')
  end
  if h.models ~= '' then
    warnings[#warnings + 1] = ctl.str('model ids are not checked against '
      .. 'the gateways\' configuration: a model no gateway declares is '
      .. 'answered 404 model_not_found')
  end
  local kv = key_json(h, 'create')
  kv[#kv + 1] = 'warnings'
  kv[#kv + 1] = ctl.arr(warnings)
  return ctl.obj(kv)
end

-- account, tenant, status (active|revoked|expired), limit (page size),
-- cursor (the previous page's next_cursor): oldest first
function ops.list()
  ctl.only({'account', 'tenant', 'status', 'limit', 'cursor'})
  local account = ctl.p.account and ctl.account(ctl.p.account)
  local tenant = ctl.p.tenant and ctl.tenant(ctl.p.tenant)
  local status = ctl.p.status
  if status and status ~= 'active' and status ~= 'revoked'
     and status ~= 'expired'
  then
    bad('status', 'active, revoked or expired: ' .. status)
  end
  local limit = ctl.count('limit') or 100
  if limit < 1 or limit > 1000 then bad('limit', '1 to 1000') end
  local score, after = 0, nil
  if ctl.p.cursor then
    local s, id = string.match(ctl.p.cursor, '^(%d+):(key_%x+)$')
    if not s or #s > 15 then bad('cursor', 'not a cursor of this list') end
    score, after = tonumber(s), id
  end
  local out, warn = {}, {}
  local scanned, budget, off = 0, 10 * limit + 100, 0
  local last, more = nil, false
  while true do
    local chunk = redis.call('ZRANGEBYSCORE', 'tr:keys', score, '+inf',
                             'WITHSCORES', 'LIMIT', off, 200)
    if #chunk == 0 then break end
    off = off + #chunk / 2
    local stop = false
    for i = 1, #chunk, 2 do
      local id, s = chunk[i], tonumber(chunk[i + 1])
      if not after or s > score or id > after then
        -- a full page with a key after it, or the scan's bound: a cursor
        if #out >= limit or scanned >= budget then
          more = true
          stop = true
          break
        end
        scanned = scanned + 1
        last = string.format('%.0f', s) .. ':' .. id
        local kh = redis.call('GET', 'tr:keyid:' .. id)
        local h = kh and ctl.hash('tr:key:' .. kh)
        if not h then
          warn[#warn + 1] = ctl.str('key ' .. id .. ' is listed in tr:keys'
                                    .. ' but has no record, skipped')
        elseif h.id ~= id then
          warn[#warn + 1] = ctl.str('key ' .. id .. ': its record has '
                                    .. 'another id, skipped')
        elseif (not account or (h.account or 'default') == account)
               and (not tenant or h.tenant == tenant)
               and (not status or status_of(h) == status)
        then
          local kv, why = key_json(h)
          if kv then
            out[#out + 1] = ctl.obj(kv)
          else
            warn[#warn + 1] = ctl.str('key ' .. id .. ': ' .. why
                                      .. ', skipped')
          end
        end
      end
    end
    if stop then break end
  end
  return ctl.obj({'keys', ctl.arr(out),
                  'next_cursor', more and ctl.str(last) or 'null',
                  'warnings', ctl.arr(warn)})
end

function ops.show()
  ctl.only({'key', 'key_hash'})
  local _, h = find()
  return show_json(h)
end

-- the settings given; changes take effect on the key's next request
function ops.update()
  ctl.only({'key', 'key_hash', 'name', 'limit', 'period', 'models',
            'expires', 'rpm', 'tpm', 'max_concurrent', 'tenant'})
  local kh, h = find()
  local fields = {}
  settings(fields, h.account or 'default', false)
  if next(fields) == nil then
    ctl.fail(400, 'invalid_request', 'nothing to change: give a setting')
  end
  -- a tenant may be deleted while its keys have expired: such a key is
  -- not changed (brought back) with no tenant record behind it
  local tn = h.tenant or ''
  if fields.tenant == nil and tn ~= ''
     and redis.call('SISMEMBER', 'tr:tenants:' .. (h.account or 'default'),
                    tn) ~= 1
  then
    ctl.fail(409, 'conflict', 'key ' .. h.id .. ': its tenant ' .. tn
             .. ' was deleted; give another tenant, or none')
  end
  local set, del = {}, {}
  local was = {account = h.account, id = h.id, tenant = h.tenant}
  for f, v in pairs(fields) do
    -- "" clears; limit, models, expires_at keep their old spelling
    if v == '' and f ~= 'limit' and f ~= 'models' then
      del[#del + 1] = f
      h[f] = nil
    else
      set[#set + 1] = f
      set[#set + 1] = v
      h[f] = v
    end
  end
  -- a new period starts its count at 0: the spend before the change
  -- was not counted in it (spent, the lifetime spend, stays)
  if fields.period then
    local old = redis.call('HGET', 'tr:key:' .. kh, 'period') or ''
    if old ~= fields.period then
      del[#del + 1] = 'pid'
      del[#del + 1] = 'pspent'
      h.pid, h.pspent = nil, nil
    end
  end
  ctl.changed(kh)
  if #set > 0 then redis.call('HSET', 'tr:key:' .. kh, unpack(set)) end
  if #del > 0 then redis.call('HDEL', 'tr:key:' .. kh, unpack(del)) end
  if fields.expires_at then reindex_end(h.id, h) end
  if fields.tenant and fields.tenant ~= (was.tenant or '') then
    tenant_del(was)
    tenant_add(h)
  end
  return show_json(h)
end

-- a new raw key (hash and prefix made by the caller), same id, spend and
-- settings; the old raw key stops at once
function ops.rotate()
  ctl.only({'key', 'key_hash', 'hash', 'prefix'})
  local kh, h = find()
  if h.revoked == '1' then
    ctl.fail(409, 'conflict', 'key ' .. h.id .. ' is revoked')
  end
  local nh, prefix = new_secret('rotate')
  ctl.changed(kh)
  ctl.changed(nh)
  redis.call('RENAME', 'tr:key:' .. kh, 'tr:key:' .. nh)
  redis.call('HSET', 'tr:key:' .. nh, 'prefix', prefix)
  redis.call('HSET', 'tr:key:' .. kh, 'moved', h.id)
  redis.call('EXPIRE', 'tr:key:' .. kh, FORWARD_TTL)
  redis.call('SET', 'tr:keyid:' .. h.id, nh)
  pfx_del(h.prefix, h.id)
  pfx_add(prefix, h.id)
  h.prefix = prefix
  return show_json(h)
end

-- the gateway refuses the key from now on; a second revoke changes
-- nothing ("changed": false)
function ops.revoke()
  ctl.only({'key', 'key_hash'})
  local kh, h = find()
  local changed = h.revoked ~= '1'
  if changed then
    h.revoked, h.revoked_at = '1', ctl.num(ctl.now)
    ctl.changed(kh)
    redis.call('HSET', 'tr:key:' .. kh, 'revoked', '1', 'revoked_at',
               h.revoked_at)
    reindex_end(h.id, h)
  end
  return show_json(h, {'changed', ctl.bool(changed)})
end

-- gone from Redis; its usage records stay
function ops.delete()
  ctl.only({'key', 'key_hash'})
  local kh, h = find()
  remove(kh, h)
  return ctl.obj({'id', ctl.str(h.id), 'deleted', 'true'})
end

-- deletes up to limit (default 100, at most 1000) keys revoked or expired
-- more than older_than (default 30d) ago; with interval (seconds), runs
-- at most once per interval across every caller (the gateways' timers),
-- except while a batch leaves more to do
function ops.purge()
  ctl.only({'older_than', 'limit', 'interval'})
  local age = 30 * 86400
  if ctl.p.older_than == '0' then
    age = 0
  elseif ctl.p.older_than then
    age = ctl.duration('older_than')
  end
  local limit = ctl.count('limit') or 100
  if limit < 1 or limit > 1000 then bad('limit', '1 to 1000') end
  -- the gateways' timers run it every minute at most: a longer interval
  -- (an hour at most) would put off the fleet's purge
  local interval = ctl.count('interval')
  if interval and interval > 3600 then bad('interval', '0 to 3600') end
  if interval and interval > 0
     and redis.call('EXISTS', 'tr:keys:purge') == 1
  then
    return ctl.obj({'purged', '0', 'ids', '[]', 'more', 'false',
                    'skipped', 'true'})
  end
  -- keys older than the index of ended keys: one batch of the migration
  -- per call, then the purge ("more": the next call comes soon)
  if not ctl.keys_indexed() then
    local n = reindex(BATCH)
    -- the fleet's timers: one batch a second across every gateway
    if interval and interval > 0 then
      redis.call('SET', 'tr:keys:purge', '1', 'EX', 1)
    end
    return ctl.obj({'purged', '0', 'ids', '[]', 'more', 'true',
                    'skipped', 'false', 'reindexed', ctl.num(n)})
  end
  local cutoff = ctl.now - age
  local ids = redis.call('ZRANGEBYSCORE', 'tr:keys:ended', '-inf', cutoff,
                         'LIMIT', 0, limit + 1)
  local more = #ids > limit
  local gone = {}
  for i = 1, math.min(#ids, limit) do
    local id = ids[i]
    local kh = redis.call('GET', 'tr:keyid:' .. id)
    local h = kh and ctl.hash('tr:key:' .. kh)
    if not h or h.id ~= id then
      -- an index entry left by a record deleted by hand
      redis.call('ZREM', 'tr:keys:ended', id)
    else
      local e = ended_at(h)
      if e and e <= cutoff then
        remove(kh, h)
        gone[#gone + 1] = ctl.str(id)
      else
        reindex_end(id, h)
      end
    end
  end
  if interval and interval > 0 and not more then
    redis.call('SET', 'tr:keys:purge', '1', 'EX', interval)
  end
  return ctl.obj({'purged', ctl.num(#gone), 'ids', ctl.arr(gone),
                  'more', ctl.bool(more), 'skipped', 'false'})
end

-- limit (1-1000, default 1000): one batch of the migration that indexes
-- keys made by older versions; "done" once every key is indexed
function ops.reindex()
  ctl.only({'limit'})
  local limit = ctl.count('limit') or BATCH
  if limit < 1 or limit > BATCH then bad('limit', '1 to ' .. BATCH) end
  local n, done = reindex(limit)
  return ctl.obj({'indexed', ctl.num(n), 'done', ctl.bool(done)})
end

return ctl.run(ops)
