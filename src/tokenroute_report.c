
/*
 * Copyright (C) tokenroute authors
 *
 * The usage report's query and its rounds of Redis commands (see
 * tokenroute_report.h): the parameters checked, the window of whole UTC
 * days or hours fixed, the commands made and their replies dispatched.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokenroute_schema.h>

#include "tokenroute_report_int.h"


/* a key record's hash: SHA-256 hex */
#define TR_REPORT_HASH_LEN     64


static int tr_report_buckets(tokenroute_report_t *rp);
static int tr_report_add(tokenroute_report_t *rp, int what, size_t row,
    const char *cmd, const char *prefix, const char *name, const char *sep,
    const char *name2, const char *last);
static void tr_report_cmds_free(tokenroute_report_t *rp);
static int tr_report_known(tokenroute_report_t *rp, const redisReply *r,
    unsigned bit);
static int tr_report_names(tokenroute_report_t *rp);
static int tr_report_is_hash(const char *s, size_t len);


const char  *tokenroute_report_by[] = {
    "model", "key", "account", "tenant", "day", "hour", NULL
};

static const char  *tr_report_params[] = {
    "since", "until", "month", "by", "account", "key", "tenant", "format"
};



tokenroute_report_t *
tokenroute_report_create(void)
{
    return calloc(1, sizeof(tokenroute_report_t));
}


void
tokenroute_report_destroy(tokenroute_report_t *rp)
{
    size_t  i;

    if (rp == NULL) {
        return;
    }

    for (i = 0; i < TR_REPORT_NPARAMS; i++) {
        free(rp->param[i]);
    }

    tr_report_cmds_free(rp);
    tokenroute_report_rows_free(rp);
    free(rp);
}


int
tokenroute_report_param(tokenroute_report_t *rp, const char *name,
    const char *value)
{
    char    *v;
    size_t   i;

    for (i = 0; i < TR_REPORT_NPARAMS; i++) {
        if (strcmp(name, tr_report_params[i]) == 0) {
            break;
        }
    }

    if (i == TR_REPORT_NPARAMS) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                                      "unknown parameter '%s'", name);
    }

    v = strdup(value);
    if (v == NULL) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "out of memory");
    }

    free(rp->param[i]);
    rp->param[i] = v;

    return 0;
}


int
tokenroute_report_plan(tokenroute_report_t *rp, int64_t now)
{
    if (rp->status != 0) {
        return -1;
    }

    rp->now = now;

    if (tokenroute_report_query(rp) != 0) {
        return -1;
    }

    rp->round = 1;

    return tr_report_buckets(rp);
}


/* round 1: the existence checks, then one HGETALL per bucket */

static int
tr_report_buckets(tokenroute_report_t *rp)
{
    char     name[32];
    size_t   i, n;
    int64_t  t;

    n = rp->nbuckets + 2 * (rp->account != NULL) + (rp->key != NULL)
        + 2 * (rp->tenant != NULL);

    rp->cmds = calloc(n, sizeof(tr_report_cmd_t));
    if (rp->cmds == NULL) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "out of memory");
    }

    if (rp->account != NULL
        && (tr_report_add(rp, TR_REPORT_C_ACCOUNT, 0, "SISMEMBER",
                          TOKENROUTE_REDIS_ACCTS, "", NULL, NULL,
                          rp->account) != 0
            || tr_report_add(rp, TR_REPORT_C_ACCOUNT, 0, "EXISTS",
                             TOKENROUTE_REDIS_ACCT, rp->account, NULL, NULL,
                             NULL) != 0))
    {
        return -1;
    }

    if (rp->key != NULL
        && tr_report_add(rp, TR_REPORT_C_KEY, 0, "EXISTS",
                         TOKENROUTE_REDIS_KEYID, rp->key, NULL, NULL, NULL)
           != 0)
    {
        return -1;
    }

    if (rp->tenant != NULL
        && (tr_report_add(rp, TR_REPORT_C_TENANT, 0, "SISMEMBER",
                          TOKENROUTE_REDIS_TENANTS, rp->account, NULL, NULL,
                          rp->tenant) != 0
            || tr_report_add(rp, TR_REPORT_C_TENANT, 0, "EXISTS",
                             TOKENROUTE_REDIS_TENANT, rp->account, "|",
                             rp->tenant, NULL) != 0))
    {
        return -1;
    }

    for (i = 0; i < rp->nbuckets; i++) {
        t = rp->first + (int64_t) i * rp->step;

        if (tokenroute_report_label(rp, t, name, sizeof(name)) != 0) {
            return -1;
        }

        if (tr_report_add(rp, TR_REPORT_C_BUCKET, 0, "HGETALL",
                          (rp->step == TR_REPORT_DAY)
                          ? TOKENROUTE_REDIS_USAGE_DAY
                          : TOKENROUTE_REDIS_USAGE_HOUR,
                          name, NULL, NULL, NULL)
            != 0)
        {
            return -1;
        }

        rp->cmds[rp->ncmds - 1].start = t;
    }

    return 0;
}


