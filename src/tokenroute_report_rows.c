
/*
 * Copyright (C) tokenroute authors
 *
 * The usage report's aggregation: each field of a usage bucket parsed,
 * filtered and added to the row of its group; the rows sorted and added
 * up.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenroute_report_int.h"


/* a field's parts: 4 (old, no tenant) or 5 */
#define TR_REPORT_PARTS        5

/* "YYYY-MM-DDTHH" and the tenant group "<account>/<tenant>" */
#define TR_REPORT_GROUP_LEN    256


static int tr_report_field(tokenroute_report_t *rp, const redisReply *f,
    const redisReply *v, int64_t start);
static int tr_report_eq(const char *s, size_t len, const char *z);
static int tr_report_int(const char *s, size_t len, int64_t *out);
static int64_t tr_report_plus(int64_t a, int64_t b);
static tr_report_row_t *tr_report_row(tokenroute_report_t *rp,
    const char *group, size_t len);
static int tr_report_grow(tokenroute_report_t *rp);
static int tr_report_cmp(const void *one, const void *two);


static const char  *tr_report_metrics[] = {
    "req", "in", "out", "cached", "cost", "est", "unbilled", "clamped",
    "fail"
};


int
tokenroute_report_bucket(tokenroute_report_t *rp, const redisReply *r,
    int64_t start)
{
    size_t  i;

    for (i = 0; i < r->elements && rp->status == 0; i += 2) {
        if (tr_report_field(rp, r->element[i], r->element[i + 1], start)
            != 0)
        {
            rp->malformed++;
        }
    }

    return (rp->status == 0) ? 0 : -1;
}


/*
 * A field is <account>|<tenant>|<key id>|<model>|<metric>, or the old
 * <account>|<key id>|<model>|<metric> (tenant ""): no part has a '|' (the
 * gateway refuses model ids with one).  Returns -1 for a malformed field;
 * metrics unknown to this version are ignored.
 */

