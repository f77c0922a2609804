
/*
 * Copyright (C) tokenroute authors
 *
 * The usage report's query (tokenroute_report_query()): the grouping, the
 * format, the names of the filters checked, and the window fixed as whole
 * UTC days or hours.
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_key.h"
#include "tokenroute_report_int.h"


/* the gateway keeps tr:u:d:* 400 days and tr:u:h:* 8 days */
#define TR_REPORT_DAYS_MAX     400
#define TR_REPORT_HOURS_MAX    (8 * 24)

/* from this span on, days are read rather than hours */
#define TR_REPORT_DAILY_FROM   (48 * 3600)

#define TR_REPORT_SINCE        "7d"

/* the longest --key: ids are key_ and 16 hex digits, leave room */
#define TR_REPORT_KEY_MAX      128
#define TR_REPORT_ACCOUNT_MAX  128
#define TR_REPORT_TENANT_MAX   64


static int tr_report_check(tokenroute_report_t *rp);
static int tr_report_name(const char *s, size_t max, const char *extra);
static int tr_report_window(tokenroute_report_t *rp);


static const char  *tr_report_formats[] = { "json", "table", "csv", NULL };


int
tokenroute_report_query(tokenroute_report_t *rp)
{
    if (tr_report_check(rp) != 0) {
        return -1;
    }

    return tr_report_window(rp);
}


/* the parameters but the window's */

static int
tr_report_check(tokenroute_report_t *rp)
{
    size_t       i;
    const char  *v;

    v = rp->param[TR_REPORT_P_BY];

    if (v != NULL) {
        for (i = 0; tokenroute_report_by[i] != NULL; i++) {
            if (strcmp(v, tokenroute_report_by[i]) == 0) {
                break;
            }
        }

        if (tokenroute_report_by[i] == NULL) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                       "bad --by '%s': expected model, key, account, "
                       "tenant, day or hour", v);
        }

        rp->by = (int) i;
    }

    v = rp->param[TR_REPORT_P_FORMAT];

    if (v != NULL) {
        for (i = 0; tr_report_formats[i] != NULL; i++) {
            if (strcmp(v, tr_report_formats[i]) == 0) {
                break;
            }
        }

        if (tr_report_formats[i] == NULL) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                       "bad --format '%s': expected table, json or csv", v);
        }

        rp->format = (int) i;
    }

    rp->account = rp->param[TR_REPORT_P_ACCOUNT];
    rp->key = rp->param[TR_REPORT_P_KEY];
    rp->tenant = rp->param[TR_REPORT_P_TENANT];

    if (rp->account != NULL
        && !tr_report_name(rp->account, TR_REPORT_ACCOUNT_MAX, "._:@-"))
    {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "bad --account '%s': expected 1-128 of A-Z a-z 0-9 "
                   ". _ : @ -", rp->account);
    }

    /* a raw key: not sent to Redis, not shown back (ids are key_...) */

    if (rp->key != NULL
        && strncmp(rp->key, TOKENROUTE_KEY_PREFIX,
                   sizeof(TOKENROUTE_KEY_PREFIX) - 1) == 0)
    {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "bad --key: a raw key; give its id (key_...), which "
                   "\"tokenroute keys show\" prints");
    }

    if (rp->key != NULL && !tr_report_name(rp->key, TR_REPORT_KEY_MAX, NULL))
    {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "bad --key '%s': expected a key id like "
                   "key_0123456789abcdef", rp->key);
    }

    if (rp->tenant != NULL) {
        if (!tr_report_name(rp->tenant, TR_REPORT_TENANT_MAX, "._@-")) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                       "bad --tenant '%s': expected 1-64 of A-Z a-z 0-9 "
                       ". _ @ -", rp->tenant);
        }

        if (rp->account == NULL) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                       "--tenant needs --account: tenant names are the "
                       "account's own");
        }
    }

    return 0;
}


/*
 * 1 to max bytes; with extra, of letters, digits and extra; without,
 * printable ASCII but '|', the separator of usage fields.
 */

static int
tr_report_name(const char *s, size_t max, const char *extra)
{
    size_t  i, len;

    len = strlen(s);

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (extra == NULL) {
            if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '|') {
                return 0;
            }

            continue;
        }

        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i]) != NULL))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The buckets: days or hours, from first to the current one at most.  A
 * duration since covers the current bucket and those before it, as many
 * as it spans (the report of old); a date or time since starts at the
 * bucket holding it.  until is an end, not included: a date until is its
 * day's end (the day is in), a time until rounds up to its bucket's end.
 */

