
/*
 * Copyright (C) tokenroute authors
 *
 * API keys in Redis, for the keys commands: a key generated and stored
 * with its indexes, found by id, revoked; a record read and checked, its
 * status, and its fields as text or JSON.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <tokenroute_lua.h>
#include <tokenroute_money.h>
#include <tokenroute_schema.h>

#include "tr_cli.h"
#include "tr_cli_key.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


#define TR_CLI_FIELD_TEXT         0
#define TR_CLI_FIELD_WORD         1
#define TR_CLI_FIELD_INT          2
#define TR_CLI_FIELD_LIMIT        3
#define TR_CLI_FIELD_FLAG         4
#define TR_CLI_FIELD_MONEY        5       /* may be missing: 0 */


typedef struct {
    const char                *name;
    int                        type;
    size_t                     offset;
} tr_cli_key_field_t;


static void tr_cli_key_base64url(const unsigned char *src, size_t len,
    char *dst);
static void tr_cli_key_hex(const unsigned char *src, size_t len, char *dst);
static int tr_cli_key_parse_field(tr_cli_key_field_t *f, redisReply *value,
    tr_cli_key_t *key);
static void tr_cli_key_field(const char *label, const char *value);


/*
 * This file owns the Redis schema that the nginx module reads:
 *   HASH   tr:key:<sha256 hex of the raw key>  the record, fields below
 *   STRING tr:keyid:<id>                       the hash, to find a record
 *   ZSET   tr:keys                             ids scored by created_at
 * and adds the key's account to SET tr:accts (see tr_cli_account.c).
 * The gateway adds "spent" and "reserved" to the record as it charges.
 */

static tr_cli_key_field_t  tr_cli_key_fields[] = {

    { "id", TR_CLI_FIELD_WORD, offsetof(tr_cli_key_t, id) },
    { "name", TR_CLI_FIELD_TEXT, offsetof(tr_cli_key_t, name) },
    { "account", TR_CLI_FIELD_WORD, offsetof(tr_cli_key_t, account) },
    { "models", TR_CLI_FIELD_WORD, offsetof(tr_cli_key_t, models) },
    { "limit", TR_CLI_FIELD_LIMIT, offsetof(tr_cli_key_t, limit) },
    { "expires_at", TR_CLI_FIELD_INT, offsetof(tr_cli_key_t, expires_at) },
    { "revoked", TR_CLI_FIELD_FLAG, offsetof(tr_cli_key_t, revoked) },
    { "revoked_at", TR_CLI_FIELD_INT, offsetof(tr_cli_key_t, revoked_at) },
    { "created_at", TR_CLI_FIELD_INT, offsetof(tr_cli_key_t, created_at) },
    { "prefix", TR_CLI_FIELD_WORD, offsetof(tr_cli_key_t, prefix) },
    { "spent", TR_CLI_FIELD_MONEY, offsetof(tr_cli_key_t, spent) },
    { "reserved", TR_CLI_FIELD_MONEY, offsetof(tr_cli_key_t, reserved) },
    { NULL, 0, 0 }
};


int
tr_cli_key_generate(tr_cli_new_key_t *nk)
{
    int            rc;
    size_t         len;
    unsigned int   mdlen;
    unsigned char  bytes[TR_CLI_KEY_RANDOM_LEN];
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (RAND_bytes(bytes, TR_CLI_KEY_RANDOM_LEN) != 1) {
        tr_cli_error("cannot generate a random key: %s",
                     ERR_error_string(ERR_get_error(), NULL));
        return TR_CLI_FAILED;
    }

    len = sizeof(TOKENROUTE_KEY_PREFIX) - 1;

    memcpy(nk->raw, TOKENROUTE_KEY_PREFIX, len);
    tr_cli_key_base64url(bytes, TR_CLI_KEY_RANDOM_LEN, nk->raw + len);
    nk->raw[TR_CLI_KEY_RAW_LEN] = '\0';

    OPENSSL_cleanse(bytes, sizeof(bytes));

    memcpy(nk->prefix, nk->raw, TR_CLI_KEY_SHOWN_LEN);
    nk->prefix[TR_CLI_KEY_SHOWN_LEN] = '\0';

    rc = EVP_Digest(nk->raw, TR_CLI_KEY_RAW_LEN, md, &mdlen, EVP_sha256(),
                    NULL);

    if (rc != 1 || mdlen != TR_CLI_SHA256_LEN) {
        tr_cli_error("cannot hash the key: %s",
                     ERR_error_string(ERR_get_error(), NULL));
        return TR_CLI_FAILED;
    }

    tr_cli_key_hex(md, TR_CLI_SHA256_LEN, nk->hash);

    if (RAND_bytes(bytes, TR_CLI_KEY_ID_RANDOM_LEN) != 1) {
        tr_cli_error("cannot generate a random key id: %s",
                     ERR_error_string(ERR_get_error(), NULL));
        return TR_CLI_FAILED;
    }

    len = sizeof(TR_CLI_KEY_ID_PREFIX) - 1;

    memcpy(nk->id, TR_CLI_KEY_ID_PREFIX, len);
    tr_cli_key_hex(bytes, TR_CLI_KEY_ID_RANDOM_LEN, nk->id + len);

    return TR_CLI_OK;
}


