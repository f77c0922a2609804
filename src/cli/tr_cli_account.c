
/*
 * Copyright (C) tokenroute authors
 *
 * Accounts in Redis, for the credit and keys commands: the account name
 * rule, credit added atomically, a record read, and its JSON.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <tokenroute_lua.h>
#include <tokenroute_schema.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


/*
 * This file owns the Redis schema of accounts, shared with the nginx
 * module:
 *   HASH   tr:acct:<account>   credit, reserved, spent, added (nano-USD)
 *   SET    tr:accts            account names
 */


/* 1-128 letters, digits and . _ : @ -; never '|', the usage separator */

int
tr_cli_account_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > TR_CLI_ACCOUNT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] >= 'a' && s[i] <= 'z')
            || (s[i] >= 'A' && s[i] <= 'Z')
            || (s[i] >= '0' && s[i] <= '9')
            || (s[i] != '\0' && strchr("._:@-", s[i]) != NULL))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


int
tr_cli_account_check(const char *cmd, const char *account)
{
    if (tr_cli_account_valid(account, strlen(account))) {
        return 0;
    }

    tr_cli_usage_error(cmd, "bad --account '%s': use 1-%d letters, digits "
                       "and . _ : @ -", account, TR_CLI_ACCOUNT_MAX);
    return -1;
}


/* fills acct with the account's state after the addition */

int
tr_cli_account_add(tr_cli_redis_t *r, const char *name, int64_t nusd,
    tr_cli_account_t *acct)
{
    int          rc, found;
    char         record[sizeof(TOKENROUTE_REDIS_ACCT) + TR_CLI_ACCOUNT_MAX];
    char         amount[TR_CLI_INT_LEN];
    const char  *args[7];
    redisReply  *reply;

    snprintf(record, sizeof(record), TOKENROUTE_REDIS_ACCT "%s", name);
    snprintf(amount, sizeof(amount), "%lld", (long long) nusd);

    args[0] = "EVAL";
    args[1] = tokenroute_lua_account_add;  /* src/lua/account_add.lua */
    args[2] = "2";
    args[3] = record;
    args[4] = TOKENROUTE_REDIS_ACCTS;
    args[5] = amount;
    args[6] = name;

    reply = tr_cli_redis_argv(r, &rc, 7, args);
    if (reply == NULL) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        return tr_cli_redis_unexpected(r, reply, "the credit script");
    }

    acct->name = name;

    if (tr_cli_account_parse(reply, acct, &found) != 0) {
        tr_cli_error("account %s has a malformed " TOKENROUTE_REDIS_ACCT
                     " record", name);
        freeReplyObject(reply);
        return TR_CLI_FAILED;
    }

    freeReplyObject(reply);

    return TR_CLI_OK;
}


/*
 * Reads the reply of HMGET tr:acct:<account> TR_CLI_ACCOUNT_FIELDS into
 * acct (not its name).  *found is 0 when none of the fields exists.
 */

int
tr_cli_account_parse(redisReply *reply, tr_cli_account_t *acct, int *found)
{
    size_t       i;
    int64_t     *n;
    redisReply  *e;

    int64_t  *fields[TR_CLI_ACCOUNT_NFIELDS] = {
        &acct->credit, &acct->reserved, &acct->spent, &acct->added
    };

    *found = 0;

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != TR_CLI_ACCOUNT_NFIELDS)
    {
        return -1;
    }

    for (i = 0; i < TR_CLI_ACCOUNT_NFIELDS; i++) {
        e = reply->element[i];
        n = fields[i];

        if (e->type == REDIS_REPLY_NIL) {
            *n = 0;
            continue;
        }

        if (e->type != REDIS_REPLY_STRING
            || tr_cli_parse_sint64(e->str, e->len, n) != 0)
        {
            return -1;
        }

        *found = 1;
    }

    return 0;
}


/* the credit that new requests may reserve */

int64_t
tr_cli_account_available(tr_cli_account_t *acct)
{
    return tr_cli_sub(acct->credit, acct->reserved);
}


/* one JSON object: every amount as a USD string and in nano-USD */

void
tr_cli_account_json(tr_cli_json_t *j, tr_cli_account_t *acct)
{
    int64_t  available;

    available = tr_cli_account_available(acct);

    tr_cli_json_map_open(j);

    tr_cli_json_str(j, "account");
    tr_cli_json_str(j, acct->name);

    tr_cli_json_str(j, "credit_usd");
    tr_cli_json_usd(j, acct->credit);
    tr_cli_json_str(j, "reserved_usd");
    tr_cli_json_usd(j, acct->reserved);
    tr_cli_json_str(j, "available_usd");
    tr_cli_json_usd(j, available);
    tr_cli_json_str(j, "spent_usd");
    tr_cli_json_usd(j, acct->spent);
    tr_cli_json_str(j, "added_usd");
    tr_cli_json_usd(j, acct->added);

    tr_cli_json_str(j, "credit_nusd");
    tr_cli_json_int(j, acct->credit);
    tr_cli_json_str(j, "reserved_nusd");
    tr_cli_json_int(j, acct->reserved);
    tr_cli_json_str(j, "available_nusd");
    tr_cli_json_int(j, available);
    tr_cli_json_str(j, "spent_nusd");
    tr_cli_json_int(j, acct->spent);
    tr_cli_json_str(j, "added_nusd");
    tr_cli_json_int(j, acct->added);

    tr_cli_json_map_close(j);
}

