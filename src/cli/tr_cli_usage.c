
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute usage": the hourly or daily usage buckets the gateway
 * writes, read since a time and added up by model, key, account, day or
 * hour, as a table or JSON.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <tokenroute_money.h>
#include <tokenroute_schema.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_key.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


/* the metrics of a usage field, in the order of tr_cli_usage_metrics */
#define TR_CLI_USAGE_REQ          0
#define TR_CLI_USAGE_IN           1
#define TR_CLI_USAGE_OUT          2
#define TR_CLI_USAGE_CACHED       3
#define TR_CLI_USAGE_COST         4
#define TR_CLI_USAGE_EST          5
#define TR_CLI_USAGE_UNBILLED     6
#define TR_CLI_USAGE_CLAMPED      7
#define TR_CLI_USAGE_NMETRICS     8

/* --by */
#define TR_CLI_BY_MODEL           0
#define TR_CLI_BY_KEY             1
#define TR_CLI_BY_ACCOUNT         2
#define TR_CLI_BY_DAY             3
#define TR_CLI_BY_HOUR            4

#define TR_CLI_USAGE_DAY          86400
#define TR_CLI_USAGE_HOUR         3600

/* the gateway keeps tr:u:d:* 400 days and tr:u:h:* 8 days */
#define TR_CLI_USAGE_DAYS_MAX     400
#define TR_CLI_USAGE_HOURS_MAX    (8 * 24)

/* from this --since on, days are read rather than hours */
#define TR_CLI_USAGE_DAILY_FROM   (48 * 3600)

#define TR_CLI_USAGE_SINCE        "7d"

/* "tr:u:h:YYYYMMDDHH" and "YYYY-MM-DDTHH", with room for odd years */
#define TR_CLI_USAGE_KEY_LEN      32
#define TR_CLI_USAGE_LABEL_LEN    32

/* the longest --key: ids are TR_CLI_KEY_ID_LEN, leave room for others */
#define TR_CLI_USAGE_KEY_MAX      128

/* the most columns of the table: --by key adds NAME */
#define TR_CLI_USAGE_COLS         10


typedef struct {
    char                      *group;
    char                      *name;      /* --by key: the key's name */
    uint32_t                   hash;
    int64_t                    m[TR_CLI_USAGE_NMETRICS];
} tr_cli_usage_row_t;


typedef struct {
    tr_cli_usage_row_t        *rows;
    size_t                     nrows;
    size_t                     nalloc;
    uint32_t                  *index;     /* row number + 1, 0: free */
    size_t                     size;      /* of index, a power of 2 */
    size_t                     malformed;
    int                        failed;    /* out of memory */
    int                        by;
    const char                *account;   /* filters, NULL: all */
    const char                *key;
} tr_cli_usage_t;


static int tr_cli_usage_window(const char *since, int by, int64_t *step,
    size_t *n);
static int tr_cli_usage_check_key(const char *key);
static int tr_cli_usage_read(tr_cli_redis_t *r, tr_cli_usage_t *u,
    int64_t first, int64_t step, size_t n);
static void tr_cli_usage_bucket(tr_cli_usage_t *u, redisReply *reply,
    const char *label);
static int tr_cli_usage_field(tr_cli_usage_t *u, redisReply *field,
    redisReply *value, const char *label);
static tr_cli_usage_row_t *tr_cli_usage_row(tr_cli_usage_t *u,
    const char *group, size_t len);
static int tr_cli_usage_grow(tr_cli_usage_t *u);
static int tr_cli_usage_text(const char *s, size_t len);
static int tr_cli_usage_names(tr_cli_redis_t *r, tr_cli_usage_t *u);
static int tr_cli_usage_cmp(const void *one, const void *two);
static int tr_cli_usage_json(tr_cli_usage_t *u, int64_t *total,
    int64_t since, int64_t until);
static void tr_cli_usage_json_metrics(tr_cli_json_t *j, int64_t *m);
static int tr_cli_usage_table(tr_cli_usage_t *u, int64_t *total);
static int tr_cli_usage_table_row(tr_cli_table_t *t, const char *group,
    const char *name, int with_name, int64_t *m);
static void tr_cli_usage_free(tr_cli_usage_t *u);


static const char  *tr_cli_usage_metrics[] = {
    "req", "in", "out", "cached", "cost", "est", "unbilled", "clamped"
};

