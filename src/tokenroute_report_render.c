
/*
 * Copyright (C) tokenroute authors
 *
 * The usage report rendered: JSON (the admin API's body and the CLI's
 * --json), a text table with a TOTAL row, numbers right-aligned and costs
 * with 9 decimals (aligned on the point), or CSV with a header line.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_json_out.h>
#include <tokenroute_money.h>

#include "tokenroute_report_int.h"


/* the most columns: by key adds NAME, by tenant splits in CSV */
#define TR_REPORT_COLS         11

/* the metric columns, after the group's (and the name's) */
#define TR_REPORT_MCOLS        9

#define TR_REPORT_CELL_LEN     32

#define TR_REPORT_GAP          2


typedef struct {
    const char              *cell[TR_REPORT_COLS];
    char                     buf[TR_REPORT_MCOLS][TR_REPORT_CELL_LEN];
    size_t                   n;
} tr_report_line_t;


static void tr_report_json(tokenroute_report_t *rp, tokenroute_json_buf_t *b);
static void tr_report_json_metrics(tokenroute_json_buf_t *b, int64_t *m);
static void tr_report_table(tokenroute_report_t *rp,
    tokenroute_json_buf_t *b);
static void tr_report_csv(tokenroute_report_t *rp, tokenroute_json_buf_t *b);
static void tr_report_csv_cell(tokenroute_json_buf_t *b, const char *s,
    size_t len);
static void tr_report_line(tokenroute_report_t *rp, tr_report_line_t *l,
    size_t i);
static size_t tr_report_width(const char *s);
static void tr_report_spaces(tokenroute_json_buf_t *b, size_t n);


/* the metric columns in the table and CSV, and their metrics */
static const int  tr_report_order[TR_REPORT_MCOLS] = {
    TR_REPORT_REQ, TR_REPORT_FAIL, TR_REPORT_IN, TR_REPORT_OUT,
    TR_REPORT_CACHED, TR_REPORT_COST, TR_REPORT_EST, TR_REPORT_UNBILLED,
    TR_REPORT_CLAMPED
};

static const char  *tr_report_headers[TR_REPORT_MCOLS] = {
    "REQUESTS", "FAILED", "INPUT", "OUTPUT", "CACHED", "COST", "ESTIMATED",
    "UNBILLED", "CLAMPED"
};

static const char  *tr_report_csv_headers[TR_REPORT_MCOLS] = {
    "requests", "failed", "input_tokens", "output_tokens", "cached_tokens",
    "cost_usd", "estimated", "unbilled_usd", "clamped"
};

static const char  *tr_report_groups[] = {
    "MODEL", "KEY", "ACCOUNT", "TENANT", "DAY", "HOUR"
};


int
tokenroute_report_render(tokenroute_report_t *rp, char **text, size_t *len)
{
    tokenroute_json_buf_t  b;

    memset(&b, 0, sizeof(tokenroute_json_buf_t));

    switch (rp->format) {

    case TOKENROUTE_REPORT_TABLE:
        tr_report_table(rp, &b);
        break;

    case TOKENROUTE_REPORT_CSV:
        tr_report_csv(rp, &b);
        break;

    default:
        tr_report_json(rp, &b);
        break;
    }

    /* the NUL, not counted */
    tokenroute_json_add(&b, "", 1);

    if (b.failed) {
        tokenroute_json_buf_free(&b);
        return tokenroute_report_fail(rp, TOKENROUTE_REPORT_FAILED,
                                      "out of memory");
    }

    *text = b.data;
    *len = b.len - 1;

    return 0;
}


