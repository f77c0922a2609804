
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute credit add" and "credit show": prepaid credit added to an
 * account, and the credit of one or all accounts as a table or JSON.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <tokenroute_money.h>
#include <tokenroute_schema.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


#define TR_CLI_CREDIT_COLS  6

/* tr_cli_credit_print() */
#define TR_CLI_CREDIT_LINE  0
#define TR_CLI_CREDIT_ONE   1
#define TR_CLI_CREDIT_ALL   2


static int tr_cli_credit_add(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_credit_show(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_credit_show_one(tr_cli_redis_t *r, const char *name,
    int json);
static int tr_cli_credit_show_all(tr_cli_redis_t *r, int json);
static int tr_cli_credit_print(tr_cli_account_t *accts, size_t n, int json,
    int how);
static int tr_cli_credit_cmp(const void *one, const void *two);


static const char  tr_cli_credit_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] credit <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  add      add prepaid credit to an account\n"
    "  show     show the credit of one or all accounts\n"
    "\n"
    "Run 'tokenroute credit <command> --help' for the options of a command\n"
    "and 'tokenroute --help' for the global options and the exit status.\n";


static const char  tr_cli_credit_add_usage[] =
    "usage: tokenroute credit add --account ACCOUNT --amount USD [--json]\n"
    "\n"
    "Add prepaid credit to an account, creating the account if needed, and\n"
    "print its new balance.  Requests of the account's keys are admitted\n"
    "while its available credit (credit - reserved) covers them.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    the account (required; 1-128 letters, digits,\n"
    "                       . _ : @ -)\n"
    "  --amount USD         the amount to add (required; more than 0): 5,\n"
    "                       0.25 or $12.50, at most 9 decimals\n"
    "  --json               print the account as one JSON object, as\n"
    "                       'credit show --account ACCOUNT --json'\n"
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
    "  ADDED       the credit ever added\n"
    "Accounts come from 'credit add' and 'keys create'.  Exits with 1 if\n"
    "--account names no account.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    only this account\n"
    "  --json               print a JSON array of objects (one object with\n"
    "                       --account) with account, credit_usd,\n"
    "                       reserved_usd, available_usd, spent_usd,\n"
    "                       added_usd as strings and credit_nusd,\n"
    "                       reserved_nusd, available_nusd, spent_nusd,\n"
    "                       added_nusd as integers in nano-USD\n"
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
        return tr_cli_credit_add(opts, argc, argv);
    }

    if (strcmp(cmd, "show") == 0) {
        return tr_cli_credit_show(opts, argc, argv);
    }

    return tr_cli_usage_error("credit", "unknown credit command '%s'", cmd);
}


