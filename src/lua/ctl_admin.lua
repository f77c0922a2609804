-- Copyright (C) tokenroute authors
--
-- Admin keys, the credentials of the admin API ("tokenroute admin-keys
-- ..."): a record tr:admin:<sha256 of the raw key> (id, name, prefix,
-- created_at, revoked, revoked_at), the index tr:adminid:<id> -> hash and
-- tr:admins, ids by created_at.  The raw key is made in C (OpenSSL's
-- CSPRNG) and never reaches Redis.  Run behind src/lua/ctl_lib.lua, whose
-- ctl.run checks the admin API's actor "admin-key:<sha256>" against these
-- records.

local function admin_json(h)
  return ctl.obj({
    'id', ctl.str(h.id),
    'name', ctl.str(h.name),
    'prefix', ctl.str(h.prefix),
    'created_at', ctl.num(ctl.int(h.created_at)),
    'revoked', ctl.bool(h.revoked == '1'),
    'revoked_at', (h.revoked == '1') and ctl.num(ctl.int(h.revoked_at))
                  or 'null'})
end

local function hex64(v, name)
  if not v or #v ~= 64 or string.find(v, '[^0-9a-f]') then
    ctl.fail(400, 'invalid_request', name .. ': 64 lowercase hex digits')
  end
  return v
end

-- the record of an admin key by id, and its hash; 404 when unknown
local function by_id(id)
  local hash = redis.call('GET', 'tr:adminid:' .. id)
  local h = hash and ctl.hash('tr:admin:' .. hash)
  if not h then ctl.fail(404, 'not_found', 'no such admin key: ' .. id) end
  return h, hash
end

return ctl.run{
  -- name, and from the caller: hash, id, prefix of a fresh raw key
  create = function()
    ctl.only({'name', 'hash', 'id', 'prefix'})
    local name = ctl.label(ctl.need('name'), 'name')
    local hash = hex64(ctl.need('hash'), 'hash')
    local id = ctl.need('id')
    if not string.match(id, '^adm_[0-9a-f]+$') or #id > 64 then
      ctl.fail(400, 'invalid_request', 'id: adm_ and hex digits')
    end
    local prefix = ctl.label(ctl.need('prefix'), 'prefix')
    if redis.call('EXISTS', 'tr:admin:' .. hash) == 1
       or redis.call('EXISTS', 'tr:adminid:' .. id) == 1
    then
      ctl.fail(409, 'conflict', 'admin key exists: ' .. id)
    end
    -- the credit ledger names its actor "admin:<name>": one name, one
    -- key, revoked ones included, so that an entry names one credential
    for _, other in ipairs(redis.call('ZRANGE', 'tr:admins', 0, -1)) do
      local oh = redis.call('GET', 'tr:adminid:' .. other)
      if oh and redis.call('HGET', 'tr:admin:' .. oh, 'name') == name then
        ctl.fail(409, 'conflict', 'an admin key is named ' .. name
                 .. ' (' .. other .. '): the ledger names admin keys by '
                 .. 'name; choose another')
      end
    end
    redis.call('HSET', 'tr:admin:' .. hash, 'id', id, 'name', name,
               'prefix', prefix, 'created_at', ctl.num(ctl.now),
               'revoked', '0')
    redis.call('SET', 'tr:adminid:' .. id, hash)
    redis.call('ZADD', 'tr:admins', ctl.now, id)
    return admin_json(ctl.hash('tr:admin:' .. hash))
  end,

  list = function()
    ctl.only({})
    local items = {}
    for _, id in ipairs(redis.call('ZRANGE', 'tr:admins', 0, -1)) do
      local hash = redis.call('GET', 'tr:adminid:' .. id)
      local h = hash and ctl.hash('tr:admin:' .. hash)
      if h then items[#items + 1] = admin_json(h) end
    end
    return ctl.obj({'admin_keys', ctl.arr(items)})
  end,

  -- id; revoking a revoked key changes nothing (its revoked_at stays)
  revoke = function()
    ctl.only({'id'})
    local h, hash = by_id(ctl.need('id'))
    if h.revoked ~= '1' then
      redis.call('HSET', 'tr:admin:' .. hash, 'revoked', '1',
                 'revoked_at', ctl.num(ctl.now))
    end
    return admin_json(ctl.hash('tr:admin:' .. hash))
  end,

  -- who the caller is: the admin API checks a key with it
  whoami = function()
    ctl.only({})
    if not ctl.admin then
      return ctl.obj({'actor', ctl.str(ctl.actor)})
    end
    return ctl.obj({'actor', ctl.str(ctl.actor), 'admin_key',
                    admin_json(ctl.admin)})
  end,
}