static int
tr_report_field(tokenroute_report_t *rp, const redisReply *f,
    const redisReply *v, int64_t start)
{
    int               n;
    char              label[TR_REPORT_GROUP_LEN];
    time_t            tt;
    size_t            m, len[TR_REPORT_PARTS], glen;
    size_t            alen, tlen, klen, mlen, xlen;
    int64_t           value;
    struct tm         tm;
    const char       *p, *end, *part[TR_REPORT_PARTS], *group;
    const char       *acct, *tenant, *key, *model, *metric;
    tr_report_row_t  *row;

    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
        return -1;
    }

    p = f->str;
    end = f->str + f->len;

    for (n = 0; n < TR_REPORT_PARTS; n++) {
        part[n] = p;

        while (p < end && *p != '|') {
            p++;
        }

        len[n] = p - part[n];

        if (p == end) {
            break;
        }

        p++;
    }

    if (n == TR_REPORT_PARTS || n < 3) {
        return -1;    /* more than 5 parts, or fewer than 4 */
    }

    acct = part[0];
    alen = len[0];

    if (n == 3) {
        tenant = "";
        tlen = 0;
        n = 1;

    } else {
        tenant = part[1];
        tlen = len[1];
        n = 2;
    }

    key = part[n];
    klen = len[n];
    model = part[n + 1];
    mlen = len[n + 1];
    metric = part[n + 2];
    xlen = len[n + 2];

    if (alen == 0 || klen == 0 || mlen == 0 || xlen == 0) {
        return -1;
    }

    for (m = 0; m < TR_REPORT_NMETRICS; m++) {
        if (xlen == strlen(tr_report_metrics[m])
            && memcmp(metric, tr_report_metrics[m], xlen) == 0)
        {
            break;
        }
    }

    if (m == TR_REPORT_NMETRICS) {
        return 0;
    }

    if (tr_report_int(v->str, v->len, &value) != 0) {
        return -1;
    }

    /* what the usage mentions, for the existence checks */

    if (rp->key != NULL && tr_report_eq(key, klen, rp->key)) {
        rp->seen |= 2;
    }

    if (rp->account != NULL) {
        if (!tr_report_eq(acct, alen, rp->account)) {
            return 0;
        }

        rp->seen |= 1;
    }

    if (rp->tenant != NULL) {
        if (!tr_report_eq(tenant, tlen, rp->tenant)) {
            return 0;
        }

        rp->seen |= 4;
    }

    if (rp->key != NULL && !tr_report_eq(key, klen, rp->key)) {
        return 0;
    }

    switch (rp->by) {

    case TR_REPORT_BY_KEY:
        group = key;
        glen = klen;
        break;

    case TR_REPORT_BY_ACCOUNT:
        group = acct;
        glen = alen;
        break;

    case TR_REPORT_BY_TENANT:
        /* account names have no '/': the group splits back */
        if (alen + 1 + ((tlen != 0) ? tlen : 1) >= sizeof(label)) {
            return -1;
        }

        memcpy(label, acct, alen);
        label[alen] = '/';

        if (tlen != 0) {
            memcpy(label + alen + 1, tenant, tlen);

        } else {
            label[alen + 1] = '-';
            tlen = 1;
        }

        group = label;
        glen = alen + 1 + tlen;
        break;

    case TR_REPORT_BY_DAY:
    case TR_REPORT_BY_HOUR:
        tt = (time_t) start;

        /* the same time was formatted when its command was made */
        gmtime_r(&tt, &tm);
        glen = strftime(label, sizeof(label),
                        (rp->step == TR_REPORT_DAY) ? "%Y-%m-%d"
                                                    : "%Y-%m-%dT%H", &tm);
        group = label;
        break;

    default: /* TR_REPORT_BY_MODEL */
        group = model;
        glen = mlen;
        break;
    }

    row = tr_report_row(rp, group, glen);
    if (row == NULL) {
        return (rp->status != 0) ? 0 : -1;
    }

    row->m[m] = tr_report_plus(row->m[m], value);

    return 0;
}


static int
tr_report_eq(const char *s, size_t len, const char *z)
{
    return strlen(z) == len && memcmp(s, z, len) == 0;
}


/* an optional '-' and 1-19 digits, within int64_t */

static int
tr_report_int(const char *s, size_t len, int64_t *out)
{
    int       neg;
    size_t    i;
    uint64_t  v;

    neg = (len > 0 && s[0] == '-');
    i = neg;

    if (len == i || len - i > 19) {
        return -1;
    }

    for (v = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    if (v > (uint64_t) INT64_MAX + neg) {
        return -1;
    }

    *out = neg ? (int64_t) (0 - v) : (int64_t) v;

    return 0;
}


/* a + b, saturated */

static int64_t
tr_report_plus(int64_t a, int64_t b)
{
    int64_t  r;

    if (__builtin_add_overflow(a, b, &r)) {
        return (b > 0) ? INT64_MAX : INT64_MIN;
    }

    return r;
}


/*
 * Finds or adds the row of a group.  Returns NULL for a group that is not
 * text, or, with the report failed, when out of memory.
 */

static tr_report_row_t *
tr_report_row(tokenroute_report_t *rp, const char *group, size_t len)
{
    size_t            i, mask;
    uint32_t          h;
    tr_report_row_t  *row;

    /* FNV-1a */
    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) group[i]) * 16777619u;
    }

    if (rp->size != 0) {
        mask = rp->size - 1;

        for (i = h & mask; rp->index[i] != 0; i = (i + 1) & mask) {
            row = &rp->rows[rp->index[i] - 1];

            if (row->h == h && strlen(row->group) == len
                && memcmp(row->group, group, len) == 0)
            {
                return row;
            }
        }
    }

    if (!tokenroute_report_text(group, len)) {
        return NULL;
    }

    if ((rp->nrows + 1) * 2 > rp->size || rp->nrows == rp->nalloc) {
        if (tr_report_grow(rp) != 0) {
            return NULL;
        }
    }

    row = &rp->rows[rp->nrows];
    memset(row, 0, sizeof(tr_report_row_t));

    row->group = strndup(group, len);
    if (row->group == NULL) {
        tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED, "out of memory");
        return NULL;
    }

    row->h = h;

    mask = rp->size - 1;

    for (i = h & mask; rp->index[i] != 0; i = (i + 1) & mask) {
        /* void */
    }

    rp->index[i] = (uint32_t) ++rp->nrows;

    return row;
}


