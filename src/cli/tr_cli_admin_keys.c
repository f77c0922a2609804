
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute admin-keys ...": the keys of the admin API (create, list,
 * revoke).  The raw key is made here (src/tokenroute_secret.c) and shown
 * once; Redis gets its SHA-256, id and prefix through the operations of
 * src/lua/ctl_admin.lua.
 */


#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include <tokenroute_lua.h>
#include <tokenroute_secret.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


static int tr_cli_admin_keys_create(tr_cli_opts_t *opts, int argc,
    char **argv);
static int tr_cli_admin_keys_list(tr_cli_opts_t *opts, int argc,
    char **argv);
static int tr_cli_admin_keys_revoke(tr_cli_opts_t *opts, int argc,
    char **argv);
static int tr_cli_admin_keys_run(tr_cli_opts_t *opts, const char *cmd,
    const char *op, tr_cli_ctl_params_t *p, redisReply **doc);


static const char  tr_cli_admin_keys_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] admin-keys <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create   create an admin key (the raw key is shown only once)\n"
    "  list     list the admin keys\n"
    "  revoke   revoke an admin key\n"
    "\n"
    "Admin keys (" TOKENROUTE_ADMIN_KEY_PREFIX "...) authenticate the\n"
    "admin API (the tokenroute_admin directive); they are not model keys.\n";


static const char  tr_cli_admin_keys_create_usage[] =
    "usage: tokenroute admin-keys create --name NAME [--json]\n"
    "\n"
    "Create an admin key for the admin API.  The raw key is printed once;\n"
    "Redis keeps only its SHA-256.  NAME is recorded as the author of the\n"
    "credit changes made with the key.\n"
    "\n"
    "Options:\n"
    "  --name NAME  1-128 printable UTF-8 characters, a name no other\n"
    "               admin key has (revoked ones included)\n"
    "  --json       print the key as JSON, with \"raw\"\n"
    "  -h, --help   show this help and exit\n";


static const char  tr_cli_admin_keys_list_usage[] =
    "usage: tokenroute admin-keys list [--json]\n"
    "\n"
    "List the admin keys, oldest first (never their raw keys).\n";


static const char  tr_cli_admin_keys_revoke_usage[] =
    "usage: tokenroute admin-keys revoke ID [--json]\n"
    "\n"
    "Revoke an admin key: the admin API refuses it at once (401).\n"
    "Exits with 1 if there is no such key.\n";


int
tr_cli_admin_keys(tr_cli_opts_t *opts, int argc, char **argv)
{
    int          rc;
    const char  *cmd;

    rc = tr_cli_subcommand(opts, "admin-keys", tr_cli_admin_keys_usage,
                           &argc, &argv, &cmd);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (strcmp(cmd, "create") == 0) {
        return tr_cli_admin_keys_create(opts, argc, argv);
    }

    if (strcmp(cmd, "list") == 0) {
        return tr_cli_admin_keys_list(opts, argc, argv);
    }

    if (strcmp(cmd, "revoke") == 0) {
        return tr_cli_admin_keys_revoke(opts, argc, argv);
    }

    return tr_cli_usage_error("admin-keys", "unknown admin-keys command "
                              "'%s'", cmd);
}


