
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the usage report (src/tokenroute_report*.c): times and
 * months, the window and its commands, replies given in any order, the
 * 4- and 5-part usage fields, the existence checks, the rounds of key
 * names, and the three renderings, byte for byte.  Replies are built by
 * hand as hiredis would build them.  Prints TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_report.h>
#include <tokenroute_report_int.h>

#include "tap.h"


/* 2026-11-15T10:30:00Z */
#define NOW        1794738600LL
#define DAY        86400LL

#define MAXF       16


typedef struct {
    const char  *in;
    int          rc;
    int64_t      t;
    int          kind;
} time_case_t;


/* a bucket's reply: field, value pairs */
typedef struct {
    redisReply   top;
    redisReply   el[2 * MAXF];
    redisReply  *ptr[2 * MAXF];
} bucket_t;


static time_case_t  time_cases[] = {
    { "7d", 0, 7 * DAY, TR_REPORT_T_DURATION },
    { "90m", 0, 5400, TR_REPORT_T_DURATION },
    { "2w", 0, 14 * DAY, TR_REPORT_T_DURATION },
    { "30s", 0, 30, TR_REPORT_T_DURATION },
    { "0d", -1, 0, 0 },
    { "-1d", -1, 0, 0 },
    { "+1d", -1, 0, 0 },
    { "d", -1, 0, 0 },
    { "1x", -1, 0, 0 },
    { "1.5d", -1, 0, 0 },
    { "2026-11-03", 0, 1793664000LL, TR_REPORT_T_DATE },
    { "2026-11-03T10:00Z", 0, 1793700000LL, TR_REPORT_T_TIME },
    { "2026-11-03T10:00:59Z", 0, 1793700059LL, TR_REPORT_T_TIME },
    { "2024-02-29", 0, 1709164800LL, TR_REPORT_T_DATE },
    { "2026-02-29", -1, 0, 0 },
    { "2026-13-01", -1, 0, 0 },
    { "2026-00-01", -1, 0, 0 },
    { "2026-11-31", -1, 0, 0 },
    { "2026-11-3", -1, 0, 0 },
    { "2026-11-03T10:00", -1, 0, 0 },
    { "2026-11-03T24:00Z", -1, 0, 0 },
    { "2026-11-03T10:60Z", -1, 0, 0 },
    { "2026-11-03T10:00:60Z", -1, 0, 0 },
    { "2026-11-03 10:00Z", -1, 0, 0 },
    { "1969-12-31", -1, 0, 0 },
    { "", -1, 0, 0 },
};


static void
str(redisReply *r, const char *s)
{
    memset(r, 0, sizeof(redisReply));
    r->type = REDIS_REPLY_STRING;
    r->str = (char *) s;
    r->len = strlen(s);
}


static void
integer(redisReply *r, long long n)
{
    memset(r, 0, sizeof(redisReply));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = n;
}


/* fields: NULL-terminated list "field", "value", ... */

static redisReply *
bucket(bucket_t *b, const char **fields)
{
    size_t  n;

    memset(b, 0, sizeof(bucket_t));

    for (n = 0; fields != NULL && fields[n] != NULL && n < 2 * MAXF; n++) {
        str(&b->el[n], fields[n]);
        b->ptr[n] = &b->el[n];
    }

    b->top.type = REDIS_REPLY_ARRAY;
    b->top.elements = n;
    b->top.element = b->ptr;

    return &b->top;
}


static int
cmd_is(tokenroute_report_t *rp, size_t i, const char *a0, const char *a1,
    const char *a2)
{
    const tokenroute_report_cmd_t  *c;

    c = tokenroute_report_cmd(rp, i);

    return c != NULL
           && c->argc == ((a2 != NULL) ? 3 : 2)
           && strcmp(c->argv[0], a0) == 0 && c->argvlen[0] == strlen(a0)
           && strcmp(c->argv[1], a1) == 0 && c->argvlen[1] == strlen(a1)
           && (a2 == NULL
               || (strcmp(c->argv[2], a2) == 0
                   && c->argvlen[2] == strlen(a2)));
}


/* a report of params (name, value pairs, NULL-terminated), planned */

