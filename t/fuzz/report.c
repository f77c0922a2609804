
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the usage report (src/tokenroute_report*.c), which
 * reads the admin API's query (GET .../usage?since=...) and Redis's
 * usage hashes.  Input:
 *
 *   byte 0     flags: 1 the replies of a round given last to first,
 *              2 a reply given twice and one out of range at the end of
 *              each round (the report must fail, 500)
 *   bytes 1-4  now: 2026-01-01T00:00Z plus this little-endian number of
 *              seconds, modulo 3 years
 *   lines      "name=value" parameters (any name), up to an empty line
 *   lines      a reply per command, in the order given: "A" an array
 *              whose elements are the lines up to "." ("~" nil, ":N" an
 *              integer, "!text" an error, "=text" or any other line a
 *              string), "I<number>", "S<text>", "N" nil, "E<text>" an
 *              error, "X" no reply (a failed connection), "K" none
 *              given; an empty line or the input's end gives the usual
 *              reply (an empty hash, 1, a key record's hash, nil)
 *
 * Properties: an unknown name refused (400); each value, as a time and
 * as a month, parsed as a plain restatement of the rules says, its unix
 * time formatted back by gmtime() being the value; a query planned has
 * a known --by and --format and valid names, a window of whole buckets
 * within the retention, ending by now, whose HGETALL commands are its
 * buckets in order; every command's arguments NUL-terminated and of
 * their length; a failure has a status of 400, 404 or 500 and a message;
 * replies are freed as soon as given (ASan sees a pointer kept); the
 * fields taken, skipped or counted malformed, the groups and their sums
 * (saturated), the total and the rows' order (cost, then group) as a
 * restatement of the aggregation's rules says.  A
 * report complete is rendered in the three formats: NUL-terminated, no
 * NUL inside; JSON that yajl reads (UTF-8) with the rows' groups in
 * order and the total's requests; CSV of the header line and one record
 * per row, each of the header's number of fields (RFC 4180), the first
 * field(s) the group; a table of the header, the rows and TOTAL, lines
 * of one width and no trailing space.
 */


#define _DEFAULT_SOURCE


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_tree.h>

#include <tokenroute_report_int.h>

#include "fuzz.h"


#define NOW_BASE   1767225600LL              /* 2026-01-01T00:00Z */
#define NOW_SPAN   (3 * 365 * 86400LL)


typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
} input_t;


static const char  *names[] = {
    "since", "until", "month", "by", "account", "key", "tenant", "format",
    NULL
};


static int
line(input_t *in, const char **s, size_t *len)
{
    const uint8_t  *nl;

    if (in->p >= in->end) {
        return 0;
    }

    *s = (const char *) in->p;
    nl = memchr(in->p, '\n', in->end - in->p);

    if (nl == NULL) {
        *len = in->end - in->p;
        in->p = in->end;

    } else {
        *len = nl - in->p;
        in->p = nl + 1;
    }

    return 1;
}


static char *
dup(const char *s, size_t len)
{
    char  *z;

    z = malloc(len + 1);
    if (z == NULL) {
        abort();
    }

    memcpy(z, s, len);
    z[len] = '\0';

    return z;
}


/* n digits, no sign */

static int
digits(const char *s, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        *v = *v * 10 + (s[i] - '0');
    }

    return 0;
}


/* the unix time of a UTC date that exists, or -1 */

static int64_t
ref_date(int y, int mo, int d, int h, int mi, int sec)
{
    time_t     t;
    struct tm  tm, back;

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59
        || sec > 59)
    {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;

    t = timegm(&tm);

    /* timegm() moves the 31st of November on: not a date */
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != d
        || back.tm_mon != mo - 1)
    {
        return -1;
    }

    return (int64_t) t;
}


