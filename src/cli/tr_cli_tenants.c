
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute tenants ...": named groups of keys inside an account, with
 * their own spend ceiling, budget period and rate limits.  The
 * operations are those of src/lua/ctl_tenants.lua, which the admin API
 * runs too.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include <tokenroute_lua.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_doc.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


#define TR_CLI_TENANTS_COLS  10


static int tr_cli_tenants_op(tr_cli_opts_t *opts, int argc, char **argv,
    const char *op, const char *usage);
static int tr_cli_tenants_print(const char *op, yajl_val tree);
static void tr_cli_tenants_free(redisReply *doc, redisReply *all);


static const char  tr_cli_tenants_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] tenants <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create   create a tenant in an account\n"
    "  show     show a tenant, its settings and its spend\n"
    "  update   change a tenant's limit, period or rate limits\n"
    "  list     list the tenants of an account\n"
    "  delete   delete a tenant\n"
    "\n"
    "A tenant is a group of keys within one account (a product, a customer,\n"
    "the agent sessions of one tenant): no credit of its own, but its own\n"
    "spend ceiling, budget period and rate limits, which the gateway\n"
    "enforces with the key's and the account's.\n"
    "\n"
    "Run 'tokenroute tenants <command> --help' for the options of a\n"
    "command and 'tokenroute --help' for the global options and the exit\n"
    "status.\n";


#define TR_CLI_TENANTS_SETTINGS                                               \
    "  --limit USD          the most its keys may spend together (in the\n"   \
    "                       period, with --period), none for no limit\n"     \
    "  --period P           day, week or month (UTC calendar periods): the\n" \
    "                       limit counts the spend of the current one; none\n"\
    "                       for a lifetime limit\n"                           \
    "  --rpm N              requests per minute, 0 or none for no limit\n"    \
    "  --tpm N              tokens per minute, 0 or none for no limit\n"      \
    "  --max-concurrent N   requests in flight at once, 0 or none for no\n"   \
    "                       limit\n"

#define TR_CLI_TENANTS_JSON                                                   \
    "  --json               print the tenant as one JSON object: account,\n"  \
    "                       name, created_at, limit_usd/_nusd, period,\n"     \
    "                       period_id, rpm, tpm, max_concurrent,\n"           \
    "                       spent_usd/_nusd (lifetime), period_spent_usd/\n"  \
    "                       _nusd (this period), reserved_usd/_nusd,\n"       \
    "                       remaining_usd/_nusd (of the limit), inflight;\n"  \
    "                       null for what it does not have\n"


static const char  tr_cli_tenants_create_usage[] =
    "usage: tokenroute tenants create ACCOUNT TENANT [--limit USD]\n"
    "           [--period day|week|month] [--rpm N] [--tpm N]\n"
    "           [--max-concurrent N] [--json]\n"
    "\n"
    "Create a tenant in an account (which must exist, but 'default').\n"
    "TENANT is 1-64 letters, digits and . _ @ -.  Exits with 1 if the\n"
    "account does not exist or the tenant does.\n"
    "\n"
    "Options:\n"
    TR_CLI_TENANTS_SETTINGS
    TR_CLI_TENANTS_JSON
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_tenants_update_usage[] =
    "usage: tokenroute tenants update ACCOUNT TENANT [--limit USD|none]\n"
    "           [--period day|week|month|none] [--rpm N] [--tpm N]\n"
    "           [--max-concurrent N] [--json]\n"
    "\n"
    "Change the settings given (at least one); the others stay.  Its spend\n"
    "stays: a new period kind counts from its current period.\n"
    "\n"
    "Options:\n"
    TR_CLI_TENANTS_SETTINGS
    TR_CLI_TENANTS_JSON
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_tenants_show_usage[] =
    "usage: tokenroute tenants show ACCOUNT TENANT [--json]\n"
    "\n"
    "Show a tenant: its settings, what it spent (in all and in the current\n"
    "period), what its requests in flight reserved and what remains of its\n"
    "limit.  Exits with 1 if there is no such tenant.\n"
    "\n"
    "Options:\n"
    TR_CLI_TENANTS_JSON
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_tenants_list_usage[] =
    "usage: tokenroute tenants list ACCOUNT [--json]\n"
    "\n"
    "List the tenants of an account, sorted by name, as 'tenants show'.\n"
    "Read from Redis by pages of about 250 (the admin API's limit and\n"
    "cursor), never all at once.\n"
    "\n"
    "Options:\n"
    "  --json               print a JSON array of the objects of 'tenants\n"
    "                       show --json'\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_tenants_delete_usage[] =
    "usage: tokenroute tenants delete ACCOUNT TENANT [--json]\n"
    "\n"
    "Delete a tenant.  Refused (exit 1) while a key that can still be used\n"
    "(not revoked, not expired) has the tenant, or while its requests are\n"
    "in flight; its usage records stay.\n"
    "\n"
    "Options:\n"
    "  --json               print {\"account\":...,\"name\":...,\n"
    "                       \"deleted\":true}\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_tenants(tr_cli_opts_t *opts, int argc, char **argv)
{
    int          rc;
    const char  *cmd;

    rc = tr_cli_subcommand(opts, "tenants", tr_cli_tenants_usage, &argc,
                           &argv, &cmd);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (strcmp(cmd, "create") == 0) {
        return tr_cli_tenants_op(opts, argc, argv, "create",
                                 tr_cli_tenants_create_usage);
    }

    if (strcmp(cmd, "update") == 0) {
        return tr_cli_tenants_op(opts, argc, argv, "update",
                                 tr_cli_tenants_update_usage);
    }

    if (strcmp(cmd, "show") == 0) {
        return tr_cli_tenants_op(opts, argc, argv, "show",
                                 tr_cli_tenants_show_usage);
    }

    if (strcmp(cmd, "list") == 0) {
        return tr_cli_tenants_op(opts, argc, argv, "list",
                                 tr_cli_tenants_list_usage);
    }

    if (strcmp(cmd, "delete") == 0) {
        return tr_cli_tenants_op(opts, argc, argv, "delete",
                                 tr_cli_tenants_delete_usage);
    }

    return tr_cli_usage_error("tenants", "unknown tenants command '%s'",
                              cmd);
}


