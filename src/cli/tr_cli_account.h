
/*
 * Copyright (C) tokenroute authors
 *
 * Accounts for the CLI's commands (tr_cli_account.c): the name rule, for
 * the commands that check it before reading Redis, and an account as the
 * control script ctl_accounts.lua returns it, printed.
 */


#ifndef _TR_CLI_ACCOUNT_H_INCLUDED_
#define _TR_CLI_ACCOUNT_H_INCLUDED_


#include <stddef.h>

#include <hiredis/hiredis.h>


#define TR_CLI_ACCOUNT_MAX       128
#define TR_CLI_ACCOUNT_DEFAULT   "default"

/* tr_cli_account_print(): how */
#define TR_CLI_ACCOUNT_LINE      0      /* one line: "credit add" */
#define TR_CLI_ACCOUNT_CREDIT    1      /* "credit show" */
#define TR_CLI_ACCOUNT_CREATED   2      /* "accounts show|list" */


int tr_cli_account_valid(const char *s, size_t len);
int tr_cli_account_print(redisReply *doc, int json, int how);


#endif /* _TR_CLI_ACCOUNT_H_INCLUDED_ */