static int
tr_cli_admin_keys_create(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    const char           *name;
    redisReply           *doc;
    tr_cli_ctl_params_t   p;
    tokenroute_secret_t   s;

    tr_cli_opt_t  spec[] = {
        { "--name", &name, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    name = NULL;
    json = 0;

    rc = tr_cli_args(opts, "admin-keys create",
                     tr_cli_admin_keys_create_usage, spec, argc, argv, NULL,
                     NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (name == NULL) {
        return tr_cli_usage_error("admin-keys create", "--name is required");
    }

    if (tokenroute_secret_make(&s, TOKENROUTE_SECRET_ADMIN) != 0) {
        tr_cli_error("cannot generate a random admin key");
        return TR_CLI_FAILED;
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "name", name);
    tr_cli_ctl_param(&p, "hash", s.hash);
    tr_cli_ctl_param(&p, "id", s.id);
    tr_cli_ctl_param(&p, "prefix", s.prefix);

    rc = tr_cli_admin_keys_run(opts, "admin-keys create", "create", &p,
                               &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (!json) {
        rc = (printf("created admin key %s (%s)\n%s\n"
                     "Keep the key now: it is not shown again.\n",
                     s.id, name, s.raw) < 0) ? TR_CLI_FAILED : TR_CLI_OK;
        freeReplyObject(doc);
        return rc;
    }

    rc = tr_cli_ctl_print_raw(doc, s.raw, s.raw_len);
    freeReplyObject(doc);

    return rc;
}


static int
tr_cli_admin_keys_list(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    size_t                i;
    yajl_val              tree, keys, k;
    redisReply           *doc;
    const char           *row[5], *path[2];
    tr_cli_table_t       *t;
    tr_cli_ctl_params_t   p;

    static const char  *header[] = {
        "ID", "NAME", "PREFIX", "CREATED", "STATUS"
    };

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    json = 0;

    rc = tr_cli_args(opts, "admin-keys list", tr_cli_admin_keys_list_usage,
                     spec, argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;

    rc = tr_cli_admin_keys_run(opts, "admin-keys list", "list", &p, &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_ctl_output(doc, json, &tree);
    if (rc != TR_CLI_OK || tree == NULL) {
        return rc;
    }

    path[0] = "admin_keys";
    path[1] = NULL;
    keys = yajl_tree_get(tree, path, yajl_t_array);

    t = tr_cli_table_create(5, header);
    rc = (t == NULL) ? TR_CLI_FAILED : TR_CLI_OK;

    for (i = 0; rc == TR_CLI_OK && keys && i < YAJL_GET_ARRAY(keys)->len;
         i++)
    {
        k = YAJL_GET_ARRAY(keys)->values[i];
        path[0] = "revoked";

        row[0] = tr_cli_ctl_string(k, "id");
        row[1] = tr_cli_ctl_string(k, "name");
        row[2] = tr_cli_ctl_string(k, "prefix");
        path[0] = "created_at";
        row[3] = YAJL_IS_NUMBER(yajl_tree_get(k, path, yajl_t_number))
                 ? YAJL_GET_NUMBER(yajl_tree_get(k, path, yajl_t_number))
                 : "-";
        path[0] = "revoked";
        row[4] = YAJL_IS_TRUE(yajl_tree_get(k, path, yajl_t_true))
                 ? "revoked" : "active";

        if (tr_cli_table_add(t, row) != 0) {
            rc = TR_CLI_FAILED;
        }
    }

    if (rc == TR_CLI_OK && tr_cli_table_print(t, stdout) != 0) {
        rc = TR_CLI_FAILED;
    }

    if (t) {
        tr_cli_table_destroy(t);
    }

    yajl_tree_free(tree);

    return rc;
}


static int
tr_cli_admin_keys_revoke(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    const char           *id;
    redisReply           *doc;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    id = NULL;
    json = 0;

    rc = tr_cli_args(opts, "admin-keys revoke",
                     tr_cli_admin_keys_revoke_usage, spec, argc, argv, &id,
                     "ID");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    p.n = 0;
    tr_cli_ctl_param(&p, "id", id);

    rc = tr_cli_admin_keys_run(opts, "admin-keys revoke", "revoke", &p,
                               &doc);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (json) {
        rc = tr_cli_ctl_print(doc);

    } else {
        rc = (printf("revoked admin key %s\n", id) < 0) ? TR_CLI_FAILED
                                                       : TR_CLI_OK;
    }

    freeReplyObject(doc);

    return rc;
}


static int
tr_cli_admin_keys_run(tr_cli_opts_t *opts, const char *cmd, const char *op,
    tr_cli_ctl_params_t *p, redisReply **doc)
{
    return tr_cli_ctl_once(opts, cmd, tokenroute_lua_ctl_admin,
                           tokenroute_lua_ctl_admin_len, op, p, doc);
}
