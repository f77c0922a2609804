
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute accounts ...": the accounts that hold prepaid credit.  The
 * operations are those of src/lua/ctl_accounts.lua, which the admin API
 * runs too.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <tokenroute_lua.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_ctl.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


static int tr_cli_accounts_create(tr_cli_opts_t *opts, int argc,
    char **argv);
static int tr_cli_accounts_show(tr_cli_opts_t *opts, int argc, char **argv,
    const char *op);


static const char  tr_cli_accounts_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] accounts <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create   create an account\n"
    "  show     show one account\n"
    "  list     list every account\n"
    "\n"
    "Run 'tokenroute accounts <command> --help' for the options of a\n"
    "command and 'tokenroute --help' for the global options and the exit\n"
    "status.\n";


static const char  tr_cli_accounts_create_usage[] =
    "usage: tokenroute accounts create NAME [--json]\n"
    "\n"
    "Create an account: the bill that the keys of the account spend from,\n"
    "with no credit yet ('credit add' adds it).  Keys, tenants and credit\n"
    "need their account to exist, except the account 'default', made on\n"
    "first use.  Exits with 1 if the account exists.\n"
    "\n"
    "Options:\n"
    "  NAME        1-128 letters, digits and . _ : @ -\n"
    "  --json      print the account as 'credit show --account NAME\n"
    "              --json' does\n"
    "  -h, --help  show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_accounts_show_usage[] =
    "usage: tokenroute accounts show NAME [--json]\n"
    "\n"
    "Show an account: its credit, reserved, available, spent and added\n"
    "USD (as 'credit show') and when it was created.  Exits with 1 if there\n"
    "is no such account or its record is damaged.\n"
    "\n"
    "Options:\n"
    "  --json      print the account as one JSON object: account, then\n"
    "              credit, reserved, available, spent and added as _usd\n"
    "              strings and _nusd integers (nano-USD), and created_at\n"
    "              (unix seconds, null for an account older than it)\n"
    "  -h, --help  show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_accounts_list_usage[] =
    "usage: tokenroute accounts list [--json]\n"
    "\n"
    "List every account, sorted by name, as 'accounts show' shows one.  An\n"
    "account whose record is damaged is skipped with a warning (in JSON\n"
    "its damaged amounts are null).  Read from Redis by pages of about\n"
    "250 (the admin API's limit and cursor), never all at once.\n"
    "\n"
    "Options:\n"
    "  --json      print a JSON array of the objects of 'accounts show'\n"
    "  -h, --help  show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_accounts(tr_cli_opts_t *opts, int argc, char **argv)
{
    int          rc;
    const char  *cmd;

    rc = tr_cli_subcommand(opts, "accounts", tr_cli_accounts_usage, &argc,
                           &argv, &cmd);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (strcmp(cmd, "create") == 0) {
        return tr_cli_accounts_create(opts, argc, argv);
    }

    if (strcmp(cmd, "show") == 0 || strcmp(cmd, "list") == 0) {
        return tr_cli_accounts_show(opts, argc, argv, cmd);
    }

    return tr_cli_usage_error("accounts", "unknown accounts command '%s'",
                              cmd);
}


static int
tr_cli_accounts_create(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    const char           *name;
    redisReply           *doc;
    tr_cli_redis_t       *r;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    name = NULL;
    json = 0;

    rc = tr_cli_args(opts, "accounts create", tr_cli_accounts_create_usage,
                     spec, argc, argv, &name, "NAME");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "name", name);

    rc = tr_cli_redis_connect(opts, "accounts create", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_ctl_run(r, "accounts create", tokenroute_lua_ctl_accounts,
                        tokenroute_lua_ctl_accounts_len, "create", &p, &doc);
    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (json) {
        rc = tr_cli_ctl_print(doc);

    } else {
        rc = (printf("created account %s\n", name) < 0) ? TR_CLI_FAILED
                                                        : TR_CLI_OK;
    }

    freeReplyObject(doc);

    return rc;
}


/* "accounts show NAME" and "accounts list": ops show and list */

static int
tr_cli_accounts_show(tr_cli_opts_t *opts, int argc, char **argv,
    const char *op)
{
    int                   rc, json, list;
    char                  cmd[32], *text;
    size_t                len;
    const char           *name;
    redisReply           *doc, all;
    tr_cli_redis_t       *r;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    list = (strcmp(op, "list") == 0);
    snprintf(cmd, sizeof(cmd), "accounts %s", op);

    name = NULL;
    json = 0;

    rc = tr_cli_args(opts, cmd,
                     list ? tr_cli_accounts_list_usage
                          : tr_cli_accounts_show_usage,
                     spec, argc, argv, list ? NULL : &name, "NAME");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "name", name);

    rc = tr_cli_redis_connect(opts, cmd, &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (list) {
        /* every page, as one array */
        rc = tr_cli_ctl_all(r, cmd, tokenroute_lua_ctl_accounts,
                            tokenroute_lua_ctl_accounts_len, op, &p,
                            "accounts", "account", &text, &len);
        tr_cli_redis_close(r);

        if (rc != TR_CLI_OK) {
            return rc;
        }

        memset(&all, 0, sizeof(all));
        all.type = REDIS_REPLY_STRING;
        all.str = text;
        all.len = len;

        rc = tr_cli_account_print(&all, json, TR_CLI_ACCOUNT_CREATED);

        free(text);

        return rc;
    }

    rc = tr_cli_ctl_run(r, cmd, tokenroute_lua_ctl_accounts,
                        tokenroute_lua_ctl_accounts_len, op, &p, &doc);
    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_account_print(doc, json, TR_CLI_ACCOUNT_CREATED);

    freeReplyObject(doc);

    return rc;
}