static void
check_time(const char *s)
{
    int      rc, kind, want_kind, y, mo, d, h, mi, sec, n;
    char     back[32];
    size_t   len, i;
    time_t   tt;
    int64_t  t, want, start, end, wstart, wend;
    struct tm  tm;

    len = strlen(s);
    want = -1;
    want_kind = -1;

    /* a duration: 1-10 digits, 1 to 10^9, and s m h d or w */

    if (len >= 2 && len <= 11 && strchr("smhdw", s[len - 1]) != NULL
        && s[len - 1] != '\0')
    {
        int64_t  v = 0;

        for (i = 0; i < len - 1 && s[i] >= '0' && s[i] <= '9'; i++) {
            v = v * 10 + (s[i] - '0');
        }

        if (i == len - 1 && v >= 1 && v <= 1000000000) {
            n = (s[len - 1] == 's') ? 1 : (s[len - 1] == 'm') ? 60
                : (s[len - 1] == 'h') ? 3600 : (s[len - 1] == 'd') ? 86400
                : 7 * 86400;
            want = v * n;
            want_kind = TR_REPORT_T_DURATION;
        }
    }

    /* YYYY-MM-DD, THH:MMZ or THH:MM:SSZ */

    if ((len == 10 || len == 17 || len == 20)
        && s[4] == '-' && s[7] == '-'
        && digits(s, 4, &y) == 0 && digits(s + 5, 2, &mo) == 0
        && digits(s + 8, 2, &d) == 0)
    {
        h = 0;
        mi = 0;
        sec = 0;

        if (len == 10) {
            want = ref_date(y, mo, d, 0, 0, 0);
            want_kind = TR_REPORT_T_DATE;

        } else if (s[10] == 'T' && s[13] == ':' && s[len - 1] == 'Z'
                   && digits(s + 11, 2, &h) == 0
                   && digits(s + 14, 2, &mi) == 0
                   && (len == 17
                       || (s[16] == ':' && digits(s + 17, 2, &sec) == 0)))
        {
            want = ref_date(y, mo, d, h, mi, sec);
            want_kind = TR_REPORT_T_TIME;
        }

        if (want == -1) {
            want_kind = -1;
        }
    }

    kind = -1;
    rc = tokenroute_report_parse_time(s, &t, &kind);

    fuzz_check(rc == (want_kind == -1 ? -1 : 0), "a time by the rules");

    if (rc == 0) {
        fuzz_check(kind == want_kind && t == want, "the time of the rules");

        if (kind != TR_REPORT_T_DURATION) {
            tt = (time_t) t;
            gmtime_r(&tt, &tm);
            strftime(back, sizeof(back),
                     (len == 10) ? "%Y-%m-%d" : (len == 17)
                     ? "%Y-%m-%dT%H:%MZ" : "%Y-%m-%dT%H:%M:%SZ", &tm);
            fuzz_check(strcmp(back, s) == 0, "the time formats back");
        }
    }

    /* YYYY-MM */

    wstart = -1;
    wend = -1;

    if (len == 7 && s[4] == '-' && digits(s, 4, &y) == 0
        && digits(s + 5, 2, &mo) == 0)
    {
        wstart = ref_date(y, mo, 1, 0, 0, 0);
        wend = (mo == 12) ? ref_date(y + 1, 1, 1, 0, 0, 0)
                          : ref_date(y, mo + 1, 1, 0, 0, 0);
    }

    rc = tokenroute_report_parse_month(s, &start, &end);

    fuzz_check(rc == (wstart == -1 ? -1 : 0), "a month by the rules");
    fuzz_check(rc != 0 || (start == wstart && end == wend),
               "the month's start and end");
}


static int
ref_name(const char *s, size_t max, const char *extra)
{
    size_t  i, len;

    len = strlen(s);

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (extra == NULL
            ? ((unsigned char) s[i] > 0x20 && (unsigned char) s[i] < 0x7f
               && s[i] != '|')
            : ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
               || (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i])))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


static int
index_of(const char *v, const char **list, int dflt)
{
    int  i;

    if (v == NULL) {
        return dflt;
    }

    for (i = 0; list[i] != NULL; i++) {
        if (strcmp(v, list[i]) == 0) {
            return i;
        }
    }

    return -1;
}


static void
check_failed(tokenroute_report_t *rp)
{
    int          st;
    const char  *e;

    st = tokenroute_report_status(rp);
    e = tokenroute_report_error(rp);

    fuzz_check(st == TOKENROUTE_REPORT_BAD || st == TOKENROUTE_REPORT_NOT_FOUND
               || st == TOKENROUTE_REPORT_FAILED, "a failure's status");
    fuzz_check(e != NULL && e[0] != '\0' && strlen(e) < TR_REPORT_ERR_LEN,
               "a failure's message");
    fuzz_check(tokenroute_report_ncmds(rp) == 0, "no command once failed");
}


