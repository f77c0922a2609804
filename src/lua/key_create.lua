-- Copyright (C) tokenroute authors
--
-- Creates a key (tokenroute key create, src/cli/tr_cli_key.c).
--
-- One script, so that the record, both indexes and the account appear
-- together, and the rare collision with an existing hash or id is refused
-- rather than overwriting a live key.  tr:accts is written first: a wrong
-- type there fails the script before anything else is written.
-- KEYS: tr:key:<hash>, tr:keyid:<id>, tr:keys, tr:accts
-- ARGV: hash, created_at, id, account, then the record's field/value pairs

if redis.call('EXISTS', KEYS[1], KEYS[2]) ~= 0 then
    return 0
end
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return 1