/* RFC 4648 section 5, without padding; dst gets no NUL */

static void
tr_cli_key_base64url(const unsigned char *src, size_t len, char *dst)
{
    uint32_t  v;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    while (len >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];

        *dst++ = alphabet[v >> 18 & 0x3f];
        *dst++ = alphabet[v >> 12 & 0x3f];
        *dst++ = alphabet[v >> 6 & 0x3f];
        *dst++ = alphabet[v & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len == 0) {
        return;
    }

    v = (uint32_t) src[0] << 16;

    if (len == 2) {
        v |= (uint32_t) src[1] << 8;
    }

    *dst++ = alphabet[v >> 18 & 0x3f];
    *dst++ = alphabet[v >> 12 & 0x3f];

    if (len == 2) {
        *dst = alphabet[v >> 6 & 0x3f];
    }
}


/* lowercase, NUL-terminated */

static void
tr_cli_key_hex(const unsigned char *src, size_t len, char *dst)
{
    size_t  i;

    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        *dst++ = digits[src[i] >> 4];
        *dst++ = digits[src[i] & 0x0f];
    }

    *dst = '\0';
}


/*
 * Returns TR_CLI_OK, TR_CLI_RETRY if the hash or id already exists, or an
 * exit status.
 */

int
tr_cli_key_store(tr_cli_redis_t *r, tr_cli_new_key_t *nk,
    tr_cli_key_t *key)
{
    int          rc;
    char         record[sizeof(TOKENROUTE_REDIS_KEY) + TR_CLI_SHA256_HEX_LEN];
    char         index[sizeof(TOKENROUTE_REDIS_KEYID) + TR_CLI_KEY_ID_LEN];
    char         limit[TR_CLI_INT_LEN], expires[TR_CLI_INT_LEN];
    char         created[TR_CLI_INT_LEN];
    const char  *args[31];
    redisReply  *reply;

    snprintf(record, sizeof(record), TOKENROUTE_REDIS_KEY "%s", nk->hash);
    snprintf(index, sizeof(index), TOKENROUTE_REDIS_KEYID "%s", nk->id);
    snprintf(expires, sizeof(expires), "%lld", (long long) key->expires_at);
    snprintf(created, sizeof(created), "%lld", (long long) key->created_at);

    if (key->limit >= 0) {
        snprintf(limit, sizeof(limit), "%lld", (long long) key->limit);

    } else {
        limit[0] = '\0';
    }

    args[0] = "EVAL";
    args[1] = tokenroute_lua_key_create;   /* src/lua/key_create.lua */
    args[2] = "4";
    args[3] = record;
    args[4] = index;
    args[5] = TOKENROUTE_REDIS_KEYS;
    args[6] = TOKENROUTE_REDIS_ACCTS;
    args[7] = nk->hash;
    args[8] = created;
    args[9] = nk->id;
    args[10] = key->account;

    /* the record, field by field, in the order of tr_cli_key_fields */
    args[11] = "id";
    args[12] = nk->id;
    args[13] = "name";
    args[14] = key->name;
    args[15] = "account";
    args[16] = key->account;
    args[17] = "models";
    args[18] = key->models;
    args[19] = "limit";
    args[20] = limit;
    args[21] = "expires_at";
    args[22] = expires;
    args[23] = "revoked";
    args[24] = "0";
    args[25] = "revoked_at";
    args[26] = "0";
    args[27] = "created_at";
    args[28] = created;
    args[29] = "prefix";
    args[30] = nk->prefix;

    reply = tr_cli_redis_argv(r, &rc, 31, args);
    if (reply == NULL) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_INTEGER
        || reply->integer < 0 || reply->integer > 1)
    {
        return tr_cli_redis_unexpected(r, reply, "the create script");
    }

    rc = (reply->integer == 1) ? TR_CLI_OK : TR_CLI_RETRY;

    freeReplyObject(reply);

    return rc;
}