/* doubles the rows and the index, which stays at most half full */

static int
tr_report_grow(tokenroute_report_t *rp)
{
    size_t            i, j, size, nalloc, mask;
    uint32_t         *index;
    tr_report_row_t  *rows;

    if (rp->nrows == rp->nalloc) {
        nalloc = (rp->nalloc == 0) ? 16 : rp->nalloc * 2;

        if (nalloc > UINT32_MAX / 2) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                          "too many usage groups");
        }

        rows = realloc(rp->rows, nalloc * sizeof(tr_report_row_t));
        if (rows == NULL) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                          "out of memory");
        }

        rp->rows = rows;
        rp->nalloc = nalloc;
    }

    if ((rp->nrows + 1) * 2 <= rp->size) {
        return 0;
    }

    size = (rp->size == 0) ? 32 : rp->size * 2;

    index = calloc(size, sizeof(uint32_t));
    if (index == NULL) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "out of memory");
    }

    mask = size - 1;

    for (i = 0; i < rp->nrows; i++) {
        for (j = rp->rows[i].h & mask; index[j] != 0; j = (j + 1) & mask) {
            /* void */
        }

        index[j] = (uint32_t) (i + 1);
    }

    free(rp->index);
    rp->index = index;
    rp->size = size;

    return 0;
}


/* sorted by cost, highest first, then by group; the total */

void
tokenroute_report_sort(tokenroute_report_t *rp)
{
    size_t  i, m;

    if (rp->nrows > 1) {
        qsort(rp->rows, rp->nrows, sizeof(tr_report_row_t), tr_report_cmp);
    }

    /* the index is stale now, and no longer needed */
    free(rp->index);
    rp->index = NULL;
    rp->size = 0;

    memset(rp->total, 0, sizeof(rp->total));

    for (i = 0; i < rp->nrows; i++) {
        for (m = 0; m < TR_REPORT_NMETRICS; m++) {
            rp->total[m] = tr_report_plus(rp->total[m], rp->rows[i].m[m]);
        }
    }
}


static int
tr_report_cmp(const void *one, const void *two)
{
    const tr_report_row_t  *a, *b;

    a = one;
    b = two;

    if (a->m[TR_REPORT_COST] != b->m[TR_REPORT_COST]) {
        return (a->m[TR_REPORT_COST] > b->m[TR_REPORT_COST]) ? -1 : 1;
    }

    return strcmp(a->group, b->group);
}


/* valid UTF-8 without control characters: safe in a table and in JSON */

int
tokenroute_report_text(const char *s, size_t len)
{
    size_t         i, n, k;
    uint32_t       cp, min;
    unsigned char  c;

    for (i = 0; i < len; i += n) {
        c = (unsigned char) s[i];

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return 0;
            }

            n = 1;
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
            min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
            min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (n > len - i) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            c = (unsigned char) s[i + k];

            if ((c & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (c & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


void
tokenroute_report_rows_free(tokenroute_report_t *rp)
{
    size_t  i;

    for (i = 0; i < rp->nrows; i++) {
        free(rp->rows[i].group);
        free(rp->rows[i].name);
        free(rp->rows[i].hash);
    }

    free(rp->rows);
    free(rp->index);

    rp->rows = NULL;
    rp->index = NULL;
    rp->nrows = 0;
    rp->nalloc = 0;
    rp->size = 0;
}