static int
tr_report_window(tokenroute_report_t *rp)
{
    int          skind, ukind;
    int64_t      since, until, end, span, step, cur, first, last;
    const char  *s, *u, *m;

    s = rp->param[TR_REPORT_P_SINCE];
    u = rp->param[TR_REPORT_P_UNTIL];
    m = rp->param[TR_REPORT_P_MONTH];

    if (m != NULL && (s != NULL || u != NULL)) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "--month excludes --since and --until");
    }

    since = 0;
    end = rp->now;
    skind = TR_REPORT_T_DURATION;
    ukind = -1;

    if (m != NULL) {
        if (tokenroute_report_parse_month(m, &since, &end) != 0) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                       "bad --month '%s': expected YYYY-MM (2026-11)", m);
        }

        skind = TR_REPORT_T_DATE;
        ukind = TR_REPORT_T_DATE;

    } else {
        if (s == NULL) {
            s = TR_REPORT_SINCE;
        }

        if (tokenroute_report_parse_time(s, &since, &skind) != 0) {
            return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                       "bad --since '%s': expected a duration (24h, 7d: "
                       "a positive number and s, m, h, d or w), a date "
                       "(2026-11-03) or a UTC time (2026-11-03T10:00Z)", s);
        }

        if (u != NULL) {
            if (tokenroute_report_parse_time(u, &until, &ukind) != 0) {
                return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                           "bad --until '%s': expected a duration, a date "
                           "or a UTC time, like --since", u);
            }

            end = (ukind == TR_REPORT_T_DURATION) ? rp->now - until
                  : (ukind == TR_REPORT_T_DATE) ? until + TR_REPORT_DAY
                  : until;
        }
    }

    /* the span picks days or hours when --by does not */

    span = (skind == TR_REPORT_T_DURATION) ? since : end - since;

    if (rp->by == TR_REPORT_BY_HOUR) {
        step = TR_REPORT_HOUR;

    } else if (rp->by == TR_REPORT_BY_DAY || m != NULL
               || span >= TR_REPORT_DAILY_FROM)
    {
        step = TR_REPORT_DAY;

    } else {
        step = TR_REPORT_HOUR;
    }

    for ( ;; ) {
        cur = rp->now - rp->now % step;

        if (skind == TR_REPORT_T_DURATION) {
            first = cur - ((since + step - 1) / step - 1) * step;

        } else {
            first = since - since % step;
        }

        /* the default end is now, whose bucket is in */
        last = (ukind == -1) ? cur : (end - 1) - (end - 1) % step;

        if (last > cur) {
            last = cur;
        }

        /* hours gone from Redis: days, unless --by hour */
        if (step == TR_REPORT_HOUR && rp->by != TR_REPORT_BY_HOUR
            && skind != TR_REPORT_T_DURATION
            && first <= cur - TR_REPORT_HOURS_MAX * TR_REPORT_HOUR)
        {
            step = TR_REPORT_DAY;
            continue;
        }

        break;
    }

    if (last < first) {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "bad --%s: the window is empty (it ends before it "
                   "starts, or starts in the future)",
                   (m != NULL) ? "month" : (u != NULL) ? "since/--until"
                                                       : "since");
    }

    if (step == TR_REPORT_DAY
        && first <= cur - TR_REPORT_DAYS_MAX * TR_REPORT_DAY)
    {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "bad --%s '%s': usage is kept %d days",
                   (m != NULL) ? "month" : "since", (m != NULL) ? m : s,
                   TR_REPORT_DAYS_MAX);
    }

    if (step == TR_REPORT_HOUR
        && first <= cur - TR_REPORT_HOURS_MAX * TR_REPORT_HOUR)
    {
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_BAD,
                   "bad --since '%s': hourly usage is kept %d days, "
                   "--by hour covers at most %dd", s,
                   TR_REPORT_HOURS_MAX / 24, TR_REPORT_HOURS_MAX / 24);
    }

    rp->step = step;
    rp->first = first;
    rp->nbuckets = (size_t) ((last - first) / step + 1);
    rp->since = first;
    rp->until = (last + step < rp->now) ? last + step : rp->now;

    return 0;
}