/* finds the hash of the key with this id; hash must hold 65 bytes */

int
tr_cli_key_lookup(tr_cli_redis_t *r, const char *id, char *hash)
{
    int          rc;
    redisReply  *reply;

    reply = tr_cli_redis_command(r, &rc, "GET " TOKENROUTE_REDIS_KEYID "%s",
                                 id);
    if (reply == NULL) {
        return rc;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        tr_cli_error("no key with id %s", id);
        freeReplyObject(reply);
        return TR_CLI_FAILED;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return tr_cli_redis_unexpected(r, reply, "GET " TOKENROUTE_REDIS_KEYID);
    }

    if (!tr_cli_key_is_hash(reply->str, reply->len)) {
        tr_cli_error("key %s has a malformed " TOKENROUTE_REDIS_KEYID
                     " entry", id);
        freeReplyObject(reply);
        return TR_CLI_FAILED;
    }

    memcpy(hash, reply->str, TR_CLI_SHA256_HEX_LEN + 1);
    freeReplyObject(reply);

    return TR_CLI_OK;
}


/* *result: 1 revoked now, 0 revoked before, -1 no record */

int
tr_cli_key_revoke(tr_cli_redis_t *r, const char *hash, int64_t now,
    int *result)
{
    int          rc;
    char         record[sizeof(TOKENROUTE_REDIS_KEY) + TR_CLI_SHA256_HEX_LEN];
    char         at[TR_CLI_INT_LEN];
    const char  *args[5];
    redisReply  *reply;

    snprintf(record, sizeof(record), TOKENROUTE_REDIS_KEY "%s", hash);
    snprintf(at, sizeof(at), "%lld", (long long) now);

    args[0] = "EVAL";
    args[1] = tokenroute_lua_key_revoke;   /* src/lua/key_revoke.lua */
    args[2] = "1";
    args[3] = record;
    args[4] = at;

    reply = tr_cli_redis_argv(r, &rc, 5, args);
    if (reply == NULL) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_INTEGER
        || reply->integer < -1 || reply->integer > 1)
    {
        return tr_cli_redis_unexpected(r, reply, "the revoke script");
    }

    *result = (int) reply->integer;
    freeReplyObject(reply);

    return TR_CLI_OK;
}


int
tr_cli_key_is_hash(const char *s, size_t len)
{
    size_t  i;

    if (len != TR_CLI_SHA256_HEX_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f')) {
            return 0;
        }
    }

    return 1;
}


/*
 * Fills key from an HGETALL reply.  On failure err says why; it is empty
 * on success.
 */

int
tr_cli_key_parse(redisReply *reply, tr_cli_key_t *key, char *err,
    size_t size)
{
    size_t               i;
    uint32_t             seen;
    redisReply          *name;
    tr_cli_key_field_t  *f;

    err[0] = '\0';
    seen = 0;

    memset(key, 0, sizeof(tr_cli_key_t));

    if (reply->elements % 2 != 0) {
        snprintf(err, size, "odd HGETALL reply");
        return -1;
    }

    for (i = 0; i < reply->elements; i += 2) {
        name = reply->element[i];

        if (name->type != REDIS_REPLY_STRING
            || reply->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            snprintf(err, size, "non-string HGETALL reply element");
            return -1;
        }

        for (f = tr_cli_key_fields; f->name != NULL; f++) {
            if (strcmp(name->str, f->name) == 0) {
                break;
            }
        }

        /* fields added later by others are not ours to judge */
        if (f->name == NULL) {
            continue;
        }

        if (tr_cli_key_parse_field(f, reply->element[i + 1], key) != 0) {
            snprintf(err, size, "bad field '%s'", f->name);
            return -1;
        }

        seen |= 1u << (f - tr_cli_key_fields);
    }

    for (f = tr_cli_key_fields; f->name != NULL; f++) {
        if ((seen & 1u << (f - tr_cli_key_fields)) == 0
            && f->type != TR_CLI_FIELD_MONEY)
        {
            snprintf(err, size, "missing field '%s'", f->name);
            return -1;
        }
    }

    return 0;
}