/* a planned query: what was asked, and a window of whole buckets */

static void
check_plan(tokenroute_report_t *rp)
{
    int          by, format;
    char         name[32], key[64];
    size_t       i, k, n, hget;
    time_t       tt;
    int64_t      last, ms, me;
    struct tm    tm;
    const char  *m;

    static const char  *bys[] = {
        "model", "key", "account", "tenant", "day", "hour", NULL
    };
    static const char  *formats[] = { "json", "table", "csv", NULL };

    by = index_of(rp->param[TR_REPORT_P_BY], bys, 0);
    format = index_of(rp->param[TR_REPORT_P_FORMAT], formats, 0);

    fuzz_check(by >= 0 && rp->by == by, "the --by asked for");
    fuzz_check(format >= 0 && rp->format == format
               && tokenroute_report_format(rp) == format,
               "the --format asked for");

    fuzz_check(rp->account == NULL
               || ref_name(rp->account, 128, "._:@-"), "a valid account");
    fuzz_check(rp->key == NULL || ref_name(rp->key, 128, NULL),
               "a valid key id");
    fuzz_check(rp->tenant == NULL
               || (ref_name(rp->tenant, 64, "._@-") && rp->account != NULL),
               "a valid tenant, of an account");

    fuzz_check(rp->step == TR_REPORT_DAY || rp->step == TR_REPORT_HOUR,
               "days or hours");
    fuzz_check(by != TR_REPORT_BY_HOUR || rp->step == TR_REPORT_HOUR,
               "--by hour reads hours");
    fuzz_check(by != TR_REPORT_BY_DAY || rp->step == TR_REPORT_DAY,
               "--by day reads days");

    last = rp->first + (int64_t) (rp->nbuckets - 1) * rp->step;

    fuzz_check(rp->first % rp->step == 0 && rp->nbuckets >= 1
               && rp->nbuckets <= ((rp->step == TR_REPORT_DAY) ? 400 : 192),
               "whole buckets, within the retention");
    fuzz_check(last <= rp->now && rp->since == rp->first
               && rp->since <= rp->until && rp->until <= rp->now,
               "a window that ends by now");

    m = rp->param[TR_REPORT_P_MONTH];

    if (m != NULL) {
        fuzz_check(tokenroute_report_parse_month(m, &ms, &me) == 0
                   && rp->step == TR_REPORT_DAY && rp->first == ms
                   && last < me, "the month's days");
    }

    /* the existence checks, then the buckets, in order */

    n = tokenroute_report_ncmds(rp);
    hget = 0;

    for (i = 0; i < n; i++) {
        const tokenroute_report_cmd_t  *c = tokenroute_report_cmd(rp, i);

        if (strcmp(c->argv[0], "HGETALL") != 0) {
            fuzz_check(hget == 0, "the buckets come last");
            continue;
        }

        tt = (time_t) (rp->first + (int64_t) hget * rp->step);
        gmtime_r(&tt, &tm);
        strftime(name, sizeof(name),
                 (rp->step == TR_REPORT_DAY) ? "%Y%m%d" : "%Y%m%d%H", &tm);
        snprintf(key, sizeof(key), "tr:u:%c:%s",
                 (rp->step == TR_REPORT_DAY) ? 'd' : 'h', name);

        fuzz_check(c->argc == 2 && strcmp(c->argv[1], key) == 0,
                   "the buckets of the window, in order");
        hget++;
    }

    k = 2 * (rp->account != NULL) + (rp->key != NULL)
        + 2 * (rp->tenant != NULL);

    fuzz_check(hget == rp->nbuckets && n == hget + k,
               "a command per bucket and per existence check");
}


static void
check_cmds(tokenroute_report_t *rp)
{
    int                             a;
    size_t                          i, n;
    const tokenroute_report_cmd_t  *c;

    n = tokenroute_report_ncmds(rp);

    for (i = 0; i < n; i++) {
        c = tokenroute_report_cmd(rp, i);

        fuzz_check(c != NULL && c->argc >= 2
                   && c->argc <= TOKENROUTE_REPORT_ARGS, "a command");

        for (a = 0; a < c->argc; a++) {
            fuzz_check(strlen(c->argv[a]) == c->argvlen[a],
                       "arguments NUL-terminated, of their length");
        }
    }

    fuzz_check(tokenroute_report_cmd(rp, n) == NULL, "no command past n");
}