static void
tr_report_json(tokenroute_report_t *rp, tokenroute_json_buf_t *b)
{
    size_t            i;
    const char       *slash;
    tr_report_row_t  *row;

    tokenroute_json_add_lit(b, "{\"since\":");
    tokenroute_json_add_int(b, rp->since);
    tokenroute_json_add_lit(b, ",\"until\":");
    tokenroute_json_add_int(b, rp->until);
    tokenroute_json_add_lit(b, ",\"by\":\"");
    tokenroute_json_add(b, tokenroute_report_by[rp->by],
                        strlen(tokenroute_report_by[rp->by]));
    tokenroute_json_add_lit(b, "\",\"bucket\":\"");

    if (rp->step == TR_REPORT_DAY) {
        tokenroute_json_add_lit(b, "day\",\"rows\":[");

    } else {
        tokenroute_json_add_lit(b, "hour\",\"rows\":[");
    }

    for (i = 0; i < rp->nrows; i++) {
        row = &rp->rows[i];

        if (i != 0) {
            tokenroute_json_add_lit(b, ",");
        }

        tokenroute_json_add_lit(b, "{\"group\":");
        tokenroute_json_add_str(b, row->group, strlen(row->group));

        if (rp->by == TR_REPORT_BY_KEY) {
            tokenroute_json_add_lit(b, ",\"name\":");

            if (row->name != NULL) {
                tokenroute_json_add_str(b, row->name, strlen(row->name));

            } else {
                tokenroute_json_add_lit(b, "null");
            }
        }

        if (rp->by == TR_REPORT_BY_TENANT) {
            /* "<account>/<tenant>", "-" for none */
            slash = strchr(row->group, '/');

            tokenroute_json_add_lit(b, ",\"account\":");
            tokenroute_json_add_str(b, row->group, slash - row->group);
            tokenroute_json_add_lit(b, ",\"tenant\":");

            if (strcmp(slash + 1, "-") == 0) {
                tokenroute_json_add_lit(b, "null");

            } else {
                tokenroute_json_add_str(b, slash + 1, strlen(slash + 1));
            }
        }

        tokenroute_json_add_lit(b, ",");
        tr_report_json_metrics(b, row->m);
        tokenroute_json_add_lit(b, "}");
    }

    tokenroute_json_add_lit(b, "],\"total\":{");
    tr_report_json_metrics(b, rp->total);
    tokenroute_json_add_lit(b, "}}\n");
}


static void
tr_report_json_metrics(tokenroute_json_buf_t *b, int64_t *m)
{
    char  usd[TOKENROUTE_MONEY_BUF_LEN];

    tokenroute_json_add_lit(b, "\"requests\":");
    tokenroute_json_add_int(b, m[TR_REPORT_REQ]);
    tokenroute_json_add_lit(b, ",\"failed\":");
    tokenroute_json_add_int(b, m[TR_REPORT_FAIL]);
    tokenroute_json_add_lit(b, ",\"input_tokens\":");
    tokenroute_json_add_int(b, m[TR_REPORT_IN]);
    tokenroute_json_add_lit(b, ",\"output_tokens\":");
    tokenroute_json_add_int(b, m[TR_REPORT_OUT]);
    tokenroute_json_add_lit(b, ",\"cached_tokens\":");
    tokenroute_json_add_int(b, m[TR_REPORT_CACHED]);
    tokenroute_json_add_lit(b, ",\"cost_usd\":\"");
    tokenroute_money_format_usd(m[TR_REPORT_COST], usd, sizeof(usd));
    tokenroute_json_add(b, usd, strlen(usd));
    tokenroute_json_add_lit(b, "\",\"cost_nusd\":");
    tokenroute_json_add_int(b, m[TR_REPORT_COST]);
    tokenroute_json_add_lit(b, ",\"estimated\":");
    tokenroute_json_add_int(b, m[TR_REPORT_EST]);
    tokenroute_json_add_lit(b, ",\"unbilled_usd\":\"");
    tokenroute_money_format_usd(m[TR_REPORT_UNBILLED], usd, sizeof(usd));
    tokenroute_json_add(b, usd, strlen(usd));
    tokenroute_json_add_lit(b, "\",\"unbilled_nusd\":");
    tokenroute_json_add_int(b, m[TR_REPORT_UNBILLED]);
    tokenroute_json_add_lit(b, ",\"clamped\":");
    tokenroute_json_add_int(b, m[TR_REPORT_CLAMPED]);
}


