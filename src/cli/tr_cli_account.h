
/*
 * Copyright (C) tokenroute authors
 *
 * Accounts in Redis (tr_cli_account.c): the name rule, the record, and
 * credit added atomically.
 */


#ifndef _TR_CLI_ACCOUNT_H_INCLUDED_
#define _TR_CLI_ACCOUNT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "tr_cli_redis.h"
#include "tr_cli_util.h"


#define TR_CLI_ACCOUNT_MAX       128
#define TR_CLI_ACCOUNT_DEFAULT   "default"

/* the fields of tr:acct:<account> in the order tr_cli_account_parse() reads */
#define TR_CLI_ACCOUNT_FIELDS    "credit reserved spent added"
#define TR_CLI_ACCOUNT_NFIELDS   4


/* an account's money, nano-USD; a missing field is 0 */
typedef struct {
    const char                *name;
    int64_t                    credit;
    int64_t                    reserved;
    int64_t                    spent;
    int64_t                    added;
} tr_cli_account_t;


int tr_cli_account_valid(const char *s, size_t len);
int tr_cli_account_check(const char *cmd, const char *account);
int tr_cli_account_add(tr_cli_redis_t *r, const char *name, int64_t nusd,
    tr_cli_account_t *acct);
int tr_cli_account_parse(redisReply *reply, tr_cli_account_t *acct,
    int *found);
int64_t tr_cli_account_available(tr_cli_account_t *acct);
void tr_cli_account_json(tr_cli_json_t *j, tr_cli_account_t *acct);


#endif /* _TR_CLI_ACCOUNT_H_INCLUDED_ */