/*
 * A command: cmd, then prefix name [sep name2] as one argument, then last
 * if not NULL.  The arguments are copied into one buffer.
 */

static int
tr_report_add(tokenroute_report_t *rp, int what, size_t row, const char *cmd,
    const char *prefix, const char *name, const char *sep, const char *name2,
    const char *last)
{
    char             *p;
    size_t            len;
    tr_report_cmd_t  *c;

    len = strlen(cmd) + strlen(prefix) + strlen(name) + 3
          + ((sep != NULL) ? strlen(sep) + strlen(name2) : 0)
          + ((last != NULL) ? strlen(last) : 0);

    c = &rp->cmds[rp->ncmds];

    c->buf = malloc(len);
    if (c->buf == NULL) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "out of memory");
    }

    rp->ncmds++;

    c->what = what;
    c->row = row;

    p = c->buf;

    c->cmd.argv[0] = p;
    p = stpcpy(p, cmd);
    c->cmd.argvlen[0] = p - c->cmd.argv[0];
    p++;

    c->cmd.argv[1] = p;
    p = stpcpy(p, prefix);
    p = stpcpy(p, name);

    if (sep != NULL) {
        p = stpcpy(p, sep);
        p = stpcpy(p, name2);
    }

    c->cmd.argvlen[1] = p - c->cmd.argv[1];
    p++;

    c->cmd.argc = 2;

    if (last != NULL) {
        c->cmd.argv[2] = p;
        p = stpcpy(p, last);
        c->cmd.argvlen[2] = p - c->cmd.argv[2];
        c->cmd.argc = 3;
    }

    return 0;
}


static void
tr_report_cmds_free(tokenroute_report_t *rp)
{
    size_t  i;

    for (i = 0; i < rp->ncmds; i++) {
        free(rp->cmds[i].buf);
    }

    free(rp->cmds);

    rp->cmds = NULL;
    rp->ncmds = 0;
    rp->given = 0;
}


size_t
tokenroute_report_ncmds(tokenroute_report_t *rp)
{
    return (rp->status == 0) ? rp->ncmds : 0;
}


const tokenroute_report_cmd_t *
tokenroute_report_cmd(tokenroute_report_t *rp, size_t i)
{
    return (i < rp->ncmds) ? &rp->cmds[i].cmd : NULL;
}


int
tokenroute_report_reply(tokenroute_report_t *rp, size_t i,
    const redisReply *r)
{
    tr_report_cmd_t  *c;
    tr_report_row_t  *row;

    if (rp->status != 0) {
        return -1;
    }

    if (i >= rp->ncmds) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "no command %zu", i);
    }

    c = &rp->cmds[i];

    if (c->done) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "reply %zu given twice", i);
    }

    c->done = 1;

    if (r == NULL) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "no reply to %s %s", c->cmd.argv[0],
                                      c->cmd.argv[1]);
    }

    if (r->type == REDIS_REPLY_ERROR) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "Redis: %s %s: %.*s", c->cmd.argv[0],
                                      c->cmd.argv[1], (int) r->len, r->str);
    }

    rp->given++;

    switch (c->what) {

    case TR_REPORT_C_BUCKET:
        if (r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0) {
            return tokenroute_report_bucket(rp, r, c->start);
        }

        break;

    case TR_REPORT_C_ACCOUNT:
        return tr_report_known(rp, r, 1);

    case TR_REPORT_C_KEY:
        return tr_report_known(rp, r, 2);

    case TR_REPORT_C_TENANT:
        return tr_report_known(rp, r, 4);

    case TR_REPORT_C_KEYID:
        if (r->type == REDIS_REPLY_NIL) {
            return 0;
        }

        if (r->type == REDIS_REPLY_STRING) {
            row = &rp->rows[c->row];

            if (tr_report_is_hash(r->str, r->len)) {
                row->hash = strndup(r->str, r->len);
                if (row->hash == NULL) {
                    return tokenroute_report_fail(rp,
                               TOKENROUTE_REPORT_FAILED, "out of memory");
                }
            }

            return 0;
        }

        break;

    default: /* TR_REPORT_C_NAME */
        if (r->type == REDIS_REPLY_NIL) {
            return 0;
        }

        if (r->type == REDIS_REPLY_STRING) {
            row = &rp->rows[c->row];

            if (tokenroute_report_text(r->str, r->len)) {
                row->name = strndup(r->str, r->len);
                if (row->name == NULL) {
                    return tokenroute_report_fail(rp,
                               TOKENROUTE_REPORT_FAILED, "out of memory");
                }
            }

            return 0;
        }

        break;
    }

    return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                  "Redis: %s %s: unexpected reply (type %d)",
                                  c->cmd.argv[0], c->cmd.argv[1], r->type);
}