/*
 * Two passes over the lines (the header, the rows, TOTAL): the widths,
 * then the text.  The group and the name are left-aligned, the numbers
 * right-aligned; no trailing spaces.
 */

static void
tr_report_table(tokenroute_report_t *rp, tokenroute_json_buf_t *b)
{
    int               pass;
    size_t            i, c, w, pad, left, width[TR_REPORT_COLS];
    tr_report_line_t  l;

    memset(width, 0, sizeof(width));

    left = (rp->by == TR_REPORT_BY_KEY) ? 2 : 1;

    for (pass = 0; pass < 2; pass++) {

        /* the header is line rp->nrows + 1, TOTAL rp->nrows */

        for (i = 0; i < rp->nrows + 2; i++) {
            tr_report_line(rp, &l, (i == 0) ? rp->nrows + 1 : i - 1);

            for (c = 0; c < l.n; c++) {
                w = tr_report_width(l.cell[c]);

                if (pass == 0) {
                    if (w > width[c]) {
                        width[c] = w;
                    }

                    continue;
                }

                pad = width[c] - w;

                if (c >= left) {
                    tr_report_spaces(b, pad);
                    pad = 0;
                }

                tokenroute_json_add(b, l.cell[c], strlen(l.cell[c]));

                if (c + 1 < l.n) {
                    tr_report_spaces(b, pad + TR_REPORT_GAP);
                }
            }

            if (pass == 1) {
                tokenroute_json_add_lit(b, "\n");
            }
        }
    }
}


/*
 * The cells of line i: a row, TOTAL (i == nrows) or the header
 * (i == nrows + 1).  Costs have 9 decimals.
 */

static void
tr_report_line(tokenroute_report_t *rp, tr_report_line_t *l, size_t i)
{
    int               m;
    size_t            c, k;
    int64_t          *v;
    tr_report_row_t  *row;

    c = 0;

    if (i == rp->nrows + 1) {
        l->cell[c++] = tr_report_groups[rp->by];

        if (rp->by == TR_REPORT_BY_KEY) {
            l->cell[c++] = "NAME";
        }

        for (k = 0; k < TR_REPORT_MCOLS; k++) {
            l->cell[c++] = tr_report_headers[k];
        }

        l->n = c;
        return;
    }

    if (i == rp->nrows) {
        l->cell[c++] = "TOTAL";

        if (rp->by == TR_REPORT_BY_KEY) {
            l->cell[c++] = "";
        }

        v = rp->total;

    } else {
        row = &rp->rows[i];
        l->cell[c++] = row->group;

        if (rp->by == TR_REPORT_BY_KEY) {
            l->cell[c++] = (row->name != NULL) ? row->name : "-";
        }

        v = row->m;
    }

    for (k = 0; k < TR_REPORT_MCOLS; k++) {
        m = tr_report_order[k];

        if (m == TR_REPORT_COST || m == TR_REPORT_UNBILLED) {
            tokenroute_report_fixed(v[m], l->buf[k], TR_REPORT_CELL_LEN);

        } else {
            snprintf(l->buf[k], TR_REPORT_CELL_LEN, "%lld", (long long) v[m]);
        }

        l->cell[c++] = l->buf[k];
    }

    l->n = c;
}


static void
tr_report_spaces(tokenroute_json_buf_t *b, size_t n)
{
    static const char  spaces[] = "                                ";

    while (n > sizeof(spaces) - 1) {
        tokenroute_json_add(b, spaces, sizeof(spaces) - 1);
        n -= sizeof(spaces) - 1;
    }

    tokenroute_json_add(b, spaces, n);
}