/* one reply, built from the input, or by default the usual one */

static redisReply *
make_str(int type, const char *s, size_t len)
{
    redisReply  *r;

    r = calloc(1, sizeof(redisReply));
    if (r == NULL) {
        abort();
    }

    r->type = type;
    r->str = dup(s, len);
    r->len = len;

    if (type == REDIS_REPLY_INTEGER) {
        r->integer = strtoll(r->str, NULL, 10);
        free(r->str);
        r->str = NULL;
        r->len = 0;
    }

    return r;
}


static void
free_reply(redisReply *r)
{
    size_t  i;

    if (r == NULL) {
        return;
    }

    for (i = 0; i < r->elements; i++) {
        free_reply(r->element[i]);
    }

    free(r->element);
    free(r->str);
    free(r);
}


static redisReply *
make_element(const char *s, size_t len)
{
    if (len == 1 && s[0] == '~') {
        return make_str(REDIS_REPLY_NIL, "", 0);
    }

    if (len >= 1 && s[0] == ':') {
        return make_str(REDIS_REPLY_INTEGER, s + 1, len - 1);
    }

    if (len >= 1 && s[0] == '!') {
        return make_str(REDIS_REPLY_ERROR, s + 1, len - 1);
    }

    if (len >= 1 && s[0] == '=') {
        return make_str(REDIS_REPLY_STRING, s + 1, len - 1);
    }

    return make_str(REDIS_REPLY_STRING, s, len);
}


/* *give: 0 no reply given (K) */

static redisReply *
make_reply(input_t *in, const tokenroute_report_cmd_t *c, int *give)
{
    size_t       len;
    redisReply  *r, **e;
    const char  *s;

    *give = 1;

    if (!line(in, &s, &len) || len == 0) {
        if (strcmp(c->argv[0], "HGETALL") == 0) {
            r = make_str(REDIS_REPLY_ARRAY, "", 0);

        } else if (strcmp(c->argv[0], "GET") == 0) {
            r = make_str(REDIS_REPLY_STRING,
                         "0123456789abcdef0123456789abcdef"
                         "0123456789abcdef0123456789abcdef", 64);

        } else if (strcmp(c->argv[0], "HGET") == 0) {
            r = make_str(REDIS_REPLY_NIL, "", 0);

        } else {
            r = make_str(REDIS_REPLY_INTEGER, "1", 1);
        }

        return r;
    }

    switch (s[0]) {

    case 'A':
        r = make_str(REDIS_REPLY_ARRAY, "", 0);

        while (line(in, &s, &len) && !(len == 1 && s[0] == '.')) {
            e = realloc(r->element, (r->elements + 1) * sizeof(redisReply *));
            if (e == NULL) {
                abort();
            }

            r->element = e;
            r->element[r->elements++] = make_element(s, len);
        }

        return r;

    case 'I':
        return make_str(REDIS_REPLY_INTEGER, s + 1, len - 1);

    case 'S':
        return make_str(REDIS_REPLY_STRING, s + 1, len - 1);

    case 'N':
        return make_str(REDIS_REPLY_NIL, "", 0);

    case 'E':
        return make_str(REDIS_REPLY_ERROR, s + 1, len - 1);

    case 'K':
        *give = 0;
        return NULL;

    default: /* X */
        return NULL;
    }
}


/* the code points of a line, as the table counts them */

static size_t
width(const char *s, size_t len)
{
    size_t  i, w;

    for (i = 0, w = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            w++;
        }
    }

    return w;
}


/* one RFC 4180 record from *p: its fields, with the first in first */

static size_t
csv_record(const char **p, const char *end, char *first, size_t size)
{
    size_t       n, f;
    const char  *s;

    s = *p;
    n = 0;
    f = 0;

    for ( ;; ) {
        if (s < end && *s == '"') {
            for (s++; ; s++) {
                fuzz_check(s < end, "a quoted field closed");

                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        s++;

                    } else {
                        s++;
                        break;
                    }
                }

                if (n == 0 && f + 1 < size) {
                    first[f++] = *s;
                }
            }

        } else {
            for ( /* void */ ; s < end && *s != ',' && *s != '\n'; s++) {
                fuzz_check(*s != '"' && *s != '\r',
                           "quotes and CRs only in quoted fields");

                if (n == 0 && f + 1 < size) {
                    first[f++] = *s;
                }
            }
        }

        n++;

        fuzz_check(s < end, "a record ends with a line end");

        if (*s == '\n') {
            *p = s + 1;
            first[f] = '\0';
            return n;
        }

        fuzz_check(*s == ',', "fields separated by commas");
        s++;
    }
}


