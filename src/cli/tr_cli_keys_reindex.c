
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute keys reindex": the migration that indexes keys made by
 * older versions (src/lua/ctl_keys.lua, op reindex), one bounded batch
 * per script call, so that Redis, which every gateway's admission waits
 * on, is never held for longer than a batch.  Resumable: the cursor is
 * kept in Redis, an interrupted run goes on where it stopped.
 */


#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_key.h"
#include "tr_cli_util.h"


static const char  tr_cli_keys_reindex_usage[] =
    "usage: tokenroute keys reindex [--json]\n"
    "\n"
    "Index the keys made by a version older than the key indexes (by\n"
    "prefix, by end, by tenant), 1000 keys per call to Redis, until every\n"
    "key is indexed.  Until then a key is found by its id or raw key but\n"
    "not by its prefix, and 'tenants delete' is refused.  The gateways do\n"
    "the same, one batch per key purge; running it again does nothing.\n"
    "\n"
    "Options:\n"
    "  --json               print {\"indexed\": N, \"batches\": N,\n"
    "                       \"done\": true}\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_keys_reindex(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json, done;
    int64_t               total, batches;
    yajl_val              tree, v;
    const char           *path[2];
    redisReply           *doc;
    tr_cli_json_t        *j;
    tr_cli_ctl_params_t   p;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    json = 0;

    rc = tr_cli_args(opts, "keys reindex", tr_cli_keys_reindex_usage, spec,
                     argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    total = 0;
    batches = 0;
    path[1] = NULL;

    do {
        p.n = 0;

        rc = tr_cli_key_run(opts, "keys reindex", "reindex", &p, &doc);
        if (rc != TR_CLI_OK) {
            return rc;
        }

        tree = tr_cli_ctl_tree(doc);
        freeReplyObject(doc);

        if (tree == NULL) {
            return TR_CLI_FAILED;
        }

        path[0] = "indexed";
        v = yajl_tree_get(tree, path, yajl_t_number);

        if (v != NULL && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0) {
            total += YAJL_GET_INTEGER(v);
            batches++;
        }

        path[0] = "done";
        done = (yajl_tree_get(tree, path, yajl_t_true) != NULL);

        yajl_tree_free(tree);

    } while (!done);

    if (!json) {
        return (printf("indexed %lld keys in %lld batches; every key is "
                       "indexed\n", (long long) total, (long long) batches)
                < 0) ? TR_CLI_FAILED : TR_CLI_OK;
    }

    j = tr_cli_json_create();
    if (j == NULL) {
        return TR_CLI_FAILED;
    }

    tr_cli_json_map_open(j);
    tr_cli_json_str(j, "indexed");
    tr_cli_json_int(j, total);
    tr_cli_json_str(j, "batches");
    tr_cli_json_int(j, batches);
    tr_cli_json_str(j, "done");
    tr_cli_json_bool(j, 1);
    tr_cli_json_map_close(j);

    rc = (tr_cli_json_print(j, stdout) == 0) ? TR_CLI_OK : TR_CLI_FAILED;

    tr_cli_json_destroy(j);

    return rc;
}