/* one column per code point: close enough for names in a table */

static size_t
tr_report_width(const char *s)
{
    size_t  w;

    for (w = 0; *s != '\0'; s++) {
        if (((unsigned char) *s & 0xc0) != 0x80) {
            w++;
        }
    }

    return w;
}


/*
 * RFC 4180: a header line, one line per row, no TOTAL (a spreadsheet adds
 * up); by tenant, the account and the tenant ("" for none) in two
 * columns.
 */

static void
tr_report_csv(tokenroute_report_t *rp, tokenroute_json_buf_t *b)
{
    char              *slash;
    size_t             i, k, c;
    tr_report_line_t   l;
    tr_report_row_t   *row;

    if (rp->by == TR_REPORT_BY_TENANT) {
        tokenroute_json_add_lit(b, "account,tenant");

    } else {
        tokenroute_json_add(b, tokenroute_report_by[rp->by],
                            strlen(tokenroute_report_by[rp->by]));

        if (rp->by == TR_REPORT_BY_KEY) {
            tokenroute_json_add_lit(b, ",name");
        }
    }

    for (k = 0; k < TR_REPORT_MCOLS; k++) {
        tokenroute_json_add_lit(b, ",");
        tokenroute_json_add(b, tr_report_csv_headers[k],
                            strlen(tr_report_csv_headers[k]));
    }

    tokenroute_json_add_lit(b, "\n");

    for (i = 0; i < rp->nrows; i++) {
        row = &rp->rows[i];

        tr_report_line(rp, &l, i);

        if (rp->by == TR_REPORT_BY_TENANT) {
            /* the account is Redis's text too: quoted as needed */
            slash = strchr(row->group, '/');
            tr_report_csv_cell(b, row->group, slash - row->group);
            tokenroute_json_add_lit(b, ",");

            if (strcmp(slash + 1, "-") != 0) {
                tr_report_csv_cell(b, slash + 1, strlen(slash + 1));
            }

        } else {
            tr_report_csv_cell(b, row->group, strlen(row->group));

            if (rp->by == TR_REPORT_BY_KEY) {
                tokenroute_json_add_lit(b, ",");

                if (row->name != NULL) {
                    tr_report_csv_cell(b, row->name, strlen(row->name));
                }
            }
        }

        for (c = l.n - TR_REPORT_MCOLS; c < l.n; c++) {
            tokenroute_json_add_lit(b, ",");
            tokenroute_json_add(b, l.cell[c], strlen(l.cell[c]));
        }

        tokenroute_json_add_lit(b, "\n");
    }
}


/* len bytes, quoted when they hold a comma, a quote or a line break */

static void
tr_report_csv_cell(tokenroute_json_buf_t *b, const char *s, size_t len)
{
    size_t       i;
    const char  *p;

    for (i = 0; i < len; i++) {
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') {
            break;
        }
    }

    if (i == len) {
        tokenroute_json_add(b, s, len);
        return;
    }

    tokenroute_json_add_lit(b, "\"");

    for (p = s; p < s + len; p++) {
        if (*p == '"') {
            tokenroute_json_add_lit(b, "\"\"");

        } else {
            tokenroute_json_add(b, p, 1);
        }
    }

    tokenroute_json_add_lit(b, "\"");
}


/* USD with exactly 9 decimals: "0.000000000", "12.345678901" */

size_t
tokenroute_report_fixed(int64_t nusd, char *buf, size_t size)
{
    int       n;
    uint64_t  u;

    u = (nusd < 0) ? 0 - (uint64_t) nusd : (uint64_t) nusd;

    n = snprintf(buf, size, "%s%llu.%09llu", (nusd < 0) ? "-" : "",
                 (unsigned long long) (u / TOKENROUTE_NUSD_PER_USD),
                 (unsigned long long) (u % TOKENROUTE_NUSD_PER_USD));

    return (n < 0) ? 0 : (size_t) n;
}