static void
check_csv(tokenroute_report_t *rp, const char *t, size_t len)
{
    char         head[256], first[512], *second;
    size_t       i, n, want;
    const char  *p, *end;

    if (rp->by == TR_REPORT_BY_TENANT) {
        snprintf(head, sizeof(head), "account,tenant");

    } else {
        snprintf(head, sizeof(head), "%s%s", tokenroute_report_by[rp->by],
                 (rp->by == TR_REPORT_BY_KEY) ? ",name" : "");
    }

    strcat(head, ",requests,failed,input_tokens,output_tokens,cached_tokens,"
                 "cost_usd,estimated,unbilled_usd,clamped\n");

    fuzz_check(len >= strlen(head) && memcmp(t, head, strlen(head)) == 0,
               "the CSV header line");

    want = 10 + (rp->by == TR_REPORT_BY_KEY || rp->by == TR_REPORT_BY_TENANT);

    p = t;
    end = t + len;

    fuzz_check(csv_record(&p, end, first, sizeof(first)) == want,
               "the header's fields");

    for (i = 0; i < rp->nrows; i++) {
        n = csv_record(&p, end, first, sizeof(first));

        fuzz_check(n == want, "each record of the header's fields");

        if (rp->by == TR_REPORT_BY_TENANT) {
            /* the record's first field only: its account */
            second = strchr(rp->rows[i].group, '/');
            fuzz_check(second != NULL
                       && (size_t) (second - rp->rows[i].group)
                          == strlen(first)
                       && memcmp(first, rp->rows[i].group, strlen(first))
                          == 0, "the row's account");

        } else if (strlen(rp->rows[i].group) < sizeof(first) - 1) {
            fuzz_check(strcmp(first, rp->rows[i].group) == 0,
                       "the row's group");
        }
    }

    fuzz_check(p == end, "a record per row, no more");
}


static void
check_table(tokenroute_report_t *rp, const char *t, size_t len)
{
    size_t       n, w, first;
    const char  *p, *nl, *end;

    static const char  *groups[] = {
        "MODEL", "KEY", "ACCOUNT", "TENANT", "DAY", "HOUR"
    };

    p = t;
    end = t + len;
    n = 0;
    first = 0;

    while (p < end) {
        nl = memchr(p, '\n', end - p);
        fuzz_check(nl != NULL, "lines end with a line end");
        fuzz_check(nl > p && nl[-1] != ' ', "no trailing space");

        w = width(p, nl - p);

        if (n == 0) {
            first = w;
            fuzz_check(strncmp(p, groups[rp->by], strlen(groups[rp->by]))
                       == 0, "the header first");

        } else {
            fuzz_check(w == first, "lines of one width");
        }

        if (nl + 1 == end) {
            fuzz_check(strncmp(p, "TOTAL ", 6) == 0, "TOTAL last");
        }

        n++;
        p = nl + 1;
    }

    fuzz_check(n == rp->nrows + 2, "the header, the rows and TOTAL");
}


static void
check_json(tokenroute_report_t *rp, const char *t, size_t len)
{
    char         err[128];
    size_t       i;
    yajl_val     v, rows, total, req, g;

    static const char  *rows_path[] = { "rows", NULL };
    static const char  *total_path[] = { "total", NULL };
    static const char  *req_path[] = { "requests", NULL };
    static const char  *group_path[] = { "group", NULL };

    fuzz_check(fuzz_json_valid(t, len, 1), "JSON");

    v = yajl_tree_parse(t, err, sizeof(err));
    fuzz_check(v != NULL && YAJL_IS_OBJECT(v), "a JSON object");

    rows = yajl_tree_get(v, rows_path, yajl_t_array);
    fuzz_check(rows != NULL && rows->u.array.len == rp->nrows,
               "a row per group");

    for (i = 0; i < rp->nrows; i++) {
        g = yajl_tree_get(rows->u.array.values[i], group_path,
                          yajl_t_string);
        fuzz_check(g != NULL
                   && strcmp(YAJL_GET_STRING(g), rp->rows[i].group) == 0,
                   "the rows' groups, in order");
    }

    total = yajl_tree_get(v, total_path, yajl_t_object);
    req = yajl_tree_get(total, req_path, yajl_t_number);
    fuzz_check(req != NULL && YAJL_IS_INTEGER(req)
               && YAJL_GET_INTEGER(req) == rp->total[TR_REPORT_REQ],
               "the total's requests");

    yajl_tree_free(v);
}