static const char  *tr_cli_usage_by[] = {
    "model", "key", "account", "day", "hour", NULL
};

static const char  *tr_cli_usage_headers[] = {
    "MODEL", "KEY", "ACCOUNT", "DAY", "HOUR"
};


static const char  tr_cli_usage_usage[] =
    "usage: tokenroute usage [--account ACCOUNT] [--key ID]\n"
    "           [--since DURATION] [--by model|key|account|day|hour]\n"
    "           [--json]\n"
    "\n"
    "Report what the gateway served: requests, tokens and cost, grouped\n"
    "by model, key, account, UTC day or UTC hour, sorted by cost (highest\n"
    "first) then name, with a TOTAL row.  Columns:\n"
    "  REQUESTS    requests charged\n"
    "  INPUT       all input tokens, cache reads included\n"
    "  OUTPUT      output tokens\n"
    "  CACHED      input tokens read from the provider's cache\n"
    "  COST        USD, exact to the nano-dollar\n"
    "  ESTIMATED   requests whose usage was estimated (the client left\n"
    "              before the provider reported it)\n"
    "  UNBILLED    USD the provider probably billed for answers the client\n"
    "              never got whole and was not charged for\n"
    "  CLAMPED     requests whose usage was more than the request allowed\n"
    "              (its max_tokens, its body's size), charged at that bound\n"
    "With --by key a NAME column shows the key's name ('-' if the key is\n"
    "gone).\n"
    "\n"
    "The window is made of whole UTC days when DURATION is 48h or more, or\n"
    "with --by day, else of whole UTC hours: the current one and those\n"
    "before it, as many as DURATION spans (7d: today and the 6 days\n"
    "before; 24h: this hour and the 23 before).  Days are kept 400 days,\n"
    "hours 8 days.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    only the usage of this account\n"
    "  --key ID             only the usage of this key (key_...)\n"
    "  --since DURATION     the window: a positive number followed by s, m,\n"
    "                       h, d or w (default 7d; at most 400d, or 8d with\n"
    "                       --by hour)\n"
    "  --by WHAT            group by model (the default), key, account,\n"
    "                       day (2026-11-27) or hour (2026-11-27T13)\n"
    "  --json               print one JSON object: since and until (unix\n"
    "                       seconds), by, rows (objects with group, name\n"
    "                       with --by key, requests, input_tokens,\n"
    "                       output_tokens, cached_tokens, cost_usd as a\n"
    "                       string, cost_nusd in nano-USD, estimated,\n"
    "                       unbilled_usd, unbilled_nusd, clamped) and\n"
    "                       total (the same without group)\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_usage(tr_cli_opts_t *opts, int argc, char **argv)
{
    int               rc, json;
    size_t            i, m, n;
    int64_t           now, step, first, total[TR_CLI_USAGE_NMETRICS];
    const char       *account, *key, *since, *by;
    tr_cli_usage_t    u;
    tr_cli_redis_t   *r;

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--key", &key, NULL },
        { "--since", &since, NULL },
        { "--by", &by, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    account = NULL;
    key = NULL;
    since = TR_CLI_USAGE_SINCE;
    by = tr_cli_usage_by[TR_CLI_BY_MODEL];
    json = 0;

    rc = tr_cli_args(opts, "usage", tr_cli_usage_usage, spec, argc, argv,
                     NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    memset(&u, 0, sizeof(tr_cli_usage_t));

    for (i = 0; tr_cli_usage_by[i] != NULL; i++) {
        if (strcmp(by, tr_cli_usage_by[i]) == 0) {
            break;
        }
    }

    if (tr_cli_usage_by[i] == NULL) {
        return tr_cli_usage_error("usage", "bad --by '%s': expected model, "
                                  "key, account, day or hour", by);
    }

    u.by = (int) i;
    u.account = account;
    u.key = key;

    if ((account != NULL && tr_cli_account_check("usage", account) != 0)
        || (key != NULL && tr_cli_usage_check_key(key) != 0))
    {
        return TR_CLI_USAGE;
    }

    now = (int64_t) time(NULL);
    step = 0;
    n = 0;

    rc = tr_cli_usage_window(since, u.by, &step, &n);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    /* the start of the oldest bucket: UTC days and hours align with 0 */
    first = now - now % step - (int64_t) (n - 1) * step;

    rc = tr_cli_redis_connect(opts, "usage", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_usage_read(r, &u, first, step, n);

    if (rc == TR_CLI_OK && u.by == TR_CLI_BY_KEY) {
        rc = tr_cli_usage_names(r, &u);
    }

    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        tr_cli_usage_free(&u);
        return rc;
    }

    if (u.malformed != 0) {
        fprintf(stderr, "tokenroute: warning: %zu malformed usage field%s "
                "skipped\n", u.malformed, (u.malformed == 1) ? "" : "s");
    }

    if (u.nrows > 1) {
        qsort(u.rows, u.nrows, sizeof(tr_cli_usage_row_t), tr_cli_usage_cmp);
    }

    memset(total, 0, sizeof(total));

    for (i = 0; i < u.nrows; i++) {
        for (m = 0; m < TR_CLI_USAGE_NMETRICS; m++) {
            total[m] = tr_cli_add(total[m], u.rows[i].m[m]);
        }
    }

    if (json) {
        rc = tr_cli_usage_json(&u, total, first, now);

    } else {
        rc = tr_cli_usage_table(&u, total);
    }

    tr_cli_usage_free(&u);

    return rc;
}


/* the bucket size and how many buckets, the current one included */

static int
tr_cli_usage_window(const char *since, int by, int64_t *step, size_t *n)
{
    int64_t  secs, count;

    if (tr_cli_parse_duration(since, &secs) != 0 || secs == 0) {
        return tr_cli_usage_error("usage", "bad --since '%s': expected a "
                                  "positive number followed by s, m, h, d "
                                  "or w (e.g. 24h, 7d)", since);
    }

    if (by == TR_CLI_BY_HOUR) {
        *step = TR_CLI_USAGE_HOUR;

    } else if (by == TR_CLI_BY_DAY || secs >= TR_CLI_USAGE_DAILY_FROM) {
        *step = TR_CLI_USAGE_DAY;

    } else {
        *step = TR_CLI_USAGE_HOUR;
    }

    count = (secs + *step - 1) / *step;

    if (*step == TR_CLI_USAGE_DAY && count > TR_CLI_USAGE_DAYS_MAX) {
        return tr_cli_usage_error("usage", "bad --since '%s': usage is kept "
                                  "%d days", since, TR_CLI_USAGE_DAYS_MAX);
    }

    if (*step == TR_CLI_USAGE_HOUR && count > TR_CLI_USAGE_HOURS_MAX) {
        return tr_cli_usage_error("usage", "bad --since '%s': hourly usage "
                                  "is kept %d days, --by hour covers at "
                                  "most %dd", since,
                                  TR_CLI_USAGE_HOURS_MAX / 24,
                                  TR_CLI_USAGE_HOURS_MAX / 24);
    }

    *n = (size_t) count;

    return TR_CLI_OK;
}


/* printable, no spaces and no '|', the separator of usage fields */

static int
tr_cli_usage_check_key(const char *key)
{
    size_t  i, len;

    len = strlen(key);

    if (len == 0 || len > TR_CLI_USAGE_KEY_MAX) {
        goto invalid;
    }

    for (i = 0; i < len; i++) {
        if (key[i] <= 0x20 || key[i] >= 0x7f || key[i] == '|') {
            goto invalid;
        }
    }

    return 0;

invalid:

    tr_cli_usage_error("usage", "bad --key '%s': expected a key id like "
                       "key_0123456789abcdef", key);
    return -1;
}


/*
 * One pipelined HGETALL per bucket, oldest first; each reply is added up
 * as it arrives, so only one bucket is in memory at a time.
 */

static int
tr_cli_usage_read(tr_cli_redis_t *r, tr_cli_usage_t *u, int64_t first,
    int64_t step, size_t n)
{
    int          rc;
    char         name[TR_CLI_USAGE_KEY_LEN], label[TR_CLI_USAGE_LABEL_LEN];
    size_t       i;
    time_t       tt;
    struct tm    tm;
    redisReply  *reply;
    const char  *kfmt, *lfmt;

    if (step == TR_CLI_USAGE_DAY) {
        kfmt = TOKENROUTE_REDIS_USAGE_DAY "%Y%m%d";
        lfmt = "%Y-%m-%d";

    } else {
        kfmt = TOKENROUTE_REDIS_USAGE_HOUR "%Y%m%d%H";
        lfmt = "%Y-%m-%dT%H";
    }

    for (i = 0; i < n; i++) {
        tt = (time_t) (first + (int64_t) i * step);

        if (gmtime_r(&tt, &tm) == NULL
            || strftime(name, sizeof(name), kfmt, &tm) == 0)
        {
            tr_cli_error("cannot format the time %lld", (long long) tt);
            return TR_CLI_FAILED;
        }

        if (tr_cli_redis_append(r, &rc, "HGETALL %s", name) != 0) {
            return rc;
        }
    }

    for (i = 0; i < n; i++) {
        reply = tr_cli_redis_reply(r, &rc);
        if (reply == NULL) {
            return rc;
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
            return tr_cli_redis_unexpected(r, reply,
                       step == TR_CLI_USAGE_DAY
                       ? "HGETALL " TOKENROUTE_REDIS_USAGE_DAY
                       : "HGETALL " TOKENROUTE_REDIS_USAGE_HOUR);
        }

        tt = (time_t) (first + (int64_t) i * step);

        /* gmtime_r() of the same times succeeded above */
        gmtime_r(&tt, &tm);
        strftime(label, sizeof(label), lfmt, &tm);

        tr_cli_usage_bucket(u, reply, label);

        freeReplyObject(reply);

        if (u->failed) {
            return TR_CLI_FAILED;
        }
    }

    return TR_CLI_OK;
}


static void
tr_cli_usage_bucket(tr_cli_usage_t *u, redisReply *reply, const char *label)
{
    size_t  i;

    for (i = 0; i < reply->elements && !u->failed; i += 2) {
        if (tr_cli_usage_field(u, reply->element[i], reply->element[i + 1],
                               label)
            != 0)
        {
            u->malformed++;
        }
    }
}


/*
 * A field is <account>|<key id>|<model>|<metric>: accounts and key ids
 * have no '|', so the model is what lies between the second '|' and the
 * last one.  Returns -1 for a malformed field; metrics unknown to this
 * version are ignored.
 */

static int
tr_cli_usage_field(tr_cli_usage_t *u, redisReply *field, redisReply *value,
    const char *label)
{
    size_t               m, alen, klen, mlen, glen;
    int64_t              n;
    const char          *f, *end, *p1, *p2, *p3, *metric, *group;
    tr_cli_usage_row_t  *row;

    if (field->type != REDIS_REPLY_STRING
        || value->type != REDIS_REPLY_STRING)
    {
        return -1;
    }

    f = field->str;
    end = f + field->len;

    p1 = memchr(f, '|', end - f);
    if (p1 == NULL) {
        return -1;
    }

    p2 = memchr(p1 + 1, '|', end - p1 - 1);
    if (p2 == NULL) {
        return -1;
    }

    for (p3 = end - 1; *p3 != '|'; p3--) {
        /* void */
    }

    alen = p1 - f;
    klen = p2 - p1 - 1;
    mlen = p3 - p2 - 1;
    metric = p3 + 1;

    if (p3 == p2 || alen == 0 || klen == 0 || mlen == 0 || metric == end) {
        return -1;
    }

    for (m = 0; m < TR_CLI_USAGE_NMETRICS; m++) {
        if ((size_t) (end - metric) == strlen(tr_cli_usage_metrics[m])
            && memcmp(metric, tr_cli_usage_metrics[m], end - metric) == 0)
        {
            break;
        }
    }

    if (m == TR_CLI_USAGE_NMETRICS) {
        return 0;
    }

    if (tr_cli_parse_sint64(value->str, value->len, &n) != 0) {
        return -1;
    }

    if (u->account != NULL
        && (alen != strlen(u->account) || memcmp(f, u->account, alen) != 0))
    {
        return 0;
    }

    if (u->key != NULL
        && (klen != strlen(u->key) || memcmp(p1 + 1, u->key, klen) != 0))
    {
        return 0;
    }

    switch (u->by) {

    case TR_CLI_BY_KEY:
        group = p1 + 1;
        glen = klen;
        break;

    case TR_CLI_BY_ACCOUNT:
        group = f;
        glen = alen;
        break;

    case TR_CLI_BY_DAY:
    case TR_CLI_BY_HOUR:
        group = label;
        glen = strlen(label);
        break;

    default: /* TR_CLI_BY_MODEL */
        group = p2 + 1;
        glen = mlen;
        break;
    }

    row = tr_cli_usage_row(u, group, glen);
    if (row == NULL) {
        return u->failed ? 0 : -1;
    }

    row->m[m] = tr_cli_add(row->m[m], n);

    return 0;
}


/*
 * Finds or adds the row of a group.  Returns NULL for a group that is not
 * printable text, or, with u->failed set, when out of memory.
 */

static tr_cli_usage_row_t *
tr_cli_usage_row(tr_cli_usage_t *u, const char *group, size_t len)
{
    size_t               i, mask;
    uint32_t             hash;
    tr_cli_usage_row_t  *row;

    /* FNV-1a */
    hash = 2166136261u;

    for (i = 0; i < len; i++) {
        hash = (hash ^ (unsigned char) group[i]) * 16777619u;
    }

    if (u->size != 0) {
        mask = u->size - 1;

        for (i = hash & mask; u->index[i] != 0; i = (i + 1) & mask) {
            row = &u->rows[u->index[i] - 1];

            if (row->hash == hash && strlen(row->group) == len
                && memcmp(row->group, group, len) == 0)
            {
                return row;
            }
        }
    }

    if (!tr_cli_usage_text(group, len)) {
        return NULL;
    }

    if ((u->nrows + 1) * 2 > u->size || u->nrows == u->nalloc) {
        if (tr_cli_usage_grow(u) != 0) {
            u->failed = 1;
            return NULL;
        }
    }

    row = &u->rows[u->nrows];
    memset(row, 0, sizeof(tr_cli_usage_row_t));

    row->group = strndup(group, len);
    if (row->group == NULL) {
        tr_cli_error("out of memory");
        u->failed = 1;
        return NULL;
    }

    row->hash = hash;

    mask = u->size - 1;

    for (i = hash & mask; u->index[i] != 0; i = (i + 1) & mask) {
        /* void */
    }

    u->index[i] = (uint32_t) ++u->nrows;

    return row;
}


/* doubles the rows and the index, which stays at most half full */

static int
tr_cli_usage_grow(tr_cli_usage_t *u)
{
    size_t               i, j, size, nalloc, mask;
    uint32_t            *index;
    tr_cli_usage_row_t  *rows;

    if (u->nrows == u->nalloc) {
        nalloc = (u->nalloc == 0) ? 16 : u->nalloc * 2;

        if (nalloc > UINT32_MAX / 2) {
            tr_cli_error("too many usage groups");
            return -1;
        }

        rows = realloc(u->rows, nalloc * sizeof(tr_cli_usage_row_t));
        if (rows == NULL) {
            tr_cli_error("out of memory");
            return -1;
        }

        u->rows = rows;
        u->nalloc = nalloc;
    }

    if ((u->nrows + 1) * 2 <= u->size) {
        return 0;
    }

    size = (u->size == 0) ? 32 : u->size * 2;

    index = calloc(size, sizeof(uint32_t));
    if (index == NULL) {
        tr_cli_error("out of memory");
        return -1;
    }

    mask = size - 1;

    for (i = 0; i < u->nrows; i++) {
        for (j = u->rows[i].hash & mask; index[j] != 0; j = (j + 1) & mask) {
            /* void */
        }

        index[j] = (uint32_t) (i + 1);
    }

    free(u->index);
    u->index = index;
    u->size = size;

    return 0;
}


/* valid UTF-8 without control characters: safe in a table and in JSON */

static int
tr_cli_usage_text(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return tr_cli_utf8_valid(s, len);
}


/*
 * --by key: the name of each key, in two pipelined rounds (every id to its
 * hash, every hash to its name).  A key that is gone has no name.
 */

static int
tr_cli_usage_names(tr_cli_redis_t *r, tr_cli_usage_t *u)
{
    int           rc;
    size_t        i;
    redisReply   *reply, **hashes;

    if (u->nrows == 0) {
        return TR_CLI_OK;
    }

    hashes = calloc(u->nrows, sizeof(redisReply *));
    if (hashes == NULL) {
        tr_cli_error("out of memory");
        return TR_CLI_FAILED;
    }

    for (i = 0; i < u->nrows; i++) {
        if (tr_cli_redis_append(r, &rc, "GET " TOKENROUTE_REDIS_KEYID "%s",
                                u->rows[i].group)
            != 0)
        {
            goto done;
        }
    }

    for (i = 0; i < u->nrows; i++) {
        reply = tr_cli_redis_reply(r, &rc);
        if (reply == NULL) {
            if (!tr_cli_redis_usable(r)) {
                goto done;
            }

            continue;
        }

        if (reply->type != REDIS_REPLY_STRING
            || !tr_cli_key_is_hash(reply->str, reply->len))
        {
            freeReplyObject(reply);
            continue;
        }

        hashes[i] = reply;

        if (tr_cli_redis_append(r, &rc, "HGET " TOKENROUTE_REDIS_KEY "%s name",
                                reply->str)
            != 0)
        {
            goto done;
        }
    }

    for (i = 0; i < u->nrows; i++) {
        if (hashes[i] == NULL) {
            continue;
        }

        reply = tr_cli_redis_reply(r, &rc);
        if (reply == NULL) {
            if (!tr_cli_redis_usable(r)) {
                goto done;
            }

            continue;
        }

        if (reply->type == REDIS_REPLY_STRING
            && tr_cli_usage_text(reply->str, reply->len))
        {
            u->rows[i].name = strndup(reply->str, reply->len);

            if (u->rows[i].name == NULL) {
                tr_cli_error("out of memory");
                freeReplyObject(reply);
                rc = TR_CLI_FAILED;
                goto done;
            }
        }

        freeReplyObject(reply);
    }

    rc = TR_CLI_OK;

done:

    for (i = 0; i < u->nrows; i++) {
        if (hashes[i] != NULL) {
            freeReplyObject(hashes[i]);
        }
    }

    free(hashes);

    return rc;
}


/* cost, highest first, then the group's name */

static int
tr_cli_usage_cmp(const void *one, const void *two)
{
    const tr_cli_usage_row_t  *a, *b;

    a = one;
    b = two;

    if (a->m[TR_CLI_USAGE_COST] != b->m[TR_CLI_USAGE_COST]) {
        return (a->m[TR_CLI_USAGE_COST] > b->m[TR_CLI_USAGE_COST]) ? -1 : 1;
    }

    return strcmp(a->group, b->group);
}


static int
tr_cli_usage_json(tr_cli_usage_t *u, int64_t *total, int64_t since,
    int64_t until)
{
    int                  rc;
    size_t               i;
    tr_cli_json_t       *j;
    tr_cli_usage_row_t  *row;

    j = tr_cli_json_create();
    if (j == NULL) {
        return TR_CLI_FAILED;
    }

    tr_cli_json_map_open(j);

    tr_cli_json_str(j, "since");
    tr_cli_json_int(j, since);
    tr_cli_json_str(j, "until");
    tr_cli_json_int(j, until);
    tr_cli_json_str(j, "by");
    tr_cli_json_str(j, tr_cli_usage_by[u->by]);

    tr_cli_json_str(j, "rows");
    tr_cli_json_array_open(j);

    for (i = 0; i < u->nrows; i++) {
        row = &u->rows[i];

        tr_cli_json_map_open(j);

        tr_cli_json_str(j, "group");
        tr_cli_json_str(j, row->group);

        if (u->by == TR_CLI_BY_KEY) {
            tr_cli_json_str(j, "name");

            if (row->name != NULL) {
                tr_cli_json_str(j, row->name);

            } else {
                tr_cli_json_null(j);
            }
        }

        tr_cli_usage_json_metrics(j, row->m);

        tr_cli_json_map_close(j);
    }

    tr_cli_json_array_close(j);

    tr_cli_json_str(j, "total");
    tr_cli_json_map_open(j);
    tr_cli_usage_json_metrics(j, total);
    tr_cli_json_map_close(j);

    tr_cli_json_map_close(j);

    rc = (tr_cli_json_print(j, stdout) == 0) ? TR_CLI_OK : TR_CLI_FAILED;

    tr_cli_json_destroy(j);

    return rc;
}


static void
tr_cli_usage_json_metrics(tr_cli_json_t *j, int64_t *m)
{
    tr_cli_json_str(j, "requests");
    tr_cli_json_int(j, m[TR_CLI_USAGE_REQ]);
    tr_cli_json_str(j, "input_tokens");
    tr_cli_json_int(j, m[TR_CLI_USAGE_IN]);
    tr_cli_json_str(j, "output_tokens");
    tr_cli_json_int(j, m[TR_CLI_USAGE_OUT]);
    tr_cli_json_str(j, "cached_tokens");
    tr_cli_json_int(j, m[TR_CLI_USAGE_CACHED]);
    tr_cli_json_str(j, "cost_usd");
    tr_cli_json_usd(j, m[TR_CLI_USAGE_COST]);
    tr_cli_json_str(j, "cost_nusd");
    tr_cli_json_int(j, m[TR_CLI_USAGE_COST]);
    tr_cli_json_str(j, "estimated");
    tr_cli_json_int(j, m[TR_CLI_USAGE_EST]);
    tr_cli_json_str(j, "unbilled_usd");
    tr_cli_json_usd(j, m[TR_CLI_USAGE_UNBILLED]);
    tr_cli_json_str(j, "unbilled_nusd");
    tr_cli_json_int(j, m[TR_CLI_USAGE_UNBILLED]);
    tr_cli_json_str(j, "clamped");
    tr_cli_json_int(j, m[TR_CLI_USAGE_CLAMPED]);
}


static int
tr_cli_usage_table(tr_cli_usage_t *u, int64_t *total)
{
    int                  rc, with_name;
    size_t               i, c;
    const char          *header[TR_CLI_USAGE_COLS];
    tr_cli_table_t      *t;
    tr_cli_usage_row_t  *row;

    with_name = (u->by == TR_CLI_BY_KEY);

    c = 0;
    header[c++] = tr_cli_usage_headers[u->by];

    if (with_name) {
        header[c++] = "NAME";
    }

    header[c++] = "REQUESTS";
    header[c++] = "INPUT";
    header[c++] = "OUTPUT";
    header[c++] = "CACHED";
    header[c++] = "COST";
    header[c++] = "ESTIMATED";
    header[c++] = "UNBILLED";
    header[c++] = "CLAMPED";

    t = tr_cli_table_create(c, header);
    if (t == NULL) {
        return TR_CLI_FAILED;
    }

    rc = TR_CLI_OK;

    for (i = 0; i < u->nrows; i++) {
        row = &u->rows[i];

        if (tr_cli_usage_table_row(t, row->group,
                                   (row->name != NULL) ? row->name : "-",
                                   with_name, row->m)
            != 0)
        {
            rc = TR_CLI_FAILED;
            goto done;
        }
    }

    if (tr_cli_usage_table_row(t, "TOTAL", "", with_name, total) != 0
        || tr_cli_table_print(t, stdout) != 0)
    {
        rc = TR_CLI_FAILED;
    }

done:

    tr_cli_table_destroy(t);

    return rc;
}


static int
tr_cli_usage_table_row(tr_cli_table_t *t, const char *group,
    const char *name, int with_name, int64_t *m)
{
    char         num[6][TR_CLI_INT_LEN], cost[TOKENROUTE_MONEY_BUF_LEN];
    char         unbilled[TOKENROUTE_MONEY_BUF_LEN];
    size_t       c;
    const char  *row[TR_CLI_USAGE_COLS];

    snprintf(num[0], sizeof(num[0]), "%lld",
             (long long) m[TR_CLI_USAGE_REQ]);
    snprintf(num[1], sizeof(num[1]), "%lld", (long long) m[TR_CLI_USAGE_IN]);
    snprintf(num[2], sizeof(num[2]), "%lld",
             (long long) m[TR_CLI_USAGE_OUT]);
    snprintf(num[3], sizeof(num[3]), "%lld",
             (long long) m[TR_CLI_USAGE_CACHED]);
    snprintf(num[4], sizeof(num[4]), "%lld",
             (long long) m[TR_CLI_USAGE_EST]);
    snprintf(num[5], sizeof(num[5]), "%lld",
             (long long) m[TR_CLI_USAGE_CLAMPED]);
    tokenroute_money_format_usd(m[TR_CLI_USAGE_COST], cost, sizeof(cost));
    tokenroute_money_format_usd(m[TR_CLI_USAGE_UNBILLED], unbilled,
                                sizeof(unbilled));

    c = 0;
    row[c++] = group;

    if (with_name) {
        row[c++] = name;
    }

    row[c++] = num[0];
    row[c++] = num[1];
    row[c++] = num[2];
    row[c++] = num[3];
    row[c++] = cost;
    row[c++] = num[4];
    row[c++] = unbilled;
    row[c++] = num[5];

    return tr_cli_table_add(t, row);
}


static void
tr_cli_usage_free(tr_cli_usage_t *u)
{
    size_t  i;

    for (i = 0; i < u->nrows; i++) {
        free(u->rows[i].group);
        free(u->rows[i].name);
    }

    free(u->rows);
    free(u->index);

    u->rows = NULL;
    u->index = NULL;
    u->nrows = 0;
    u->nalloc = 0;
    u->size = 0;
}
