-- Copyright (C) tokenroute authors
--
-- Revokes a key (tokenroute key revoke, src/cli/tr_cli_key.c).
--
-- KEYS: tr:key:<hash>; ARGV: now.  Keeps the first revoked_at when a key
-- is revoked twice.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then
    return 0
end
redis.call('HSET', KEYS[1], 'revoked', '1', 'revoked_at', ARGV[1])
return 1