static void
check_render(tokenroute_report_t *rp)
{
    int      f;
    char    *t;
    size_t   len;

    for (f = TOKENROUTE_REPORT_JSON; f <= TOKENROUTE_REPORT_CSV; f++) {
        rp->format = f;
        t = NULL;

        fuzz_check(tokenroute_report_render(rp, &t, &len) == 0,
                   "rendered");
        fuzz_check(t != NULL && t[len] == '\0' && strlen(t) == len,
                   "NUL-terminated, no NUL inside");

        if (f == TOKENROUTE_REPORT_JSON) {
            check_json(rp, t, len);

        } else if (f == TOKENROUTE_REPORT_CSV) {
            check_csv(rp, t, len);

        } else {
            check_table(rp, t, len);
        }

        free(t);
    }
}


/*
 * The aggregation restated: each field of a bucket taken or not as the
 * rules say, and the sums of each group's metrics, saturated, in the
 * fields' order, the total in the rows'.  Kept while fields are few (a
 * linear search).  A
 * group must be text: UTF-8 without controls, as tokenroute_report_text()
 * says (t/unit/report.c tests it).
 */

#define REF_MAX_FIELDS  256

typedef struct {
    char      *group;
    int64_t    m[TR_REPORT_NMETRICS];
} ref_row_t;

typedef struct {
    ref_row_t  row[REF_MAX_FIELDS];
    size_t     nrows;
    size_t     fields;
    size_t     malformed;
    int        off;       /* too many fields */
} ref_agg_t;


static const char  *ref_metrics[] = {
    "req", "in", "out", "cached", "cost", "est", "unbilled", "clamped",
    "fail", NULL
};


static int
ref_eq(const char *s, size_t len, const char *z)
{
    return z != NULL && strlen(z) == len && memcmp(s, z, len) == 0;
}


static int
ref_int(const char *s, size_t len, int64_t *v)
{
    size_t    i;
    int       neg;
    uint64_t  u;

    neg = (len > 0 && s[0] == '-');

    if (len == (size_t) neg || len - neg > 19) {
        return -1;
    }

    for (i = neg, u = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        u = u * 10 + (uint64_t) (s[i] - '0');
    }

    if (u > (uint64_t) INT64_MAX + (uint64_t) neg) {
        return -1;
    }

    *v = neg ? (int64_t) (0 - u) : (int64_t) u;

    return 0;
}


static int64_t
ref_plus(int64_t a, int64_t b)
{
    __int128  r = (__int128) a + b;

    return (r > INT64_MAX) ? INT64_MAX : (r < INT64_MIN) ? INT64_MIN
                                                         : (int64_t) r;
}


/* one field: -1 malformed, 0 skipped or counted */