static tokenroute_report_t *
report(const char **params, int64_t now)
{
    size_t                i;
    tokenroute_report_t  *rp;

    rp = tokenroute_report_create();
    if (rp == NULL) {
        exit(2);
    }

    for (i = 0; params[i] != NULL; i += 2) {
        if (tokenroute_report_param(rp, params[i], params[i + 1]) != 0) {
            return rp;
        }
    }

    tokenroute_report_plan(rp, now);

    return rp;
}


static char *
render(tokenroute_report_t *rp)
{
    char    *text;
    size_t   len;

    if (tokenroute_report_render(rp, &text, &len) != 0) {
        return NULL;
    }

    if (strlen(text) != len) {
        free(text);
        return NULL;
    }

    return text;
}


static const char  *day0[] = {
    "acme|key_0000000000000001|m1|req", "2",
    "acme|key_0000000000000001|m1|cost", "1500000000",
    "acme||key_0000000000000001|m1|req", "1",
    "acme|t1|key_0000000000000002|m2|req", "3",
    "acme|t1|key_0000000000000002|m2|fail", "2",
    "acme|t1|key_0000000000000002|m2|cost", "7",
    "beta|t1|key_0000000000000003|m1|in", "10",
    "beta|t1|key_0000000000000003|m1|req", "1",
    "garbage", "1",
    "a|b|c|d|e|f", "1",
    "acme|key_0000000000000001|m1|req", "many",
    "acme|key_0000000000000001|m1|future", "5",
    "|key_0000000000000001|m1|req", "1",
    NULL
};

static const char  *day1[] = {
    "acme|t1|key_0000000000000002|m1|cost", "12345678901234",
    "acme|t1|key_0000000000000002|m1|req", "4",
    "acme|t1|key_0000000000000002|m1|unbilled", "9",
    NULL
};