static int
tr_cli_credit_add(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                rc, json;
    int64_t            nusd;
    const char        *account, *amount;
    tr_cli_redis_t    *r;
    tr_cli_account_t   acct;

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--amount", &amount, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    account = NULL;
    amount = NULL;
    json = 0;

    rc = tr_cli_args(opts, "credit add", tr_cli_credit_add_usage, spec, argc,
                     argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (account == NULL) {
        return tr_cli_usage_error("credit add", "--account is required");
    }

    if (amount == NULL) {
        return tr_cli_usage_error("credit add", "--amount is required");
    }

    if (tr_cli_account_check("credit add", account) != 0) {
        return TR_CLI_USAGE;
    }

    if (tokenroute_money_parse_usd(amount, strlen(amount), &nusd) != 0
        || nusd == 0)
    {
        return tr_cli_usage_error("credit add", "bad --amount '%s': expected "
                                  "a USD amount over 0 like 5, 0.25 or "
                                  "$12.50 with at most 9 decimals", amount);
    }

    rc = tr_cli_redis_connect(opts, "credit add", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_account_add(r, account, nusd, &acct);

    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        return rc;
    }

    return tr_cli_credit_print(&acct, 1, json, TR_CLI_CREDIT_LINE);
}


static int
tr_cli_credit_show(tr_cli_opts_t *opts, int argc, char **argv)
{
    int              rc, json;
    const char      *account;
    tr_cli_redis_t  *r;

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

    if (account != NULL && tr_cli_account_check("credit show", account) != 0)
    {
        return TR_CLI_USAGE;
    }

    rc = tr_cli_redis_connect(opts, "credit show", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (account != NULL) {
        rc = tr_cli_credit_show_one(r, account, json);

    } else {
        rc = tr_cli_credit_show_all(r, json);
    }

    tr_cli_redis_close(r);

    return rc;
}


/*
 * An account exists when it is in tr:accts or has a tr:acct record: the
 * gateway may charge an account that no command has listed yet.
 */

static int
tr_cli_credit_show_one(tr_cli_redis_t *r, const char *name, int json)
{
    int                rc, found;
    redisReply        *member, *record;
    tr_cli_account_t   acct;

    if (tr_cli_redis_append(r, &rc,
                            "SISMEMBER " TOKENROUTE_REDIS_ACCTS " %s", name)
        != 0
        || tr_cli_redis_append(r, &rc,
                               "HMGET " TOKENROUTE_REDIS_ACCT "%s "
                               TR_CLI_ACCOUNT_FIELDS,
                               name)
           != 0)
    {
        return rc;
    }

    member = tr_cli_redis_reply(r, &rc);
    if (member == NULL) {
        return rc;
    }

    if (member->type != REDIS_REPLY_INTEGER) {
        return tr_cli_redis_unexpected(r, member,
                                       "SISMEMBER " TOKENROUTE_REDIS_ACCTS);
    }

    record = tr_cli_redis_reply(r, &rc);
    if (record == NULL) {
        freeReplyObject(member);
        return rc;
    }

    acct.name = name;

    if (tr_cli_account_parse(record, &acct, &found) != 0) {
        tr_cli_error("account %s has a malformed " TOKENROUTE_REDIS_ACCT
                     " record", name);
        rc = TR_CLI_FAILED;

    } else if (member->integer == 0 && !found) {
        tr_cli_error("no account %s", name);
        rc = TR_CLI_FAILED;

    } else {
        rc = tr_cli_credit_print(&acct, 1, json, TR_CLI_CREDIT_ONE);
    }

    freeReplyObject(member);
    freeReplyObject(record);

    return rc;
}


static int
tr_cli_credit_show_all(tr_cli_redis_t *r, int json)
{
    int                 rc, found;
    size_t              i, n, nacct;
    redisReply         *names, *reply, *e, **sorted;
    tr_cli_account_t   *accts;

    sorted = NULL;
    accts = NULL;

    names = tr_cli_redis_command(r, &rc, "SMEMBERS " TOKENROUTE_REDIS_ACCTS);
    if (names == NULL) {
        return rc;
    }

    if (names->type != REDIS_REPLY_ARRAY) {
        return tr_cli_redis_unexpected(r, names,
                                       "SMEMBERS " TOKENROUTE_REDIS_ACCTS);
    }

    n = names->elements;

    sorted = calloc(n + 1, sizeof(redisReply *));
    accts = calloc(n + 1, sizeof(tr_cli_account_t));

    if (sorted == NULL || accts == NULL) {
        tr_cli_error("out of memory");
        rc = TR_CLI_FAILED;
        goto done;
    }

    nacct = 0;

    for (i = 0; i < n; i++) {
        e = names->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            tr_cli_error("unexpected reply type %d in SMEMBERS "
                         TOKENROUTE_REDIS_ACCTS,
                         e->type);
            rc = TR_CLI_FAILED;
            goto done;
        }

        /* not written by this tool: it may not even be printable */
        if (!tr_cli_account_valid(e->str, e->len)) {
            fprintf(stderr, "tokenroute: warning: malformed account name "
                    "in " TOKENROUTE_REDIS_ACCTS ", skipped\n");
            continue;
        }

        sorted[nacct++] = e;
    }

    n = nacct;

    qsort(sorted, n, sizeof(redisReply *), tr_cli_credit_cmp);

    for (i = 0; i < n; i++) {
        if (tr_cli_redis_append(r, &rc,
                                "HMGET " TOKENROUTE_REDIS_ACCT "%s "
                                TR_CLI_ACCOUNT_FIELDS,
                                sorted[i]->str)
            != 0)
        {
            goto done;
        }
    }

    /* a damaged record costs its account a warning, not the whole list */

    nacct = 0;

    for (i = 0; i < n; i++) {
        reply = tr_cli_redis_reply(r, &rc);
        if (reply == NULL) {
            if (!tr_cli_redis_usable(r)) {
                goto done;
            }

            fprintf(stderr, "tokenroute: warning: account %s skipped\n",
                    sorted[i]->str);
            rc = TR_CLI_OK;
            continue;
        }

        accts[nacct].name = sorted[i]->str;

        if (tr_cli_account_parse(reply, &accts[nacct], &found) != 0) {
            fprintf(stderr, "tokenroute: warning: account %s has a "
                    "malformed " TOKENROUTE_REDIS_ACCT " record, skipped\n",
                    sorted[i]->str);

        } else {
            nacct++;
        }

        freeReplyObject(reply);
    }

    rc = tr_cli_credit_print(accts, nacct, json, TR_CLI_CREDIT_ALL);

done:

    freeReplyObject(names);
    free(sorted);
    free(accts);

    return rc;
}


/*
 * TR_CLI_CREDIT_LINE ("credit add"): one line, or the object in JSON;
 * TR_CLI_CREDIT_ONE ("credit show --account"): a table, or the object;
 * TR_CLI_CREDIT_ALL: a table, or an array of objects.
 */

static int
tr_cli_credit_print(tr_cli_account_t *accts, size_t n, int json, int how)
{
    int                rc;
    char               money[TR_CLI_CREDIT_COLS - 1][TOKENROUTE_MONEY_BUF_LEN];
    size_t             i;
    const char        *row[TR_CLI_CREDIT_COLS];
    tr_cli_json_t     *j;
    tr_cli_table_t    *t;
    tr_cli_account_t  *a;

    static const char  *header[] = {
        "ACCOUNT", "CREDIT", "RESERVED", "AVAILABLE", "SPENT", "ADDED"
    };

    rc = TR_CLI_OK;

    if (json) {
        j = tr_cli_json_create();
        if (j == NULL) {
            return TR_CLI_FAILED;
        }

        if (how == TR_CLI_CREDIT_ALL) {
            tr_cli_json_array_open(j);
        }

        for (i = 0; i < n; i++) {
            tr_cli_account_json(j, &accts[i]);
        }

        if (how == TR_CLI_CREDIT_ALL) {
            tr_cli_json_array_close(j);
        }

        if (tr_cli_json_print(j, stdout) != 0) {
            rc = TR_CLI_FAILED;
        }

        tr_cli_json_destroy(j);

        return rc;
    }

    t = NULL;

    if (how != TR_CLI_CREDIT_LINE) {
        t = tr_cli_table_create(TR_CLI_CREDIT_COLS, header);
        if (t == NULL) {
            return TR_CLI_FAILED;
        }
    }

    for (i = 0; i < n; i++) {
        a = &accts[i];

        tokenroute_money_format_usd(a->credit, money[0], sizeof(money[0]));
        tokenroute_money_format_usd(a->reserved, money[1], sizeof(money[1]));
        tokenroute_money_format_usd(tr_cli_account_available(a), money[2],
                                    sizeof(money[2]));
        tokenroute_money_format_usd(a->spent, money[3], sizeof(money[3]));
        tokenroute_money_format_usd(a->added, money[4], sizeof(money[4]));

        if (t == NULL) {
            printf("account %s: credit %s USD (available %s, reserved %s, "
                   "spent %s)\n", a->name, money[0], money[2], money[1],
                   money[3]);
            continue;
        }

        row[0] = a->name;
        row[1] = money[0];
        row[2] = money[1];
        row[3] = money[2];
        row[4] = money[3];
        row[5] = money[4];

        if (tr_cli_table_add(t, row) != 0) {
            tr_cli_table_destroy(t);
            return TR_CLI_FAILED;
        }
    }

    if (t != NULL && tr_cli_table_print(t, stdout) != 0) {
        rc = TR_CLI_FAILED;
    }

    tr_cli_table_destroy(t);

    return rc;
}


static int
tr_cli_credit_cmp(const void *one, const void *two)
{
    const redisReply  *a, *b;

    a = *(const redisReply **) one;
    b = *(const redisReply **) two;

    return strcmp(a->str, b->str);
}