static int
ref_field(ref_agg_t *ra, tokenroute_report_t *rp, const redisReply *f,
    const redisReply *v, const char *label)
{
    int           metric;
    char          group[300];
    size_t        n, i, len[6], glen;
    int64_t       value;
    const char   *part[6], *p, *end, *acct, *tenant, *key, *model, *x;
    size_t        alen, tlen, klen, mlen, xlen;

    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
        return -1;
    }

    p = f->str;
    end = f->str + f->len;
    n = 0;

    /* split on every '|' */
    for ( ;; ) {
        const char  *bar = memchr(p, '|', end - p);

        if (n == 6) {
            return -1;
        }

        part[n] = p;
        len[n] = (bar ? bar : end) - p;
        n++;

        if (bar == NULL) {
            break;
        }

        p = bar + 1;
    }

    if (n != 4 && n != 5) {
        return -1;
    }

    acct = part[0];
    alen = len[0];
    tenant = (n == 5) ? part[1] : "";
    tlen = (n == 5) ? len[1] : 0;
    key = part[n - 3];
    klen = len[n - 3];
    model = part[n - 2];
    mlen = len[n - 2];
    x = part[n - 1];
    xlen = len[n - 1];

    if (alen == 0 || klen == 0 || mlen == 0 || xlen == 0) {
        return -1;
    }

    for (metric = 0; ref_metrics[metric]; metric++) {
        if (ref_eq(x, xlen, ref_metrics[metric])) {
            break;
        }
    }

    if (ref_metrics[metric] == NULL) {
        return 0;
    }

    if (ref_int(v->str, v->len, &value) != 0) {
        return -1;
    }

    if ((rp->account && !ref_eq(acct, alen, rp->account))
        || (rp->tenant && !ref_eq(tenant, tlen, rp->tenant))
        || (rp->key && !ref_eq(key, klen, rp->key)))
    {
        return 0;
    }

    switch (rp->by) {

    case TR_REPORT_BY_KEY:
        p = key;
        glen = klen;
        break;

    case TR_REPORT_BY_ACCOUNT:
        p = acct;
        glen = alen;
        break;

    case TR_REPORT_BY_TENANT:
        if (alen + 1 + (tlen ? tlen : 1) >= 256) {
            return -1;
        }

        memcpy(group, acct, alen);
        group[alen] = '/';
        memcpy(group + alen + 1, tlen ? tenant : "-", tlen ? tlen : 1);
        p = group;
        glen = alen + 1 + (tlen ? tlen : 1);
        break;

    case TR_REPORT_BY_DAY:
    case TR_REPORT_BY_HOUR:
        /* the bucket's YYYYMMDD[HH] as YYYY-MM-DD[THH] */
        glen = (size_t) snprintf(group, sizeof(group), "%.4s-%.2s-%.2s",
                                 label, label + 4, label + 6);

        if (strlen(label) == 10) {
            glen += (size_t) snprintf(group + glen, sizeof(group) - glen,
                                      "T%.2s", label + 8);
        }

        p = group;
        break;

    default:
        p = model;
        glen = mlen;
        break;
    }

    for (i = 0; i < ra->nrows; i++) {
        if (ref_eq(p, glen, ra->row[i].group)) {
            break;
        }
    }

    if (i == ra->nrows) {
        if (!tokenroute_report_text(p, glen)) {
            return -1;
        }

        ra->row[i].group = dup(p, glen);
        memset(ra->row[i].m, 0, sizeof(ra->row[i].m));
        ra->nrows++;
    }

    ra->row[i].m[metric] = ref_plus(ra->row[i].m[metric], value);

    return 0;
}


static void
ref_bucket(ref_agg_t *ra, tokenroute_report_t *rp, const redisReply *r,
    const char *cmd)
{
    size_t  i;

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (++ra->fields > REF_MAX_FIELDS) {
            ra->off = 1;
            return;
        }

        if (ref_field(ra, rp, r->element[i], r->element[i + 1],
                      strrchr(cmd, ':') + 1) != 0)
        {
            ra->malformed++;
        }
    }
}


static void
ref_check(ref_agg_t *ra, tokenroute_report_t *rp)
{
    int      m;
    size_t   i, k;
    int64_t  total[TR_REPORT_NMETRICS];

    if (ra->off) {
        return;
    }

    fuzz_check(tokenroute_report_malformed(rp) == ra->malformed,
               "the malformed fields of the rules");
    fuzz_check(rp->nrows == ra->nrows, "the groups of the rules");

    memset(total, 0, sizeof(total));

    for (i = 0; i < ra->nrows; i++) {
        for (k = 0; k < rp->nrows; k++) {
            if (strcmp(rp->rows[k].group, ra->row[i].group) == 0) {
                break;
            }
        }

        fuzz_check(k < rp->nrows, "each group of the rules");

        for (m = 0; m < TR_REPORT_NMETRICS; m++) {
            fuzz_check(rp->rows[k].m[m] == ra->row[i].m[m],
                       "a group's sums");
        }
    }

    /* the total adds the rows up in their order, saturating */

    for (k = 0; k < rp->nrows; k++) {
        for (m = 0; m < TR_REPORT_NMETRICS; m++) {
            total[m] = ref_plus(total[m], rp->rows[k].m[m]);
        }
    }

    for (m = 0; m < TR_REPORT_NMETRICS; m++) {
        fuzz_check(rp->total[m] == total[m], "the total");
    }

    for (k = 1; k < rp->nrows; k++) {
        fuzz_check(rp->rows[k - 1].m[TR_REPORT_COST]
                   > rp->rows[k].m[TR_REPORT_COST]
                   || (rp->rows[k - 1].m[TR_REPORT_COST]
                       == rp->rows[k].m[TR_REPORT_COST]
                       && strcmp(rp->rows[k - 1].group, rp->rows[k].group)
                          < 0), "by cost, then by group");
    }
}


