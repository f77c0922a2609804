
/*
 * Copyright (C) tokenroute authors
 *
 * The times of the usage report's window: durations back from now (7d),
 * UTC dates (2026-11-03) and times (2026-11-03T10:00Z,
 * 2026-11-03T10:00:00Z), months (2026-11).  No time zones but UTC: the
 * buckets the gateway writes are UTC days and hours.
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_report_int.h"


/* a duration's number: at most 400 days of seconds, and then some */
#define TR_REPORT_NUMBER_MAX   1000000000LL


static int tr_report_digits(const char *s, size_t n, int64_t *v);
static int64_t tr_report_days(int64_t y, int64_t m, int64_t d);
static int tr_report_mdays(int64_t y, int64_t m);


/*
 * A duration ("90m": a positive number and one of s m h d w) is *kind
 * TR_REPORT_T_DURATION and *t its seconds; a date or a time is the unix
 * time it names.  Returns 0 or -1.
 */

int
tokenroute_report_parse_time(const char *s, int64_t *t, int *kind)
{
    size_t   len;
    int64_t  n, unit, y, mo, d, h, mi, sec;

    len = strlen(s);

    if (len >= 2 && s[0] != '-' && s[0] != '+' && s[len - 1] >= 'a') {

        switch (s[len - 1]) {

        case 's':
            unit = 1;
            break;

        case 'm':
            unit = 60;
            break;

        case 'h':
            unit = TR_REPORT_HOUR;
            break;

        case 'd':
            unit = TR_REPORT_DAY;
            break;

        case 'w':
            unit = 7 * TR_REPORT_DAY;
            break;

        default:
            return -1;
        }

        if (tr_report_digits(s, len - 1, &n) != 0 || n == 0) {
            return -1;
        }

        *t = n * unit;
        *kind = TR_REPORT_T_DURATION;
        return 0;
    }

    /* YYYY-MM-DD, then THH:MMZ or THH:MM:SSZ */

    if (len < 10 || s[4] != '-' || s[7] != '-'
        || tr_report_digits(s, 4, &y) != 0
        || tr_report_digits(s + 5, 2, &mo) != 0
        || tr_report_digits(s + 8, 2, &d) != 0
        || y < 1970 || mo < 1 || mo > 12 || d < 1
        || d > tr_report_mdays(y, mo))
    {
        return -1;
    }

    h = 0;
    mi = 0;
    sec = 0;

    if (len == 10) {
        *kind = TR_REPORT_T_DATE;

    } else if ((len == 17 || len == 20)
               && s[10] == 'T' && s[13] == ':' && s[len - 1] == 'Z'
               && tr_report_digits(s + 11, 2, &h) == 0
               && tr_report_digits(s + 14, 2, &mi) == 0
               && (len == 17
                   || (s[16] == ':'
                       && tr_report_digits(s + 17, 2, &sec) == 0))
               && h < 24 && mi < 60 && sec < 60)
    {
        *kind = TR_REPORT_T_TIME;

    } else {
        return -1;
    }

    *t = tr_report_days(y, mo, d) * TR_REPORT_DAY + h * 3600 + mi * 60 + sec;

    return 0;
}


/* "2026-11": the start of the month and of the next one */

int
tokenroute_report_parse_month(const char *s, int64_t *start, int64_t *end)
{
    int64_t  y, m;

    if (strlen(s) != 7 || s[4] != '-'
        || tr_report_digits(s, 4, &y) != 0
        || tr_report_digits(s + 5, 2, &m) != 0
        || y < 1970 || m < 1 || m > 12)
    {
        return -1;
    }

    *start = tr_report_days(y, m, 1) * TR_REPORT_DAY;
    *end = (m == 12) ? tr_report_days(y + 1, 1, 1) * TR_REPORT_DAY
                     : tr_report_days(y, m + 1, 1) * TR_REPORT_DAY;

    return 0;
}


/* n decimal digits, no sign; at most TR_REPORT_NUMBER_MAX */

static int
tr_report_digits(const char *s, size_t n, int64_t *v)
{
    size_t  i;

    if (n == 0 || n > 10) {
        return -1;
    }

    *v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        *v = *v * 10 + (s[i] - '0');
    }

    return (*v <= TR_REPORT_NUMBER_MAX) ? 0 : -1;
}


/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's) */

static int64_t
tr_report_days(int64_t y, int64_t m, int64_t d)
{
    int64_t  era, yoe, doy, doe;

    y -= (m <= 2);
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int
tr_report_mdays(int64_t y, int64_t m)
{
    static const int  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        return 29;
    }

    return days[m - 1];
}