int
main(void)
{
    int                   kind;
    char                 *text, buf[32];
    size_t                i, n;
    int64_t               t, start, end;
    bucket_t              b0, b1, be;
    redisReply            one, zero, r, hash, name;
    tokenroute_report_t  *rp;

    /* times */

    for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        t = 0;
        kind = -1;

        n = (size_t) tokenroute_report_parse_time(time_cases[i].in, &t,
                                                  &kind);

        ok((int) n == time_cases[i].rc
           && (time_cases[i].rc != 0
               || (t == time_cases[i].t && kind == time_cases[i].kind)),
           "time \"%s\": %d, %lld, kind %d", time_cases[i].in, (int) n,
           (long long) t, kind);
    }

    ok(tokenroute_report_parse_month("2026-11", &start, &end) == 0
       && start == 1793491200LL && end == 1796083200LL,
       "month 2026-11: the 1st to December the 1st");
    ok(tokenroute_report_parse_month("2026-12", &start, &end) == 0
       && start == 1796083200LL && end == 1798761600LL,
       "month 2026-12: to the next year");
    ok(tokenroute_report_parse_month("2026-13", &start, &end) == -1
       && tokenroute_report_parse_month("2026-1", &start, &end) == -1
       && tokenroute_report_parse_month("2026-11-01", &start, &end) == -1,
       "bad months");

    ok(tokenroute_report_fixed(0, buf, sizeof(buf)) == 11
       && strcmp(buf, "0.000000000") == 0, "fixed 0");
    tokenroute_report_fixed(12345678901234LL, buf, sizeof(buf));
    ok(strcmp(buf, "12345.678901234") == 0, "fixed 12345.678901234");

    /* parameters */

    rp = tokenroute_report_create();
    ok(rp != NULL && tokenroute_report_param(rp, "sinse", "1d") == -1
       && tokenroute_report_status(rp) == TOKENROUTE_REPORT_BAD
       && strstr(tokenroute_report_error(rp), "sinse") != NULL,
       "an unknown parameter: 400");
    tokenroute_report_destroy(rp);

    {
        static const char  *bad[][5] = {
            { "by", "week", NULL },
            { "format", "xml", NULL },
            { "tenant", "t1", NULL },
            { "account", "a b", NULL },
            { "account", "a", "tenant", "a|b", NULL },
            { "key", "a|b", NULL },
            { "since", "1d", "until", "2d", NULL },
            { "since", "401d", NULL },
            { "since", "9d", "by", "hour", NULL },
            { "month", "2026-11", "since", "1d", NULL },
            { "month", "2025-01", NULL },
            { "month", "2026-12", NULL },
            { "since", "2026-11-16", NULL },
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            rp = report(bad[i], NOW);
            ok(tokenroute_report_status(rp) == TOKENROUTE_REPORT_BAD
               && tokenroute_report_ncmds(rp) == 0,
               "bad: %s %s %s %s: 400, %s", bad[i][0], bad[i][1],
               bad[i][2] ? bad[i][2] : "", bad[i][3] ? bad[i][3] : "",
               tokenroute_report_error(rp));
            tokenroute_report_destroy(rp);
        }
    }

    /* a raw key for --key: refused unread, never sent to Redis nor shown */

    {
        static const char  *raw[] = {
            "key", "sk-tr-T_LJR946CkBoTn5aiaxu_F_bt0HzEjqraU4Lbao8Lnk", NULL
        };

        rp = report(raw, NOW);
        ok(tokenroute_report_status(rp) == TOKENROUTE_REPORT_BAD
           && tokenroute_report_ncmds(rp) == 0
           && strstr(tokenroute_report_error(rp), "T_LJR946") == NULL,
           "a raw key as --key: 400, not echoed: %s",
           tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);
    }

    /* windows: the commands */

    {
        static const char  *p1[] = { NULL };
        static const char  *p2[] = { "since", "24h", NULL };
        static const char  *p3[] = { "since", "2026-11-14T09:30Z",
                                     "until", "2026-11-14T11:30Z", NULL };
        static const char  *p4[] = { "since", "2026-11-03",
                                     "until", "2026-11-04", NULL };
        static const char  *p5[] = { "month", "2026-11", NULL };
        static const char  *p6[] = { "since", "2026-11-01T10:00Z",
                                     "until", "2026-11-01T12:00Z", NULL };

        rp = report(p1, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 7 && cmd_is(rp, 0, "HGETALL", "tr:u:d:20261109", NULL)
           && cmd_is(rp, 6, "HGETALL", "tr:u:d:20261115", NULL),
           "default: 7 days, oldest first (%zu)", n);
        tokenroute_report_destroy(rp);

        rp = report(p2, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 24 && cmd_is(rp, 0, "HGETALL", "tr:u:h:2026111411", NULL)
           && cmd_is(rp, 23, "HGETALL", "tr:u:h:2026111510", NULL),
           "24h: this hour and the 23 before (%zu)", n);
        tokenroute_report_destroy(rp);

        rp = report(p3, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 3 && cmd_is(rp, 0, "HGETALL", "tr:u:h:2026111409", NULL)
           && cmd_is(rp, 2, "HGETALL", "tr:u:h:2026111411", NULL),
           "09:30 to 11:30: hours 9, 10 and 11 (%zu)", n);
        tokenroute_report_destroy(rp);

        rp = report(p4, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 2 && cmd_is(rp, 0, "HGETALL", "tr:u:d:20261103", NULL)
           && cmd_is(rp, 1, "HGETALL", "tr:u:d:20261104", NULL),
           "dates: both days in (%zu)", n);
        tokenroute_report_destroy(rp);

        rp = report(p5, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 15 && cmd_is(rp, 0, "HGETALL", "tr:u:d:20261101", NULL)
           && cmd_is(rp, 14, "HGETALL", "tr:u:d:20261115", NULL),
           "this month: up to today (%zu)", n);
        tokenroute_report_destroy(rp);

        rp = report(p6, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 1 && cmd_is(rp, 0, "HGETALL", "tr:u:d:20261101", NULL),
           "2 hours 14 days ago: their day (%zu)", n);
        tokenroute_report_destroy(rp);
    }

    /* existence checks first, then the buckets */

    {
        static const char  *p[] = { "account", "acme", "tenant", "t1",
                                    "key", "key_0000000000000002",
                                    "since", "2d", NULL };

        rp = report(p, NOW);
        n = tokenroute_report_ncmds(rp);
        ok(n == 7
           && cmd_is(rp, 0, "SISMEMBER", "tr:accts", "acme")
           && cmd_is(rp, 1, "EXISTS", "tr:acct:acme", NULL)
           && cmd_is(rp, 2, "EXISTS", "tr:keyid:key_0000000000000002", NULL)
           && cmd_is(rp, 3, "SISMEMBER", "tr:tenants:acme", "t1")
           && cmd_is(rp, 4, "EXISTS", "tr:tenant:acme|t1", NULL)
           && cmd_is(rp, 5, "HGETALL", "tr:u:d:20261114", NULL),
           "filters: the existence checks (%zu commands)", n);

        integer(&one, 1);
        integer(&zero, 0);

        /* in any order: the buckets first, backwards */
        ok(tokenroute_report_reply(rp, 6, bucket(&b0, day0)) == 0
           && tokenroute_report_reply(rp, 5, bucket(&b1, day1)) == 0
           && tokenroute_report_reply(rp, 4, &zero) == 0
           && tokenroute_report_reply(rp, 3, &zero) == 0
           && tokenroute_report_reply(rp, 2, &zero) == 0
           && tokenroute_report_reply(rp, 1, &zero) == 0
           && tokenroute_report_reply(rp, 0, &one) == 0
           && tokenroute_report_next(rp) == 0
           && tokenroute_report_ncmds(rp) == 0,
           "replies backwards; names known from the usage");

        text = render(rp);
        ok(text != NULL && strcmp(text,
           "{\"since\":1794614400,\"until\":1794738600,\"by\":\"model\","
           "\"bucket\":\"day\",\"rows\":[{\"group\":\"m1\",\"requests\":4,"
           "\"failed\":0,\"input_tokens\":0,\"output_tokens\":0,"
           "\"cached_tokens\":0,\"cost_usd\":\"12345.678901234\","
           "\"cost_nusd\":12345678901234,\"estimated\":0,"
           "\"unbilled_usd\":\"0.000000009\",\"unbilled_nusd\":9,"
           "\"clamped\":0},{\"group\":\"m2\",\"requests\":3,\"failed\":2,"
           "\"input_tokens\":0,\"output_tokens\":0,\"cached_tokens\":0,"
           "\"cost_usd\":\"0.000000007\",\"cost_nusd\":7,\"estimated\":0,"
           "\"unbilled_usd\":\"0.00\",\"unbilled_nusd\":0,\"clamped\":0}],"
           "\"total\":{\"requests\":7,\"failed\":2,\"input_tokens\":0,"
           "\"output_tokens\":0,\"cached_tokens\":0,"
           "\"cost_usd\":\"12345.678901241\",\"cost_nusd\":12345678901241,"
           "\"estimated\":0,\"unbilled_usd\":\"0.000000009\","
           "\"unbilled_nusd\":9,\"clamped\":0}}\n") == 0,
           "filtered JSON, exact:\n%s", text ? text : "(null)");
        free(text);

        ok(tokenroute_report_malformed(rp) == 4, "malformed fields: %zu",
           tokenroute_report_malformed(rp));
        tokenroute_report_destroy(rp);
    }

    /* not found */

    {
        static const char  *pa[] = { "account", "nobody", NULL };
        static const char  *pt[] = { "account", "acme", "tenant", "t9",
                                     NULL };
        static const char  *pk[] = { "key", "key_000000000000dead", NULL };

        integer(&zero, 0);

        rp = report(pa, NOW);
        for (i = 0; i < tokenroute_report_ncmds(rp); i++) {
            tokenroute_report_reply(rp, i, (i < 2) ? &zero
                                           : bucket(&b0, day0));
        }
        ok(tokenroute_report_next(rp) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_NOT_FOUND
           && strcmp(tokenroute_report_error(rp), "no account nobody") == 0,
           "no account: 404, %s", tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);

        rp = report(pt, NOW);
        for (i = 0; i < tokenroute_report_ncmds(rp); i++) {
            tokenroute_report_reply(rp, i, (i < 4) ? ((i == 0) ? &one : &zero)
                                           : bucket(&b0, day0));
        }
        ok(tokenroute_report_next(rp) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_NOT_FOUND
           && strstr(tokenroute_report_error(rp), "no tenant t9") != NULL,
           "no tenant: 404, %s", tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);

        rp = report(pk, NOW);
        for (i = 0; i < tokenroute_report_ncmds(rp); i++) {
            tokenroute_report_reply(rp, i, (i < 1) ? &zero
                                           : bucket(&b0, day0));
        }
        ok(tokenroute_report_next(rp) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_NOT_FOUND,
           "no key: 404, %s", tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);
    }

    /* by tenant, as a table and as CSV */

    {
        static const char  *pt[] = { "by", "tenant", "since", "1d",
                                     "format", "table", NULL };
        static const char  *pc[] = { "by", "tenant", "since", "1d",
                                     "format", "csv", NULL };

        for (kind = 0; kind < 2; kind++) {
            rp = report(kind ? pc : pt, NOW);
            n = tokenroute_report_ncmds(rp);

            for (i = 0; i < n; i++) {
                tokenroute_report_reply(rp, i, bucket(&be,
                    (i == n - 1) ? day0 : (i == n - 2) ? day1 : NULL));
            }

            ok(n == 24 && tokenroute_report_next(rp) == 0,
               "by tenant: 24 hours read");

            text = render(rp);

            if (kind == 0) {
                ok(text != NULL && strcmp(text,
                   "TENANT   REQUESTS  FAILED  INPUT  OUTPUT  CACHED"
                   "             COST  ESTIMATED     UNBILLED  CLAMPED\n"
                   "acme/t1         7       2      0       0       0"
                   "  12345.678901241          0  0.000000009        0\n"
                   "acme/-          3       0      0       0       0"
                   "      1.500000000          0  0.000000000        0\n"
                   "beta/t1         1       0     10       0       0"
                   "      0.000000000          0  0.000000000        0\n"
                   "TOTAL          11       2     10       0       0"
                   "  12347.178901241          0  0.000000009        0\n")
                   == 0, "table, exact:\n%s", text ? text : "(null)");

            } else {
                ok(text != NULL && strcmp(text,
                   "account,tenant,requests,failed,input_tokens,"
                   "output_tokens,cached_tokens,cost_usd,estimated,"
                   "unbilled_usd,clamped\n"
                   "acme,t1,7,2,0,0,0,12345.678901241,0,0.000000009,0\n"
                   "acme,,3,0,0,0,0,1.500000000,0,0.000000000,0\n"
                   "beta,t1,1,0,10,0,0,0.000000000,0,0.000000000,0\n")
                   == 0, "csv, exact:\n%s", text ? text : "(null)");
            }

            free(text);
            tokenroute_report_destroy(rp);
        }
    }

    /* by key: two more rounds for the names; JSON and CSV quoting */

    {
        static const char  *pj[] = { "by", "key", "since", "1d",
                                     "format", "csv", NULL };
        static const char  *one_day[] = {
            "acme|key_0000000000000001|m1|cost", "5",
            "acme|key_0000000000000002|m1|cost", "4",
            NULL
        };

        rp = report(pj, NOW);
        n = tokenroute_report_ncmds(rp);

        for (i = 0; i < n; i++) {
            tokenroute_report_reply(rp, i, bucket(&be,
                                    (i == n - 1) ? one_day : NULL));
        }

        ok(tokenroute_report_next(rp) == 0
           && tokenroute_report_ncmds(rp) == 2
           && cmd_is(rp, 0, "GET", "tr:keyid:key_0000000000000001", NULL)
           && cmd_is(rp, 1, "GET", "tr:keyid:key_0000000000000002", NULL),
           "by key: round 2, each key's hash");

        memset(&r, 0, sizeof(redisReply));
        r.type = REDIS_REPLY_NIL;
        str(&hash, "0123456789abcdef0123456789abcdef"
                   "0123456789abcdef0123456789abcdef");

        ok(tokenroute_report_reply(rp, 1, &r) == 0
           && tokenroute_report_reply(rp, 0, &hash) == 0
           && tokenroute_report_next(rp) == 0
           && tokenroute_report_ncmds(rp) == 1
           && cmd_is(rp, 0, "HGET", "tr:key:0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef", "name"),
           "by key: round 3, the names of the keys that exist");

        str(&name, "ops, \"main\"");

        ok(tokenroute_report_reply(rp, 0, &name) == 0
           && tokenroute_report_next(rp) == 0
           && tokenroute_report_ncmds(rp) == 0, "by key: done");

        text = render(rp);
        ok(text != NULL && strcmp(text,
           "key,name,requests,failed,input_tokens,output_tokens,"
           "cached_tokens,cost_usd,estimated,unbilled_usd,clamped\n"
           "key_0000000000000001,\"ops, \"\"main\"\"\",0,0,0,0,0,"
           "0.000000005,0,0.000000000,0\n"
           "key_0000000000000002,,0,0,0,0,0,0.000000004,0,0.000000000,0\n")
           == 0, "by key csv, exact:\n%s", text ? text : "(null)");
        free(text);
        tokenroute_report_destroy(rp);
    }

    /*
     * by tenant, CSV: an account read from Redis is quoted like any cell
     * (a usage field written by hand may hold a comma or a quote)
     */

    {
        static const char  *pc[] = { "by", "tenant", "since", "1d",
                                     "format", "csv", NULL };
        static const char  *odd[] = {
            "ac,\"me|t,1|key_0000000000000001|m1|req", "1",
            NULL
        };

        rp = report(pc, NOW);
        n = tokenroute_report_ncmds(rp);

        for (i = 0; i < n; i++) {
            tokenroute_report_reply(rp, i, bucket(&be,
                                    (i == n - 1) ? odd : NULL));
        }

        ok(tokenroute_report_next(rp) == 0, "by tenant: an odd account");

        text = render(rp);
        ok(text != NULL && strcmp(text,
           "account,tenant,requests,failed,input_tokens,output_tokens,"
           "cached_tokens,cost_usd,estimated,unbilled_usd,clamped\n"
           "\"ac,\"\"me\",\"t,1\",1,0,0,0,0,0.000000000,0,0.000000000,0\n")
           == 0, "csv: the account quoted:\n%s", text ? text : "(null)");
        free(text);
        tokenroute_report_destroy(rp);
    }

    /* failures */

    {
        static const char  *p[] = { "since", "2d", NULL };

        rp = report(p, NOW);
        memset(&r, 0, sizeof(redisReply));
        r.type = REDIS_REPLY_ERROR;
        r.str = "WRONGTYPE Operation against a key";
        r.len = strlen(r.str);

        ok(tokenroute_report_reply(rp, 1, &r) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_FAILED
           && strstr(tokenroute_report_error(rp), "WRONGTYPE") != NULL
           && tokenroute_report_next(rp) == -1
           && tokenroute_report_ncmds(rp) == 0,
           "an error reply: 500, %s", tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);

        rp = report(p, NOW);
        ok(tokenroute_report_reply(rp, 0, bucket(&be, NULL)) == 0
           && tokenroute_report_next(rp) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_FAILED,
           "a missing reply: 500, %s", tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);

        rp = report(p, NOW);
        integer(&one, 1);
        ok(tokenroute_report_reply(rp, 0, &one) == -1
           && tokenroute_report_reply(rp, 5, bucket(&be, NULL)) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_FAILED,
           "a reply of the wrong type: 500, %s",
           tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);

        rp = report(p, NOW);
        ok(tokenroute_report_reply(rp, 0, bucket(&be, NULL)) == 0
           && tokenroute_report_reply(rp, 0, bucket(&be, NULL)) == -1
           && tokenroute_report_next(rp) == -1
           && tokenroute_report_status(rp) == TOKENROUTE_REPORT_FAILED,
           "a reply given twice: 500, %s", tokenroute_report_error(rp));
        tokenroute_report_destroy(rp);

        rp = report(p, NOW);
        ok(tokenroute_report_reply(rp, 0, NULL) == -1,
           "no reply (connection lost): -1");
        tokenroute_report_destroy(rp);
    }

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