static int
tr_report_known(tokenroute_report_t *rp, const redisReply *r, unsigned bit)
{
    if (r->type != REDIS_REPLY_INTEGER) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "Redis: unexpected reply (type %d) to "
                                      "an existence check", r->type);
    }

    if (r->integer != 0) {
        rp->known |= bit;
    }

    return 0;
}


/*
 * A name is known when its record exists, or when the window's usage
 * mentions it: a deleted key keeps its usage, and so may an account or a
 * tenant written by hand or by an older version.
 */

int
tokenroute_report_next(tokenroute_report_t *rp)
{
    unsigned  known;

    if (rp->status != 0) {
        return -1;
    }

    if (rp->given != rp->ncmds) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "%zu replies missing",
                                      rp->ncmds - rp->given);
    }

    tr_report_cmds_free(rp);

    if (rp->round == 1) {
        known = rp->known | rp->seen;

        if (rp->account != NULL && !(known & 1)) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_NOT_FOUND,
                                          "no account %s", rp->account);
        }

        if (rp->tenant != NULL && !(known & 4)) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_NOT_FOUND,
                                          "no tenant %s in account %s",
                                          rp->tenant, rp->account);
        }

        if (rp->key != NULL && !(known & 2)) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_NOT_FOUND,
                                          "no key %s (and no usage of it "
                                          "in the window)", rp->key);
        }

        tokenroute_report_sort(rp);
    }

    rp->round++;

    if (rp->by != TR_REPORT_BY_KEY || rp->round > 3 || rp->nrows == 0) {
        return 0;
    }

    return tr_report_names(rp);
}


/* by key, round 2: each key's record; round 3: its name */

static int
tr_report_names(tokenroute_report_t *rp)
{
    size_t            i;
    tr_report_row_t  *row;

    rp->cmds = calloc(rp->nrows, sizeof(tr_report_cmd_t));
    if (rp->cmds == NULL) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "out of memory");
    }

    for (i = 0; i < rp->nrows; i++) {
        row = &rp->rows[i];

        if (rp->round == 2) {
            if (tr_report_add(rp, TR_REPORT_C_KEYID, i, "GET",
                              TOKENROUTE_REDIS_KEYID, row->group, NULL, NULL,
                              NULL)
                != 0)
            {
                return -1;
            }

        } else if (row->hash != NULL) {
            if (tr_report_add(rp, TR_REPORT_C_NAME, i, "HGET",
                              TOKENROUTE_REDIS_KEY, row->hash, NULL, NULL,
                              "name")
                != 0)
            {
                return -1;
            }
        }
    }

    return 0;
}


static int
tr_report_is_hash(const char *s, size_t len)
{
    size_t  i;

    if (len != TR_REPORT_HASH_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* the bucket's key suffix (YYYYMMDD or YYYYMMDDHH) */

int
tokenroute_report_label(tokenroute_report_t *rp, int64_t start, char *buf,
    size_t size)
{
    time_t     tt;
    struct tm  tm;

    tt = (time_t) start;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, size, (rp->step == TR_REPORT_DAY) ? "%Y%m%d"
                                                          : "%Y%m%d%H",
                    &tm)
           == 0)
    {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "cannot format the time %lld",
                                      (long long) start);
    }

    return 0;
}


int
tokenroute_report_format(tokenroute_report_t *rp)
{
    return rp->format;
}


size_t
tokenroute_report_malformed(tokenroute_report_t *rp)
{
    return rp->malformed;
}


int
tokenroute_report_status(tokenroute_report_t *rp)
{
    return (rp->status != 0) ? rp->status : TOKENROUTE_REPORT_FAILED;
}


const char *
tokenroute_report_error(tokenroute_report_t *rp)
{
    return (rp->err[0] != '\0') ? rp->err : "failed";
}


/* the first failure stays: it is the cause of the others */

int
tokenroute_report_fail(tokenroute_report_t *rp, int status,
    const char *fmt, ...)
{
    va_list  args;

    if (rp->status != 0) {
        return -1;
    }

    rp->status = status;

    va_start(args, fmt);
    vsnprintf(rp->err, sizeof(rp->err), fmt, args);
    va_end(args);

    return -1;
}
