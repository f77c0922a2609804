
/*
 * Copyright (C) tokenroute authors
 *
 * The Redis schema: every key name the module, the CLI and the scripts
 * use, defined once.  Plain C: no nginx dependency (the CLI includes it
 * too).  The Lua scripts (the .lua files of src/lua) spell the same names,
 * so that each runs as it is with redis-cli --eval and the admission sends
 * no name per request; t/scripts.t checks that every name they spell is
 * one of these, and that no C file spells one.
 */


#ifndef _TOKENROUTE_SCHEMA_H_INCLUDED_
#define _TOKENROUTE_SCHEMA_H_INCLUDED_


/* HASH: a key's record, by the SHA-256 hex of the raw key */
#define TOKENROUTE_REDIS_KEY         "tr:key:"

/* STRING: the hash of the key with this id, to find its record */
#define TOKENROUTE_REDIS_KEYID       "tr:keyid:"

/* ZSET: key ids, scored by created_at */
#define TOKENROUTE_REDIS_KEYS        "tr:keys"

/* HASH: key prefix (first 12 characters of the raw key): the ids that
 * have it, space separated; field "~indexed" once the index is whole */
#define TOKENROUTE_REDIS_KEYPFX      "tr:keypfx"

/* ZSET: ids of keys revoked or with an expiry, by when they ended or end */
#define TOKENROUTE_REDIS_KEYS_ENDED  "tr:keys:ended"

/*
 * HASH: the migration that indexes keys made by older versions
 * (tr:keypfx, tr:keys:ended, tr:tenantkeys): "cursor" ("<score>:<id>" in
 * tr:keys, the last key indexed), "done" ("1" once every key is)
 */
#define TOKENROUTE_REDIS_KEYS_INDEX  "tr:keys:index"

/* SET: the ids of the keys of a tenant, by "<account>|<tenant>" */
#define TOKENROUTE_REDIS_TENANTKEYS  "tr:tenantkeys:"

/* STRING: the key purge ran (expires after its interval) */
#define TOKENROUTE_REDIS_KEYS_PURGE  "tr:keys:purge"

/* SET: the tenant names of an account */
#define TOKENROUTE_REDIS_TENANTS     "tr:tenants:"

/* HASH: an account's credit, reserved, spent, added (nano-USD) */
#define TOKENROUTE_REDIS_ACCT        "tr:acct:"

/* SET: account names */
#define TOKENROUTE_REDIS_ACCTS       "tr:accts"

/* LIST: an account's credit ledger, JSON entries oldest first (forever) */
#define TOKENROUTE_REDIS_LEDGER      "tr:ledger:"

/* STRING: a credit change's idempotency key: its request, its answer (7d) */
#define TOKENROUTE_REDIS_IDEM        "tr:idem:"

/* HASH: a tenant, by "<account>|<tenant>": settings, spend, rate state */
#define TOKENROUTE_REDIS_TENANT      "tr:tenant:"

/* SET: the tenant names of an account, by account */
#define TOKENROUTE_REDIS_TENANTS     "tr:tenants:"

/*
 * HASH: reservations, request id: "key hash amount account tenant key-pid
 * tenant-pid tokens minute" ("-": none), or the older "key hash amount
 * account"; a gateway's lease (src/lua/lease.lua), lease id: "key hash
 * outstanding account tenant - - - -"
 */
#define TOKENROUTE_REDIS_RSVD        "tr:rsvd"

/* ZSET: reservations' request ids, scored by deadline */
#define TOKENROUTE_REDIS_RSV         "tr:rsv"

/* STRING: a reservation the sweep released, by request id (7 days) */
#define TOKENROUTE_REDIS_SWEPT       "tr:swept:"

/* STRING: an aggregate of leased requests charged, by flush id (8 days) */
#define TOKENROUTE_REDIS_FLUSHED     "tr:fl:"

/* LIST: dead letters, settlements and reservations Redis rejected */
#define TOKENROUTE_REDIS_DEAD        "tr:dead"

/*
 * HASH: the fleet's cooldowns, model id: "until status" (deadline in
 * wall-clock ms, the provider status that started it); entries over are
 * deleted by the admission that reads them
 */
#define TOKENROUTE_REDIS_COOLDOWN    "tr:cooldown"

/* STRING: the version of tr:cooldown, moved on at every change */
#define TOKENROUTE_REDIS_COOLDOWN_V  "tr:cooldown:v"

/* HASH: usage by day (YYYYMMDD, 400 days) and hour (YYYYMMDDHH, 8 days) */
#define TOKENROUTE_REDIS_USAGE_DAY   "tr:u:d:"
#define TOKENROUTE_REDIS_USAGE_HOUR  "tr:u:h:"


/* HASH: an admin key's record, by the SHA-256 hex of the raw admin key */
#define TOKENROUTE_REDIS_ADMIN       "tr:admin:"

/* STRING: the hash of the admin key with this id */
#define TOKENROUTE_REDIS_ADMINID     "tr:adminid:"

/* ZSET: admin key ids, scored by created_at */
#define TOKENROUTE_REDIS_ADMINS      "tr:admins"

/*
 * CHANNEL (pub/sub): what changed of keys, published by the control
 * scripts (src/lua/ctl_lib.lua): a key's hash, or "*" for every key
 */
#define TOKENROUTE_REDIS_INVAL       "tr:inval"


#endif /* _TOKENROUTE_SCHEMA_H_INCLUDED_ */
