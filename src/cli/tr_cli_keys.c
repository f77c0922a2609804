
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute keys create", "keys list", "keys show" and "keys purge":
 * their options and output.  The rules and the writes are those of
 * src/lua/ctl_keys.lua, which the admin API runs too; update, rotate,
 * revoke and delete are in tr_cli_key_edit.c.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_key.h"
#include "tr_cli_util.h"


/* the columns of "keys list" */
#define TR_CLI_KEYS_COLS         11

/* the page size with which "keys list" reads every key */
#define TR_CLI_KEYS_PAGE         "1000"


static int tr_cli_keys_create(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_list(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_rows(tr_cli_table_t *t, yajl_val keys);
static int tr_cli_keys_show(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_purge(tr_cli_opts_t *opts, int argc, char **argv);


static const char  tr_cli_keys_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] keys <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create   create an API key; the raw key is shown only once\n"
    "  list     list API keys with their spend, oldest first\n"
    "  show     show one API key\n"
    "  update   change the settings of an API key\n"
    "  rotate   give an API key a new raw key, same id, spend, settings\n"
    "  revoke   revoke an API key\n"
    "  delete   delete an API key (its usage records stay)\n"
    "  purge    delete keys revoked or expired long ago\n"
    "  reindex  index the keys made by an older version, in batches\n"
    "\n"
    "A key is named by its id (key_...), its prefix (the first 12\n"
    "characters of the raw key, as 'keys list' shows) or the raw key.\n"
    "Run 'tokenroute keys <command> --help' for the options of a command\n"
    "and 'tokenroute --help' for the global options and the exit status.\n";


static const char  tr_cli_keys_create_usage[] =
    "usage: tokenroute keys create --name NAME [--account ACCOUNT]\n"
    "           [--tenant TENANT] [--limit USD] [--period PERIOD]\n"
    "           [--models MODEL,...] [--expires DURATION] [--rpm N]\n"
    "           [--tpm N] [--max-concurrent N] [--json]\n"
    "\n"
    "Create an API key and print it.  Only a SHA-256 hash of the key is\n"
    "stored, so the raw key is shown this once and cannot be recovered.\n"
    "Warns (on stderr, or in \"warnings\" with --json) when the account\n"
    "has no available credit, and when --models is given: the model ids\n"
    "are not checked against the gateways' configuration, which the CLI\n"
    "cannot see (a model no gateway declares is answered 404).\n"
    "\n"
    "Options:\n"
    "  --name NAME          a label for the key (required; 1-128 bytes of\n"
    "                       UTF-8 without control characters)\n"
    "  --account ACCOUNT    the account the key spends the credit of\n"
    "                       (default \"default\", made on first use; any\n"
    "                       other must exist: 'accounts create')\n"
    "  --tenant TENANT      the tenant of the account the key belongs to\n"
    "                       (must exist: 'tenants create')\n"
    "  --limit USD          spend ceiling of the key in USD: 5, 0.25 or\n"
    "                       $12.50, at most 9 decimals (default: none)\n"
    "  --period PERIOD      day, week or month: the limit counts the spend\n"
    "                       of the current UTC calendar period (weeks start\n"
    "                       on Monday); none (the default): the lifetime's\n"
    "  --models MODEL,...   comma-separated model ids the key may use, no\n"
    "                       spaces (default: all models)\n"
    "  --expires DURATION   lifetime: a positive number followed by s, m,\n"
    "                       h, d or w (90m, 12h, 30d, 2w; at most 100\n"
    "                       years), or 0 or never (the default)\n"
    "  --rpm N              at most N requests per calendar minute (0: no\n"
    "                       limit, the default)\n"
    "  --tpm N              at most N tokens per calendar minute\n"
    "  --max-concurrent N   at most N requests in flight\n"
    "  --json               print one JSON object on one line: raw, id,\n"
    "                       name, account, tenant, prefix, models,\n"
    "                       limit_usd, period, rpm, tpm, max_concurrent,\n"
    "                       expires_at, created_at, warnings\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_keys_list_usage[] =
    "usage: tokenroute keys list [--account ACCOUNT] [--tenant TENANT]\n"
    "           [--status STATUS] [--limit N] [--cursor CURSOR] [--json]\n"
    "\n"
    "List API keys, oldest first.  Raw keys are never shown; PREFIX is the\n"
    "first 12 characters of a key.  MODELS '*' means all models, LIMIT '-'\n"
    "means no limit, SPENT is the cost charged to the key so far, REMAINING\n"
    "is LIMIT - SPENT (in the current period, with --period) - what\n"
    "requests in flight have reserved ('-' without a limit), EXPIRES is in\n"
    "UTC and STATUS is active, revoked or expired.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    only the keys of this account\n"
    "  --tenant TENANT      only the keys of this tenant\n"
    "  --status STATUS      only active, revoked or expired keys\n"
    "  --limit N            one page of at most N keys (1-1000), as the\n"
    "                       admin API answers it: {\"keys\": [...],\n"
    "                       \"next_cursor\": ...}; without --limit and\n"
    "                       --cursor, every key\n"
    "  --cursor CURSOR      the page after the one whose next_cursor this is\n"
    "  --json               print a JSON array of objects with id, name,\n"
    "                       account, tenant, prefix, models, limit_usd,\n"
    "                       period, rpm, tpm, max_concurrent, expires_at,\n"
    "                       created_at, spent_usd, reserved_usd,\n"
    "                       remaining_usd (null without a limit),\n"
    "                       period_spent_usd, spent_nusd, reserved_nusd,\n"
    "                       remaining_nusd, period_spent_nusd (nano-USD\n"
    "                       integers), revoked, revoked_at and status (with\n"
    "                       --limit or --cursor: the page's object)\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_keys_show_usage[] =
    "usage: tokenroute keys show KEY [--json]\n"
    "\n"
    "Show the API key named by KEY (its id, key_..., its prefix or the raw\n"
    "key), with what it has spent, what requests in flight have reserved\n"
    "and what remains of its limit.  Exits with 1 if there is none, or if\n"
    "a prefix names several keys.\n"
    "\n"
    "Options:\n"
    "  --json               print one JSON object, as 'keys list --json'\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_keys_purge_usage[] =
    "usage: tokenroute keys purge [--older-than DURATION] [--json]\n"
    "\n"
    "Delete the keys revoked or expired more than DURATION ago (default\n"
    "30d); their usage records stay.  The gateway does this on its own\n"
    "(tokenroute_key_retention).\n"
    "\n"
    "Options:\n"
    "  --older-than DURATION  30s, 10m, 12h, 7d, 2w (default 30d)\n"
    "  --json               print {\"purged\": N, \"ids\": [...]}\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_keys(tr_cli_opts_t *opts, int argc, char **argv)
{
    int     rc;
    const   char  *cmd;

    rc = tr_cli_subcommand(opts, "keys", tr_cli_keys_usage, &argc, &argv,
                           &cmd);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (strcmp(cmd, "create") == 0) {
        return tr_cli_keys_create(opts, argc, argv);
    }

    if (strcmp(cmd, "list") == 0) {
        return tr_cli_keys_list(opts, argc, argv);
    }

    if (strcmp(cmd, "show") == 0) {
        return tr_cli_keys_show(opts, argc, argv);
    }

    if (strcmp(cmd, "purge") == 0) {
        return tr_cli_keys_purge(opts, argc, argv);
    }

    if (strcmp(cmd, "reindex") == 0) {
        return tr_cli_keys_reindex(opts, argc, argv);
    }

    rc = tr_cli_key_edit(opts, cmd, argc, argv);
    if (rc != TR_CLI_KEY_NO_COMMAND) {
        return rc;
    }

    return tr_cli_usage_error("keys", "unknown keys command '%s'", cmd);
}


static int
tr_cli_keys_create(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                     rc, json;
    yajl_val                tree;
    const char             *account;
    redisReply             *doc;
    tokenroute_secret_t     nk;
    tr_cli_ctl_params_t     p;
    tr_cli_key_settings_t   set;

    tr_cli_opt_t  spec[] = {
        TR_CLI_KEY_SETTINGS_OPTIONS(set),
        { "--account", &account, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    memset(&set, 0, sizeof(tr_cli_key_settings_t));
    account = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys create", tr_cli_keys_create_usage, spec,
                     argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (set.name == NULL) {
        return tr_cli_usage_error("keys create", "--name is required");
    }

    if (tr_cli_key_generate(&nk) != TR_CLI_OK) {
        OPENSSL_cleanse(&nk, sizeof(tokenroute_secret_t));
        return TR_CLI_FAILED;
    }

    p.n = 0;
    tr_cli_key_settings_params(&set, &p);
    tr_cli_ctl_param(&p, "account", account);
    tr_cli_ctl_param(&p, "hash", nk.hash);
    tr_cli_ctl_param(&p, "id", nk.id);
    tr_cli_ctl_param(&p, "prefix", nk.prefix);

    rc = tr_cli_key_run(opts, "keys create", "create", &p, &doc);
    if (rc != TR_CLI_OK) {
        OPENSSL_cleanse(&nk, sizeof(tokenroute_secret_t));
        return rc;
    }

    if (json) {
        rc = tr_cli_ctl_print_raw(doc, nk.raw, nk.raw_len);

    } else {
        tree = tr_cli_ctl_tree(doc);

        if (tree == NULL) {
            rc = TR_CLI_FAILED;

        } else {
            printf("%s\n", nk.raw);
            printf("This key is shown only once: store it now, it cannot "
                   "be recovered.\n\n");
            tr_cli_key_print(tree, 1);
            tr_cli_key_warnings(tree);
            yajl_tree_free(tree);
        }
    }

    OPENSSL_cleanse(&nk, sizeof(tokenroute_secret_t));
    freeReplyObject(doc);

    return rc;
}


static int
tr_cli_keys_list(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json, page;
    size_t                i;
    yajl_val              tree, keys, next;
    const char           *account, *tenant, *status, *limit, *cursor;
    const char           *path[2];
    char                 *after, *s;
    redisReply           *doc;
    tr_cli_json_t        *j;
    tr_cli_table_t       *t;
    tr_cli_ctl_params_t   p;

    static const char  *header[] = {
        "ID", "NAME", "ACCOUNT", "PREFIX", "MODELS", "LIMIT", "SPENT",
        "REMAINING", "EXPIRES", "STATUS", "TENANT"
    };

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--tenant", &tenant, NULL },
        { "--status", &status, NULL },
        { "--limit", &limit, NULL },
        { "--cursor", &cursor, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    account = NULL;
    tenant = NULL;
    status = NULL;
    limit = NULL;
    cursor = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys list", tr_cli_keys_list_usage, spec, argc,
                     argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    page = (limit != NULL || cursor != NULL);
    after = NULL;
    j = NULL;
    t = NULL;
    doc = NULL;
    tree = NULL;

    if (json && !page) {
        j = tr_cli_json_create();
        if (j == NULL) {
            return TR_CLI_FAILED;
        }

        tr_cli_json_array_open(j);

    } else if (!json) {
        t = tr_cli_table_create(TR_CLI_KEYS_COLS, header);
        if (t == NULL) {
            return TR_CLI_FAILED;
        }
    }

    path[1] = NULL;

    for ( ;; ) {
        p.n = 0;
        tr_cli_ctl_param(&p, "account", account);
        tr_cli_ctl_param(&p, "tenant", tenant);
        tr_cli_ctl_param(&p, "status", status);
        tr_cli_ctl_param(&p, "limit", page ? limit : TR_CLI_KEYS_PAGE);
        tr_cli_ctl_param(&p, "cursor", page ? cursor : after);

        rc = tr_cli_key_run(opts, "keys list", "list", &p, &doc);
        if (rc != TR_CLI_OK) {
            goto done;
        }

        if (json && page) {
            rc = tr_cli_ctl_print(doc);
            goto done;
        }

        tree = tr_cli_ctl_tree(doc);
        if (tree == NULL) {
            rc = TR_CLI_FAILED;
            goto done;
        }

        tr_cli_key_warnings(tree);

        path[0] = "keys";
        keys = yajl_tree_get(tree, path, yajl_t_array);

        if (keys != NULL && j != NULL) {
            for (i = 0; i < YAJL_GET_ARRAY(keys)->len; i++) {
                tr_cli_key_json_tree(j, YAJL_GET_ARRAY(keys)->values[i]);
            }

        } else if (keys != NULL && tr_cli_keys_rows(t, keys) != 0) {
            rc = TR_CLI_FAILED;
            goto done;
        }

        path[0] = "next_cursor";
        next = yajl_tree_get(tree, path, yajl_t_string);

        if (page && next != NULL) {
            fprintf(stderr, "tokenroute: more keys: --cursor %s\n",
                    YAJL_GET_STRING(next));
        }

        if (page || next == NULL) {
            break;
        }

        free(after);
        s = YAJL_GET_STRING(next);
        after = (s != NULL) ? strdup(s) : NULL;

        if (after == NULL) {
            tr_cli_error("out of memory");
            rc = TR_CLI_FAILED;
            goto done;
        }

        yajl_tree_free(tree);
        tree = NULL;
        freeReplyObject(doc);
        doc = NULL;
    }

    if (j != NULL) {
        tr_cli_json_array_close(j);

        if (tr_cli_json_print(j, stdout) != 0) {
            rc = TR_CLI_FAILED;
        }

    } else if (tr_cli_table_print(t, stdout) != 0) {
        rc = TR_CLI_FAILED;
    }

done:

    if (tree != NULL) {
        yajl_tree_free(tree);
    }

    if (doc != NULL) {
        freeReplyObject(doc);
    }

    free(after);
    tr_cli_json_destroy(j);
    tr_cli_table_destroy(t);

    return rc;
}


static int
tr_cli_keys_rows(tr_cli_table_t *t, yajl_val keys)
{
    char         b[TR_CLI_KEYS_COLS][TR_CLI_KEY_TEXT_LEN];
    size_t       i;
    yajl_val     k;
    const char  *row[TR_CLI_KEYS_COLS], *tenant;

    for (i = 0; i < YAJL_GET_ARRAY(keys)->len; i++) {
        k = YAJL_GET_ARRAY(keys)->values[i];

        row[0] = tr_cli_key_text(k, "id", b[0], sizeof(b[0]));
        row[1] = tr_cli_key_text(k, "name", b[1], sizeof(b[1]));
        row[2] = tr_cli_key_text(k, "account", b[2], sizeof(b[2]));
        row[3] = tr_cli_key_text(k, "prefix", b[3], sizeof(b[3]));
        row[4] = tr_cli_key_models(k, b[4], sizeof(b[4]), "*");
        row[5] = tr_cli_key_usd(k, "limit_usd", b[5], sizeof(b[5]), "-");
        row[6] = tr_cli_key_usd(k, "spent_usd", b[6], sizeof(b[6]), "-");
        row[7] = tr_cli_key_usd(k, "remaining_usd", b[7], sizeof(b[7]),
                                "-");
        row[8] = tr_cli_key_time(k, "expires_at", b[8], sizeof(b[8]),
                                 "never");
        row[9] = tr_cli_key_text(k, "status", b[9], sizeof(b[9]));

        tenant = tr_cli_key_text(k, "tenant", b[10], sizeof(b[10]));
        row[10] = (tenant[0] != '\0') ? tenant : "-";

        if (tr_cli_table_add(t, row) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
tr_cli_keys_show(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    char                  hash[TR_CLI_SHA256_HEX_LEN + 1];
    yajl_val              tree;
    const char           *key;
    redisReply           *doc;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    key = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys show", tr_cli_keys_show_usage, spec, argc,
                     argv, &key, "KEY");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;

    if (tr_cli_key_ref(&p, key, hash) != TR_CLI_OK) {
        return TR_CLI_FAILED;
    }

    rc = tr_cli_key_run(opts, "keys show", "show", &p, &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (json) {
        rc = tr_cli_ctl_print(doc);

    } else {
        tree = tr_cli_ctl_tree(doc);

        if (tree == NULL) {
            rc = TR_CLI_FAILED;

        } else {
            tr_cli_key_print(tree, 0);
            yajl_tree_free(tree);
        }
    }

    freeReplyObject(doc);

    return rc;
}


/* batches of 1000 until none is left */

static int
tr_cli_keys_purge(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json, more;
    size_t                i, total;
    yajl_val              tree, v;
    const char           *older, *path[2];
    redisReply           *doc;
    tr_cli_json_t        *j;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--older-than", &older, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    older = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys purge", tr_cli_keys_purge_usage, spec,
                     argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    j = tr_cli_json_create();
    if (j == NULL) {
        return TR_CLI_FAILED;
    }

    tr_cli_json_map_open(j);
    tr_cli_json_str(j, "ids");
    tr_cli_json_array_open(j);

    total = 0;
    path[1] = NULL;

    do {
        p.n = 0;
        tr_cli_ctl_param(&p, "older_than", older);
        tr_cli_ctl_param(&p, "limit", TR_CLI_KEYS_PAGE);

        rc = tr_cli_key_run(opts, "keys purge", "purge", &p, &doc);
        if (rc != TR_CLI_OK) {
            tr_cli_json_destroy(j);
            return rc;
        }

        tree = tr_cli_ctl_tree(doc);
        freeReplyObject(doc);

        if (tree == NULL) {
            tr_cli_json_destroy(j);
            return TR_CLI_FAILED;
        }

        path[0] = "ids";
        v = yajl_tree_get(tree, path, yajl_t_array);

        for (i = 0; v != NULL && i < YAJL_GET_ARRAY(v)->len; i++) {
            tr_cli_key_json_tree(j, YAJL_GET_ARRAY(v)->values[i]);
            total++;
        }

        path[0] = "more";
        v = yajl_tree_get(tree, path, yajl_t_true);
        more = (v != NULL);

        yajl_tree_free(tree);

    } while (more);

    tr_cli_json_array_close(j);
    tr_cli_json_str(j, "purged");
    tr_cli_json_int(j, (int64_t) total);
    tr_cli_json_map_close(j);

    if (json) {
        rc = (tr_cli_json_print(j, stdout) == 0) ? TR_CLI_OK : TR_CLI_FAILED;

    } else {
        rc = (printf("purged %zu keys\n", total) < 0) ? TR_CLI_FAILED
                                                     : TR_CLI_OK;
    }

    tr_cli_json_destroy(j);

    return rc;
}
