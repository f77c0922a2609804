
/*
 * Copyright (C) tokenroute authors
 *
 * Runs an operation of a control script (src/lua/ctl_lib.lua describes
 * the calling convention) for a CLI command: EVAL of the embedded text,
 * the actor "cli", the time now.  A script's error is "<http status>
 * <type> <message>": 400 is a usage error (exit 2, its parameter shown as
 * the option it came from), any other an operation that failed (exit 1).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include <tokenroute_secret.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


static int tr_cli_ctl_error(const char *cmd, redisReply *reply);


void
tr_cli_ctl_param(tr_cli_ctl_params_t *p, const char *name, const char *value)
{
    if (value == NULL || p->n == TR_CLI_CTL_MAX_PARAMS) {
        return;
    }

    p->param[p->n].name = name;
    p->param[p->n].value = value;
    p->n++;
}


/* *json: the document, a string reply the caller frees */

int
tr_cli_ctl_run(tr_cli_redis_t *r, const char *cmd, const char *script,
    size_t len, const char *op, tr_cli_ctl_params_t *p, redisReply **json)
{
    int          rc, argc;
    char         now[TR_CLI_INT_LEN];
    size_t       i, lens[6 + 2 * TR_CLI_CTL_MAX_PARAMS];
    redisReply  *reply;
    const char  *argv[6 + 2 * TR_CLI_CTL_MAX_PARAMS];

    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));

    argv[0] = "EVAL";
    argv[1] = script;
    lens[1] = len;
    argv[2] = "0";
    argv[3] = op;
    argv[4] = now;
    argv[5] = "cli";
    argc = 6;

    for (i = 0; i < p->n; i++) {
        argv[argc++] = p->param[i].name;
        argv[argc++] = p->param[i].value;
    }

    for (i = 0; i < (size_t) argc; i++) {
        if (i != 1) {
            lens[i] = strlen(argv[i]);
        }
    }

    reply = tr_cli_redis_call(r, &rc, argc, argv, lens);
    if (reply == NULL) {
        return rc;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        return tr_cli_ctl_error(cmd, reply);
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return tr_cli_redis_unexpected(r, reply, op);
    }

    *json = reply;

    return TR_CLI_OK;
}


/* a command's one round trip: connects, runs the operation, disconnects */

int
tr_cli_ctl_once(tr_cli_opts_t *opts, const char *cmd, const char *script,
    size_t len, const char *op, tr_cli_ctl_params_t *p, redisReply **json)
{
    int              rc;
    tr_cli_redis_t  *r;

    rc = tr_cli_redis_connect(opts, cmd, &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_ctl_run(r, cmd, script, len, op, p, json);
    tr_cli_redis_close(r);

    return rc;
}


int
tr_cli_ctl_print(redisReply *json)
{
    if (fwrite(json->str, 1, json->len, stdout) != json->len
        || fputc('\n', stdout) == EOF)
    {
        return TR_CLI_FAILED;
    }

    return TR_CLI_OK;
}


/* the document with "raw" first: a key made in C, shown once */

int
tr_cli_ctl_print_raw(redisReply *json, const char *raw, size_t raw_len)
{
    int     rc;
    char   *out;
    size_t  n;

    n = tokenroute_secret_json(NULL, json->str, json->len, raw, raw_len);
    out = (n != 0) ? malloc(n) : NULL;

    if (out == NULL) {
        tr_cli_error("cannot print the key: %s", (n != 0) ? "out of memory"
                     : "the script's JSON is not an object");
        return TR_CLI_FAILED;
    }

    tokenroute_secret_json(out, json->str, json->len, raw, raw_len);

    rc = (fwrite(out, 1, n, stdout) != n || fputc('\n', stdout) == EOF)
         ? TR_CLI_FAILED : TR_CLI_OK;

    free(out);

    return rc;
}


/*
 * A command's document, consumed: printed as it is with --json (*tree
 * NULL), else parsed for the command's table.  TR_CLI_OK, or the exit
 * status of a failure.
 */

int
tr_cli_ctl_output(redisReply *json, int as_json, yajl_val *tree)
{
    int  rc;

    *tree = NULL;

    if (as_json) {
        rc = tr_cli_ctl_print(json);
        freeReplyObject(json);
        return rc;
    }

    *tree = tr_cli_ctl_tree(json);
    freeReplyObject(json);

    return (*tree != NULL) ? TR_CLI_OK : TR_CLI_FAILED;
}


/* the document as a tree, for the commands that print a table */

yajl_val
tr_cli_ctl_tree(redisReply *json)
{
    char      err[128];
    yajl_val  tree;

    tree = yajl_tree_parse(json->str, err, sizeof(err));
    if (tree == NULL) {
        tr_cli_error("cannot read the script's JSON: %s", err);
    }

    return tree;
}


/* a string member of an object, "" when absent or not a string */

const char *
tr_cli_ctl_string(yajl_val obj, const char *name)
{
    yajl_val     v;
    const char  *path[2];

    path[0] = name;
    path[1] = NULL;

    v = yajl_tree_get(obj, path, yajl_t_string);

    return (v != NULL) ? YAJL_GET_STRING(v) : "";
}


static int
tr_cli_ctl_error(const char *cmd, redisReply *reply)
{
    int          status;
    char         opt[64];
    size_t       i, n;
    const char  *msg, *p;

    status = 0;
    msg = reply->str;

    /* "<status> <type> <message>"; anything else is Redis's own error */
    if (reply->len > 4 && sscanf(reply->str, "%3d", &status) == 1
        && reply->str[3] == ' ')
    {
        p = strchr(reply->str + 4, ' ');
        msg = (p != NULL) ? p + 1 : reply->str + 4;

    } else {
        status = 0;
    }

    if (status != 400) {
        if (status == 0) {
            tr_cli_error("Redis error: %s", msg);

        } else {
            tr_cli_error("%s", msg);
        }

        freeReplyObject(reply);
        return TR_CLI_FAILED;
    }

    /* "max_concurrent: why" names the option --max-concurrent */
    n = strcspn(msg, ": ");

    if (msg[n] == ':' && n > 0 && n < sizeof(opt) - 3) {
        opt[0] = '-';
        opt[1] = '-';

        for (i = 0; i < n; i++) {
            opt[2 + i] = (msg[i] == '_') ? '-' : msg[i];
        }

        opt[2 + n] = '\0';

        tr_cli_usage_error(cmd, "%s%s", opt, msg + n);

    } else {
        tr_cli_usage_error(cmd, "%s", msg);
    }

    freeReplyObject(reply);

    return TR_CLI_USAGE;
}
