
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute credit ...": prepaid credit added to an account or
 * adjusted, the credit of one or all accounts, and the ledger of every
 * change.  The operations are those of src/lua/ctl_accounts.lua, which
 * the admin API runs too.
 */


#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include <tokenroute_lua.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_ctl.h"
#include "tr_cli_doc.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


static int tr_cli_credit_change(tr_cli_opts_t *opts, int argc, char **argv,
    int adjust);
static int tr_cli_credit_show(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_credit_history(tr_cli_opts_t *opts, int argc,
    char **argv);
static int tr_cli_credit_run(tr_cli_opts_t *opts, const char *cmd,
    const char *op, tr_cli_ctl_params_t *p, redisReply **doc);


static const char  tr_cli_credit_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] credit <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  add      add prepaid credit to an account\n"
    "  adjust   correct an account's credit (a refund, a correction)\n"
    "  show     show the credit of one or all accounts\n"
    "  history  list the credit added and adjusted (the ledger)\n"
    "\n"
    "Run 'tokenroute credit <command> --help' for the options of a command\n"
    "and 'tokenroute --help' for the global options and the exit status.\n";


static const char  tr_cli_credit_add_usage[] =
    "usage: tokenroute credit add --account ACCOUNT --amount USD [--create]\n"
    "           [--idempotency-key KEY] [--reason TEXT] [--json]\n"
    "\n"
    "Add prepaid credit to an account, record it in the account's ledger\n"
    "('credit history') and print the new balance.  Requests of the\n"
    "account's keys are admitted while its available credit (credit -\n"
    "reserved) covers them.  Exits with 1 if the account does not exist\n"
    "(but 'default', made on first use) unless --create is given.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    the account (required; 1-128 letters, digits,\n"
    "                       . _ : @ -)\n"
    "  --amount USD         the amount to add (required; more than 0): 5,\n"
    "                       0.25 or $12.50, at most 9 decimals\n"
    "  --create             create the account if it does not exist\n"
    "  --idempotency-key KEY\n"
    "                       1-128 printable ASCII characters, no spaces: a\n"
    "                       retry with the same key within 7 days adds\n"
    "                       nothing and prints the first one's result; the\n"
    "                       same key with another account or amount exits\n"
    "                       with 1\n"
    "  --reason TEXT        why, in the ledger (1-500 characters)\n"
    "  --json               print the account as 'credit show --account\n"
    "                       ACCOUNT --json', with its ledger entry as\n"
    "                       \"entry\"\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_credit_adjust_usage[] =
    "usage: tokenroute credit adjust --account ACCOUNT --amount USD\n"
    "           --reason TEXT [--idempotency-key KEY] [--json]\n"
    "\n"
    "Adjust an account's credit by a signed amount (-1.50 for a refund, 2\n"
    "for a correction), record it in the ledger and print the new balance.\n"
    "A negative adjustment may not leave less credit than requests in\n"
    "flight have reserved (the available credit may not go below 0): it\n"
    "exits with 1 and says what is available.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    the account (required)\n"
    "  --amount USD         the signed amount (required; not 0), at most 9\n"
    "                       decimals\n"
    "  --reason TEXT        why (required; 1-500 characters)\n"
    "  --idempotency-key KEY\n"
    "                       as for 'credit add'\n"
    "  --json               print the account and its ledger entry, as\n"
    "                       'credit add --json'\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_credit_show_usage[] =
    "usage: tokenroute credit show [--account ACCOUNT] [--json]\n"
    "\n"
    "Show the credit of every account, sorted by name, or of one.  Amounts\n"
    "are USD with 2 to 9 decimals:\n"
    "  CREDIT      the prepaid balance: credit added minus the cost charged\n"
    "  RESERVED    held by requests in flight\n"
    "  AVAILABLE   CREDIT - RESERVED: what new requests may reserve\n"
    "  SPENT       the cost charged so far\n"
    "  ADDED       the credit ever added, net of adjustments\n"
    "Accounts come from 'accounts create', 'credit add --create' and\n"
    "'keys create' for 'default'.  Exits with 1 if --account names no\n"
    "account.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    only this account\n"
    "  --json               print a JSON array of objects (one object with\n"
    "                       --account) with account, credit_usd,\n"
    "                       reserved_usd, available_usd, spent_usd,\n"
    "                       added_usd as strings, credit_nusd,\n"
    "                       reserved_nusd, available_nusd, spent_nusd,\n"
    "                       added_nusd as integers in nano-USD and\n"
    "                       created_at (unix seconds or null)\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_credit_history_usage[] =
    "usage: tokenroute credit history --account ACCOUNT [--limit N]\n"
    "           [--cursor C] [--json]\n"
    "\n"
    "List the credit added and adjusted, newest first: the time (UTC),\n"
    "kind (add or adjust), amount, the credit after it, who made it (cli,\n"
    "or admin:<admin key name> over the admin API) and the reason.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    the account (required)\n"
    "  --limit N            at most N entries (1-1000, default 100)\n"
    "  --cursor C           the entries before the next_cursor C of a page\n"
    "  --json               print {\"account\":...,\"entries\":[...],\n"
    "                       \"next_cursor\":\"...\" or null}; an entry has\n"
    "                       seq, at (unix seconds), account, kind,\n"
    "                       amount_usd, amount_nusd, balance_usd,\n"
    "                       balance_nusd, reason, actor, idempotency_key\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_credit(tr_cli_opts_t *opts, int argc, char **argv)
{
    int          rc;
    const char  *cmd;

    rc = tr_cli_subcommand(opts, "credit", tr_cli_credit_usage, &argc, &argv,
                           &cmd);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (strcmp(cmd, "add") == 0) {
        return tr_cli_credit_change(opts, argc, argv, 0);
    }

    if (strcmp(cmd, "adjust") == 0) {
        return tr_cli_credit_change(opts, argc, argv, 1);
    }

    if (strcmp(cmd, "show") == 0) {
        return tr_cli_credit_show(opts, argc, argv);
    }

    if (strcmp(cmd, "history") == 0) {
        return tr_cli_credit_history(opts, argc, argv);
    }

    return tr_cli_usage_error("credit", "unknown credit command '%s'", cmd);
}


