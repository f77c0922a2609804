-- Copyright (C) tokenroute authors
--
-- Accounts, the bill: prepaid credit that the keys of an account (and of
-- its tenants) spend.  Run behind src/lua/ctl_lib.lua (the calling
-- convention is there) by "tokenroute accounts ..." and the admin API.

-- an account as "credit show" prints it: USD strings and nano-USD integers
local function account_json(name, h)
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
  return ctl.obj(kv)
end

return ctl.run{
  -- name: a new account, with no credit; 409 if it exists
  create = function()
    ctl.only({'name'})
    local name = ctl.account(ctl.need('name'), 'name')
    if redis.call('SISMEMBER', 'tr:accts', name) == 1 then
      ctl.fail(409, 'conflict', 'account exists: ' .. name)
    end
    local t = redis.call('TYPE', 'tr:acct:' .. name).ok
    if t ~= 'hash' and t ~= 'none' then
      ctl.fail(409, 'conflict', 'tr:acct:' .. name .. ' is a ' .. t)
    end
    redis.call('HSETNX', 'tr:acct:' .. name, 'created_at',
               ctl.num(ctl.now))
    redis.call('SADD', 'tr:accts', name)
    return account_json(name, ctl.hash('tr:acct:' .. name))
  end,
}