/*
 * Every command: ACCOUNT first, then TENANT (but for list) and the
 * options in any order; the settings only for create and update.
 */

static int
tr_cli_tenants_op(tr_cli_opts_t *opts, int argc, char **argv,
    const char *op, const char *usage)
{
    int                   rc, json, set, list;
    char                  cmd[32], *text;
    size_t                len;
    yajl_val              tree;
    const char           *account, *name, *limit, *period, *rpm, *tpm;
    const char           *conc;
    redisReply           *doc, all;
    tr_cli_redis_t       *r;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { "--limit", &limit, NULL },
        { "--period", &period, NULL },
        { "--rpm", &rpm, NULL },
        { "--tpm", &tpm, NULL },
        { "--max-concurrent", &conc, NULL },
        { NULL, NULL, NULL }
    };

    snprintf(cmd, sizeof(cmd), "tenants %s", op);

    set = (strcmp(op, "create") == 0 || strcmp(op, "update") == 0);
    list = (strcmp(op, "list") == 0);

    if (!set) {
        spec[1].name = NULL;
    }

    account = NULL;
    name = NULL;
    limit = NULL;
    period = NULL;
    rpm = NULL;
    tpm = NULL;
    conc = NULL;
    json = 0;

    if (argc > 0 && argv[0][0] != '-') {
        account = argv[0];
        argc--;
        argv++;
    }

    rc = tr_cli_args(opts, cmd, usage, spec, argc, argv,
                     list ? NULL : &name, "TENANT");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (account == NULL) {
        return tr_cli_usage_error(cmd, "missing ACCOUNT (the first "
                                  "argument)");
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "account", account);
    tr_cli_ctl_param(&p, "name", name);
    tr_cli_ctl_param(&p, "limit", limit);
    tr_cli_ctl_param(&p, "period", period);
    tr_cli_ctl_param(&p, "rpm", rpm);
    tr_cli_ctl_param(&p, "tpm", tpm);
    tr_cli_ctl_param(&p, "max_concurrent", conc);

    rc = tr_cli_redis_connect(opts, cmd, &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (list) {
        /* every page, as one array */
        rc = tr_cli_ctl_all(r, cmd, tokenroute_lua_ctl_tenants,
                            tokenroute_lua_ctl_tenants_len, op, &p,
                            "tenants", "name", &text, &len);
        doc = &all;
        memset(&all, 0, sizeof(all));
        all.type = REDIS_REPLY_STRING;
        all.str = text;
        all.len = len;

    } else {
        rc = tr_cli_ctl_run(r, cmd, tokenroute_lua_ctl_tenants,
                            tokenroute_lua_ctl_tenants_len, op, &p, &doc);
    }

    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (json) {
        rc = tr_cli_ctl_print(doc);
        tr_cli_tenants_free(doc, &all);
        return rc;
    }

    tree = tr_cli_ctl_tree(doc);
    tr_cli_tenants_free(doc, &all);

    if (tree == NULL) {
        return TR_CLI_FAILED;
    }

    rc = tr_cli_tenants_print(op, tree);

    yajl_tree_free(tree);

    return rc;
}


static int
tr_cli_tenants_print(const char *op, yajl_val tree)
{
    const char  *account, *name;

    static const tr_cli_doc_col_t  cols[TR_CLI_TENANTS_COLS] = {
        { "TENANT", "name", TR_CLI_DOC_STR },
        { "LIMIT", "limit_usd", TR_CLI_DOC_STR },
        { "PERIOD", "period", TR_CLI_DOC_STR },
        { "SPENT", "spent_usd", TR_CLI_DOC_STR },
        { "PERIOD_SPENT", "period_spent_usd", TR_CLI_DOC_STR },
        { "RESERVED", "reserved_usd", TR_CLI_DOC_STR },
        { "REMAINING", "remaining_usd", TR_CLI_DOC_STR },
        { "RPM", "rpm", TR_CLI_DOC_INT },
        { "TPM", "tpm", TR_CLI_DOC_INT },
        { "CONCURRENT", "max_concurrent", TR_CLI_DOC_INT }
    };

    if (strcmp(op, "delete") != 0) {
        return tr_cli_doc_table(tree, cols, TR_CLI_TENANTS_COLS, NULL,
                                stdout);
    }

    account = tr_cli_ctl_string(tree, "account");
    name = tr_cli_ctl_string(tree, "name");

    return (printf("deleted tenant %s of account %s\n", name, account) < 0)
           ? TR_CLI_FAILED : TR_CLI_OK;
}


/* the document: a script's reply, or every page gathered (*all) */

static void
tr_cli_tenants_free(redisReply *doc, redisReply *all)
{
    if (doc == all) {
        free(all->str);
        return;
    }

    freeReplyObject(doc);
}