/* "credit add" (ops credit_add) and "credit adjust" (credit_adjust) */

static int
tr_cli_credit_change(tr_cli_opts_t *opts, int argc, char **argv, int adjust)
{
    int                   rc, json, create;
    const char           *cmd, *account, *amount, *key, *reason;
    redisReply           *doc;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--amount", &amount, NULL },
        { "--idempotency-key", &key, NULL },
        { "--reason", &reason, NULL },
        { "--json", NULL, &json },
        { adjust ? NULL : "--create", NULL, &create },
        { NULL, NULL, NULL }
    };

    cmd = adjust ? "credit adjust" : "credit add";
    account = NULL;
    amount = NULL;
    key = NULL;
    reason = NULL;
    json = 0;
    create = 0;

    rc = tr_cli_args(opts, cmd,
                     adjust ? tr_cli_credit_adjust_usage
                            : tr_cli_credit_add_usage,
                     spec, argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    /* the script's parameter is "name": its message would say --name */
    if (account == NULL) {
        return tr_cli_usage_error(cmd, "--account is required");
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "name", account);
    tr_cli_ctl_param(&p, "amount", amount);
    tr_cli_ctl_param(&p, "idempotency_key", key);
    tr_cli_ctl_param(&p, "reason", reason);
    tr_cli_ctl_param(&p, "create", create ? "1" : NULL);

    rc = tr_cli_credit_run(opts, cmd, adjust ? "credit_adjust" : "credit_add",
                           &p, &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_account_print(doc, json, TR_CLI_ACCOUNT_LINE);

    freeReplyObject(doc);

    return rc;
}


static int
tr_cli_credit_show(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    const char           *account;
    redisReply           *doc;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    account = NULL;
    json = 0;

    rc = tr_cli_args(opts, "credit show", tr_cli_credit_show_usage, spec,
                     argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "name", account);

    rc = tr_cli_credit_run(opts, "credit show",
                           (account != NULL) ? "show" : "list", &p, &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_account_print(doc, json, TR_CLI_ACCOUNT_CREDIT);

    freeReplyObject(doc);

    return rc;
}


static int
tr_cli_credit_history(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    yajl_val              tree, entries;
    const char           *account, *limit, *cursor;
    const char           *path[2];
    redisReply           *doc;
    tr_cli_ctl_params_t   p;

    static const tr_cli_doc_col_t  cols[] = {
        { "TIME", "at", TR_CLI_DOC_TIME },
        { "KIND", "kind", TR_CLI_DOC_STR },
        { "AMOUNT", "amount_usd", TR_CLI_DOC_STR },
        { "BALANCE", "balance_usd", TR_CLI_DOC_STR },
        { "ACTOR", "actor", TR_CLI_DOC_STR },
        { "REASON", "reason", TR_CLI_DOC_STR }
    };

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--limit", &limit, NULL },
        { "--cursor", &cursor, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    account = NULL;
    limit = NULL;
    cursor = NULL;
    json = 0;

    rc = tr_cli_args(opts, "credit history", tr_cli_credit_history_usage,
                     spec, argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (account == NULL) {
        return tr_cli_usage_error("credit history", "--account is required");
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "name", account);
    tr_cli_ctl_param(&p, "limit", limit);
    tr_cli_ctl_param(&p, "cursor", cursor);

    rc = tr_cli_credit_run(opts, "credit history", "history", &p, &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_ctl_output(doc, json, &tree);
    if (rc != TR_CLI_OK || tree == NULL) {
        return rc;
    }

    path[0] = "entries";
    path[1] = NULL;

    entries = yajl_tree_get(tree, path, yajl_t_array);

    if (entries == NULL) {
        tr_cli_error("unexpected JSON from the control script");
        rc = TR_CLI_FAILED;

    } else {
        rc = tr_cli_doc_table(entries, cols, 6, NULL, stdout);

        cursor = tr_cli_ctl_string(tree, "next_cursor");

        if (rc == TR_CLI_OK && cursor[0] != '\0') {
            fprintf(stderr, "tokenroute: older entries: --cursor %s\n",
                    cursor);
        }
    }

    yajl_tree_free(tree);

    return rc;
}


static int
tr_cli_credit_run(tr_cli_opts_t *opts, const char *cmd, const char *op,
    tr_cli_ctl_params_t *p, redisReply **doc)
{
    return tr_cli_ctl_once(opts, cmd, tokenroute_lua_ctl_accounts,
                           tokenroute_lua_ctl_accounts_len, op, p, doc);
}
