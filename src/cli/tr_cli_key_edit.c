
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute keys update", "keys rotate", "keys revoke" and "keys
 * delete": the commands that change a key, each one operation of
 * src/lua/ctl_keys.lua (which the admin API runs too).
 */


#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_key.h"
#include "tr_cli_util.h"


static int tr_cli_key_update(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_key_rotate(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_key_simple(tr_cli_opts_t *opts, const char *op,
    int argc, char **argv);


static const char  tr_cli_key_update_usage[] =
    "usage: tokenroute keys update KEY [--name NAME] [--limit USD|none]\n"
    "           [--period day|week|month|none] [--models MODEL,...|all]\n"
    "           [--expires DURATION|never] [--rpm N] [--tpm N]\n"
    "           [--max-concurrent N] [--tenant TENANT|none] [--json]\n"
    "\n"
    "Change the settings of the API key named by KEY (its id, prefix or\n"
    "raw key); the others stay.  The gateway applies them from the key's\n"
    "next request.  --expires counts from now.  A new --period starts its\n"
    "count at 0 (what the key spent before is not counted in it; its\n"
    "lifetime spend stays).  0 clears --rpm, --tpm and --max-concurrent.\n"
    "Requests in flight keep the tenant they were admitted under.\n"
    "\n"
    "Options: as 'keys create', and\n"
    "  --json               print the key as 'keys show --json'\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_key_rotate_usage[] =
    "usage: tokenroute keys rotate KEY [--json]\n"
    "\n"
    "Give the API key named by KEY a new raw key, shown this once: same\n"
    "id, spend and settings.  The old raw key stops at once; requests in\n"
    "flight with it are charged to the key as usual.  A revoked key cannot\n"
    "be rotated (exit 1).\n"
    "\n"
    "Options:\n"
    "  --json               print the key as 'keys show --json', with the\n"
    "                       new raw key first (\"raw\")\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_key_revoke_usage[] =
    "usage: tokenroute keys revoke KEY [--json]\n"
    "\n"
    "Revoke the API key named by KEY (its id, prefix or raw key): the\n"
    "gateway rejects it from now on.  Revoking a revoked key changes\n"
    "nothing and succeeds.  Exits with 1 if there is no such key.\n"
    "\n"
    "Options:\n"
    "  --json               print the key as 'keys show --json', and\n"
    "                       \"changed\": false if it was revoked before\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_key_delete_usage[] =
    "usage: tokenroute keys delete KEY [--json]\n"
    "\n"
    "Delete the API key named by KEY (its id, prefix or raw key) from\n"
    "Redis: the gateway answers it as an unknown key from now on.  Its\n"
    "usage records stay; requests in flight with it are charged to its\n"
    "account.  Exits with 1 if there is no such key.\n"
    "\n"
    "Options:\n"
    "  --json               print {\"id\": ..., \"deleted\": true}\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


/* TR_CLI_KEY_NO_COMMAND: not one of these commands */

int
tr_cli_key_edit(tr_cli_opts_t *opts, const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "update") == 0) {
        return tr_cli_key_update(opts, argc, argv);
    }

    if (strcmp(cmd, "rotate") == 0) {
        return tr_cli_key_rotate(opts, argc, argv);
    }

    if (strcmp(cmd, "revoke") == 0 || strcmp(cmd, "delete") == 0) {
        return tr_cli_key_simple(opts, cmd, argc, argv);
    }

    return TR_CLI_KEY_NO_COMMAND;
}


static int
tr_cli_key_update(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                     rc, json;
    char                    hash[TR_CLI_SHA256_HEX_LEN + 1];
    yajl_val                tree;
    const char             *key;
    redisReply             *doc;
    tr_cli_ctl_params_t     p;
    tr_cli_key_settings_t   set;

    tr_cli_opt_t  spec[] = {
        TR_CLI_KEY_SETTINGS_OPTIONS(set),
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    memset(&set, 0, sizeof(tr_cli_key_settings_t));
    key = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys update", tr_cli_key_update_usage, spec,
                     argc, argv, &key, "KEY");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;

    if (tr_cli_key_ref(&p, key, hash) != TR_CLI_OK) {
        return TR_CLI_FAILED;
    }

    tr_cli_key_settings_params(&set, &p);

    rc = tr_cli_key_run(opts, "keys update", "update", &p, &doc);
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


static int
tr_cli_key_rotate(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    char                  hash[TR_CLI_SHA256_HEX_LEN + 1];
    yajl_val              tree;
    const char           *key;
    redisReply           *doc;
    tokenroute_secret_t   nk;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    key = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys rotate", tr_cli_key_rotate_usage, spec,
                     argc, argv, &key, "KEY");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;

    if (tr_cli_key_ref(&p, key, hash) != TR_CLI_OK
        || tr_cli_key_generate(&nk) != TR_CLI_OK)
    {
        OPENSSL_cleanse(&nk, sizeof(tokenroute_secret_t));
        return TR_CLI_FAILED;
    }

    tr_cli_ctl_param(&p, "hash", nk.hash);
    tr_cli_ctl_param(&p, "prefix", nk.prefix);

    rc = tr_cli_key_run(opts, "keys rotate", "rotate", &p, &doc);
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
                   "be recovered.  The old one no longer works.\n\n");
            tr_cli_key_print(tree, 0);
            yajl_tree_free(tree);
        }
    }

    OPENSSL_cleanse(&nk, sizeof(tokenroute_secret_t));
    freeReplyObject(doc);

    return rc;
}


/* revoke and delete: a key, --json */

static int
tr_cli_key_simple(tr_cli_opts_t *opts, const char *op, int argc,
    char **argv)
{
    int                   rc, json;
    char                  hash[TR_CLI_SHA256_HEX_LEN + 1];
    char                  cmd[32], buf[TR_CLI_KEY_TEXT_LEN];
    yajl_val              tree;
    const char           *key, *id;
    redisReply           *doc;
    tr_cli_ctl_params_t   p;

    static const char    *changed[] = { "changed", NULL };

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    key = NULL;
    json = 0;

    snprintf(cmd, sizeof(cmd), "keys %s", op);

    rc = tr_cli_args(opts, cmd, (op[0] == 'r') ? tr_cli_key_revoke_usage
                                               : tr_cli_key_delete_usage,
                     spec, argc, argv, &key, "KEY");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;

    if (tr_cli_key_ref(&p, key, hash) != TR_CLI_OK) {
        return TR_CLI_FAILED;
    }

    rc = tr_cli_key_run(opts, cmd, op, &p, &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_ctl_output(doc, json, &tree);
    if (rc != TR_CLI_OK || tree == NULL) {
        return rc;
    }

    id = tr_cli_key_text(tree, "id", buf, sizeof(buf));

    if (op[0] == 'd') {
        printf("deleted %s\n", id);

    } else if (yajl_tree_get(tree, changed, yajl_t_false) != NULL) {
        printf("%s was already revoked\n", id);

    } else {
        printf("revoked %s\n", id);
    }

    yajl_tree_free(tree);

    return TR_CLI_OK;
}
