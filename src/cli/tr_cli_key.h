
/*
 * Copyright (C) tokenroute authors
 *
 * API keys in Redis (tr_cli_key.c): the raw key and id formats, a key
 * generated and stored, found, revoked, and its record read.
 */


#ifndef _TR_CLI_KEY_H_INCLUDED_
#define _TR_CLI_KEY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include <tokenroute_key.h>

#include "tr_cli_redis.h"
#include "tr_cli_util.h"


/* TOKENROUTE_KEY_PREFIX and the base64url of 32 random bytes, no padding */
#define TR_CLI_KEY_RANDOM_LEN     32
#define TR_CLI_KEY_B64_LEN        43
#define TR_CLI_KEY_RAW_LEN        (sizeof(TOKENROUTE_KEY_PREFIX) - 1        \
                                   + TR_CLI_KEY_B64_LEN)

/* the part of a raw key kept in the record for humans */
#define TR_CLI_KEY_SHOWN_LEN      12

/* "key_" and the hex of 8 random bytes */
#define TR_CLI_KEY_ID_PREFIX      "key_"
#define TR_CLI_KEY_ID_RANDOM_LEN  8
#define TR_CLI_KEY_ID_LEN         (sizeof(TR_CLI_KEY_ID_PREFIX) - 1         \
                                   + 2 * TR_CLI_KEY_ID_RANDOM_LEN)

#define TR_CLI_SHA256_LEN         32
#define TR_CLI_SHA256_HEX_LEN     64

/* tr_cli_key_store(): the new key's hash or id exists, try another key */
#define TR_CLI_RETRY              -2


/* a key record; strings point into a Redis reply or the arguments */
typedef struct {
    const char                *id;
    const char                *name;
    const char                *account;
    const char                *prefix;
    const char                *models;      /* "": all models */
    int64_t                    limit;       /* nano-USD, -1: no limit */
    int64_t                    expires_at;  /* 0: never */
    int64_t                    created_at;
    int64_t                    revoked;
    int64_t                    revoked_at;
    int64_t                    spent;       /* nano-USD, charged so far */
    int64_t                    reserved;    /* nano-USD, held in flight */
} tr_cli_key_t;


/* a freshly generated key, before it is stored */
typedef struct {
    char                       raw[TR_CLI_KEY_RAW_LEN + 1];
    char                       hash[TR_CLI_SHA256_HEX_LEN + 1];
    char                       id[TR_CLI_KEY_ID_LEN + 1];
    char                       prefix[TR_CLI_KEY_SHOWN_LEN + 1];
} tr_cli_new_key_t;


int tr_cli_key_generate(tr_cli_new_key_t *nk);
int tr_cli_key_store(tr_cli_redis_t *r, tr_cli_new_key_t *nk,
    tr_cli_key_t *key);
int tr_cli_key_lookup(tr_cli_redis_t *r, const char *id, char *hash);
int tr_cli_key_revoke(tr_cli_redis_t *r, const char *hash, int64_t now,
    int *result);
int tr_cli_key_is_hash(const char *s, size_t len);
int tr_cli_key_parse(redisReply *reply, tr_cli_key_t *key, char *err,
    size_t size);
const char *tr_cli_key_status(tr_cli_key_t *key, int64_t now);
void tr_cli_key_json_fields(tr_cli_json_t *j, tr_cli_key_t *key);
void tr_cli_key_json_state(tr_cli_json_t *j, tr_cli_key_t *key,
    int64_t now);
void tr_cli_key_json_spend(tr_cli_json_t *j, tr_cli_key_t *key);
void tr_cli_key_print(tr_cli_key_t *key, int64_t now, int created);
const char *tr_cli_key_limit(tr_cli_key_t *key, char *buf, size_t size,
    const char *none);
int64_t tr_cli_key_remaining(tr_cli_key_t *key);
const char *tr_cli_key_usd(int64_t nusd, char *buf, size_t size);
const char *tr_cli_key_time(int64_t t, char *buf, size_t size,
    const char *zero);


#endif /* _TR_CLI_KEY_H_INCLUDED_ */
