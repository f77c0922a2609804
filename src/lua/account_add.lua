-- Copyright (C) tokenroute authors
--
-- Adds credit (tokenroute credit add, src/cli/tr_cli_account.c).
--
-- Adds credit atomically: both counters or neither, and the account in
-- tr:accts.  Lua does not roll back a failed call: the type of tr:accts is
-- checked before anything is written, and HINCRBY, which refuses an
-- overflow or a non-integer field, is undone if the second one fails.
-- KEYS: tr:acct:<account>, tr:accts; ARGV: nano-USD, account

local t = redis.call('TYPE', KEYS[2]).ok
if t ~= 'set' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE tr:accts is not a set')
end
local r = redis.pcall('HINCRBY', KEYS[1], 'credit', ARGV[1])
if type(r) == 'table' and r.err then
    return r
end
r = redis.pcall('HINCRBY', KEYS[1], 'added', ARGV[1])
if type(r) == 'table' and r.err then
    redis.call('HINCRBY', KEYS[1], 'credit', '-' .. ARGV[1])
    return r
end
redis.call('SADD', KEYS[2], ARGV[2])
return redis.call('HMGET', KEYS[1], 'credit', 'reserved', 'spent',
                  'added')