static int
tr_cli_key_parse_field(tr_cli_key_field_t *f, redisReply *value,
    tr_cli_key_t *key)
{
    size_t    i;
    int64_t  *n;

    switch (f->type) {

    case TR_CLI_FIELD_TEXT:
        for (i = 0; i < value->len; i++) {
            if ((unsigned char) value->str[i] < 0x20
                || value->str[i] == 0x7f)
            {
                return -1;
            }
        }

        if (!tr_cli_utf8_valid(value->str, value->len)) {
            return -1;
        }

        *(const char **) ((char *) key + f->offset) = value->str;
        return 0;

    case TR_CLI_FIELD_WORD:
        for (i = 0; i < value->len; i++) {
            if (value->str[i] <= 0x20 || value->str[i] >= 0x7f) {
                return -1;
            }
        }

        *(const char **) ((char *) key + f->offset) = value->str;
        return 0;

    default:
        break;
    }

    n = (int64_t *) ((char *) key + f->offset);

    if (f->type == TR_CLI_FIELD_LIMIT && value->len == 0) {
        *n = -1;
        return 0;
    }

    /* written by HINCRBY: an overcharge may make arithmetic on it odd */
    if (f->type == TR_CLI_FIELD_MONEY) {
        return tr_cli_parse_sint64(value->str, value->len, n);
    }

    if (tr_cli_parse_int64(value->str, value->len, n) != 0) {
        return -1;
    }

    if (f->type == TR_CLI_FIELD_FLAG && *n > 1) {
        return -1;
    }

    return 0;
}


const char *
tr_cli_key_status(tr_cli_key_t *key, int64_t now)
{
    if (key->revoked) {
        return "revoked";
    }

    if (key->expires_at != 0 && key->expires_at <= now) {
        return "expired";
    }

    return "active";
}


/* the fields that "keys create --json" shares with "keys list --json" */

void
tr_cli_key_json_fields(tr_cli_json_t *j, tr_cli_key_t *key)
{
    char         buf[TOKENROUTE_MONEY_BUF_LEN];
    const char  *p, *start;

    tr_cli_json_str(j, "id");
    tr_cli_json_str(j, key->id);
    tr_cli_json_str(j, "name");
    tr_cli_json_str(j, key->name);
    tr_cli_json_str(j, "account");
    tr_cli_json_str(j, key->account);
    tr_cli_json_str(j, "prefix");
    tr_cli_json_str(j, key->prefix);

    tr_cli_json_str(j, "models");
    tr_cli_json_array_open(j);

    if (key->models[0] != '\0') {
        start = key->models;

        for (p = start; /* void */ ; p++) {
            if (*p == ',' || *p == '\0') {
                tr_cli_json_strn(j, start, p - start);

                if (*p == '\0') {
                    break;
                }

                start = p + 1;
            }
        }
    }

    tr_cli_json_array_close(j);

    tr_cli_json_str(j, "limit_usd");

    if (key->limit >= 0) {
        tokenroute_money_format_usd(key->limit, buf, sizeof(buf));
        tr_cli_json_str(j, buf);

    } else {
        tr_cli_json_null(j);
    }

    tr_cli_json_str(j, "expires_at");

    if (key->expires_at != 0) {
        tr_cli_json_int(j, key->expires_at);

    } else {
        tr_cli_json_null(j);
    }

    tr_cli_json_str(j, "created_at");
    tr_cli_json_int(j, key->created_at);
}


void
tr_cli_key_json_state(tr_cli_json_t *j, tr_cli_key_t *key, int64_t now)
{
    tr_cli_json_str(j, "revoked");
    tr_cli_json_bool(j, key->revoked != 0);
    tr_cli_json_str(j, "status");
    tr_cli_json_str(j, tr_cli_key_status(key, now));
}


/* what "keys list --json" and "keys show --json" add about money */