static void
ref_free(ref_agg_t *ra)
{
    size_t  i;

    for (i = 0; i < ra->nrows; i++) {
        free(ra->row[i].group);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, give, round, flags, known;
    char                 *name, *value;
    size_t                i, n, k, len;
    uint32_t              off;
    input_t               in;
    int64_t               now;
    const char           *s, *eq;
    redisReply           *r;
    tokenroute_report_t  *rp;

    static ref_agg_t      ra;

    if (size < 5) {
        return 0;
    }

    flags = data[0];
    off = (uint32_t) data[1] | (uint32_t) data[2] << 8
          | (uint32_t) data[3] << 16 | (uint32_t) data[4] << 24;
    now = NOW_BASE + (int64_t) (off % NOW_SPAN);

    in.p = data + 5;
    in.end = data + size;

    rp = tokenroute_report_create();
    if (rp == NULL) {
        abort();
    }

    memset(&ra, 0, sizeof(ra));

    rc = 0;

    while (line(&in, &s, &len) && len != 0) {
        eq = memchr(s, '=', len);
        name = dup(s, (eq != NULL) ? (size_t) (eq - s) : len);
        value = (eq != NULL) ? dup(eq + 1, len - (eq + 1 - s)) : dup("", 0);

        check_time(value);

        known = index_of(name, names, -1) >= 0;

        if (rc == 0) {
            rc = tokenroute_report_param(rp, name, value);
            fuzz_check(rc == (known ? 0 : -1), "the names of the query");
            fuzz_check(known || tokenroute_report_status(rp)
                                == TOKENROUTE_REPORT_BAD,
                       "an unknown name: 400");
        }

        free(name);
        free(value);
    }

    if (rc != 0 || tokenroute_report_plan(rp, now) != 0) {
        check_failed(rp);
        goto done;
    }

    check_plan(rp);

    for (round = 1; (n = tokenroute_report_ncmds(rp)) != 0; round++) {
        fuzz_check(round <= 3, "three rounds at most");

        check_cmds(rp);

        for (i = 0; i < n; i++) {
            k = (flags & 1) ? n - 1 - i : i;

            r = make_reply(&in, tokenroute_report_cmd(rp, k), &give);

            if (give) {
                rc = tokenroute_report_reply(rp, k, r);

                if (rc == 0 && round == 1
                    && strcmp(tokenroute_report_cmd(rp, k)->argv[0],
                              "HGETALL") == 0)
                {
                    ref_bucket(&ra, rp, r,
                               tokenroute_report_cmd(rp, k)->argv[1]);
                }

                fuzz_check(rc == 0 || rp->status != 0, "-1 fails it");
                fuzz_check(r != NULL
                           || rp->status == TOKENROUTE_REPORT_FAILED,
                           "no reply: 500");
            }

            /* the report keeps nothing of a reply */
            free_reply(r);

            if (rp->status != 0) {
                break;
            }
        }

        if ((flags & 2) && rp->status == 0) {
            r = make_str(REDIS_REPLY_INTEGER, "1", 1);
            fuzz_check(tokenroute_report_reply(rp, n, r) == -1
                       && rp->status == TOKENROUTE_REPORT_FAILED,
                       "a reply out of range: 500");
            fuzz_check(tokenroute_report_reply(rp, 0, r) == -1,
                       "failed stays failed");
            free_reply(r);
        }

        if (tokenroute_report_next(rp) != 0) {
            fuzz_check(rp->status != 0, "-1 fails it");
            check_failed(rp);
            goto done;
        }
    }

    fuzz_check(rp->status == 0, "complete");

    ref_check(&ra, rp);
    check_render(rp);

done:

    ref_free(&ra);
    tokenroute_report_destroy(rp);

    return 0;
}