void
tr_cli_key_json_spend(tr_cli_json_t *j, tr_cli_key_t *key)
{
    tr_cli_json_str(j, "spent_usd");
    tr_cli_json_usd(j, key->spent);
    tr_cli_json_str(j, "reserved_usd");
    tr_cli_json_usd(j, key->reserved);
    tr_cli_json_str(j, "remaining_usd");

    if (key->limit >= 0) {
        tr_cli_json_usd(j, tr_cli_key_remaining(key));

    } else {
        tr_cli_json_null(j);
    }

    tr_cli_json_str(j, "spent_nusd");
    tr_cli_json_int(j, key->spent);
    tr_cli_json_str(j, "reserved_nusd");
    tr_cli_json_int(j, key->reserved);
    tr_cli_json_str(j, "remaining_nusd");

    if (key->limit >= 0) {
        tr_cli_json_int(j, tr_cli_key_remaining(key));

    } else {
        tr_cli_json_null(j);
    }
}


void
tr_cli_key_print(tr_cli_key_t *key, int64_t now, int created)
{
    char  buf[TOKENROUTE_MONEY_BUF_LEN + 1], tbuf[TR_CLI_TIME_LEN];

    tr_cli_key_field("id:", key->id);
    tr_cli_key_field("name:", key->name);
    tr_cli_key_field("account:", key->account);

    if (!created) {
        tr_cli_key_field("prefix:", key->prefix);
    }

    tr_cli_key_field("limit:",
                     tr_cli_key_limit(key, buf, sizeof(buf), "none"));

    if (!created) {
        tr_cli_key_field("spent:",
                         tr_cli_key_usd(key->spent, buf, sizeof(buf)));
        tr_cli_key_field("reserved:",
                         tr_cli_key_usd(key->reserved, buf, sizeof(buf)));
        tr_cli_key_field("remaining:",
                         (key->limit >= 0)
                         ? tr_cli_key_usd(tr_cli_key_remaining(key), buf,
                                          sizeof(buf))
                         : "-");
    }

    tr_cli_key_field("models:",
                     (key->models[0] != '\0') ? key->models : "all");
    tr_cli_key_field("expires:",
                     tr_cli_key_time(key->expires_at, tbuf, sizeof(tbuf),
                                     "never"));

    if (created) {
        return;
    }

    tr_cli_key_field("created:",
                     tr_cli_key_time(key->created_at, tbuf, sizeof(tbuf),
                                     "?"));

    if (key->revoked) {
        tr_cli_key_field("revoked:",
                         tr_cli_key_time(key->revoked_at, tbuf, sizeof(tbuf),
                                         "yes"));
    }

    tr_cli_key_field("status:", tr_cli_key_status(key, now));
}


static void
tr_cli_key_field(const char *label, const char *value)
{
    printf("%-10s %s\n", label, value);
}


const char *
tr_cli_key_limit(tr_cli_key_t *key, char *buf, size_t size,
    const char *none)
{
    if (key->limit < 0) {
        return none;
    }

    return tr_cli_key_usd(key->limit, buf, size);
}


/* what the key may still spend, when it has a limit: may be negative */

int64_t
tr_cli_key_remaining(tr_cli_key_t *key)
{
    return tr_cli_sub(tr_cli_sub(key->limit, key->spent), key->reserved);
}


/* "$12.50", "-$0.25"; buf holds TOKENROUTE_MONEY_BUF_LEN + 1 bytes */

const char *
tr_cli_key_usd(int64_t nusd, char *buf, size_t size)
{
    char         tmp[TOKENROUTE_MONEY_BUF_LEN];
    size_t       n, len;
    const char  *digits;

    len = tokenroute_money_format_usd(nusd, tmp, sizeof(tmp));
    digits = tmp;
    n = 0;

    if (nusd < 0) {
        buf[n++] = '-';
        digits++;
        len--;
    }

    buf[n++] = '$';

    if (len > size - n - 1) {
        len = size - n - 1;
    }

    memcpy(buf + n, digits, len);
    buf[n + len] = '\0';

    return buf;
}


const char *
tr_cli_key_time(int64_t t, char *buf, size_t size, const char *zero)
{
    if (t == 0) {
        return zero;
    }

    if (tr_cli_format_time(t, buf, size) == 0) {
        snprintf(buf, size, "%lld", (long long) t);
    }

    return buf;
}
