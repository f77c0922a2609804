
/*
 * Copyright (C) tokenroute authors
 *
 * What the commands share: error and usage messages, option parsing,
 * integers and times, UTF-8 widths, JSON output (yajl_gen)
 * and text tables.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include <tokenroute_money.h>

#include "tr_cli.h"
#include "tr_cli_util.h"


/* keeps expiry times well inside what gmtime_r() and time_t handle */
#define TR_CLI_DURATION_MAX  (100LL * 366 * 86400)

#define TR_CLI_TABLE_GAP     2


struct tr_cli_json_s {
    yajl_gen                   gen;
    yajl_gen_status            status;
};


struct tr_cli_table_s {
    size_t                     ncols;
    size_t                     nrows;
    size_t                     nalloc;
    char                     **cells;
};


static void tr_cli_verror(const char *fmt, va_list args);
static const char *tr_cli_json_reason(yajl_gen_status status);


static void
tr_cli_verror(const char *fmt, va_list args)
{
    fputs("tokenroute: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
}


void
tr_cli_error(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tr_cli_verror(fmt, args);
    va_end(args);
}


int
tr_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tr_cli_verror(fmt, args);
    va_end(args);

    fprintf(stderr, "see 'tokenroute%s%s --help'\n",
            (cmd != NULL) ? " " : "", (cmd != NULL) ? cmd : "");

    return TR_CLI_USAGE;
}


int
tr_cli_option(const char *name, const char *cmd, int argc, char **argv,
    int *i, const char **value)
{
    size_t       len;
    const char  *arg;

    arg = argv[*i];
    len = strlen(name);

    if (strncmp(arg, name, len) != 0) {
        return 0;
    }

    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }

    if (arg[len] != '\0') {
        return 0;
    }

    if (*i + 1 >= argc) {
        tr_cli_usage_error(cmd, "option '%s' needs a value", name);
        return -1;
    }

    *i += 1;
    *value = argv[*i];

    return 1;
}


int
tr_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}


int
tr_cli_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t   i;
    int64_t  n, digit;

    if (len == 0) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        digit = s[i] - '0';

        if (n > (INT64_MAX - digit) / 10) {
            return -1;
        }

        n = n * 10 + digit;
    }

    *out = n;

    return 0;
}


size_t
tr_cli_format_time(int64_t t, char *buf, size_t size)
{
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL) {
        return 0;
    }

    return strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


size_t
tr_cli_utf8_width(const char *s)
{
    size_t  width;

    /* one column per code point: close enough for names in a table */

    for (width = 0; *s != '\0'; s++) {
        if (((unsigned char) *s & 0xc0) != 0x80) {
            width++;
        }
    }

    return width;
}


tr_cli_json_t *
tr_cli_json_create(void)
{
    tr_cli_json_t  *j;

    j = malloc(sizeof(tr_cli_json_t));
    if (j == NULL) {
        tr_cli_error("out of memory");
        return NULL;
    }

    j->gen = yajl_gen_alloc(NULL);
    if (j->gen == NULL) {
        tr_cli_error("out of memory");
        free(j);
        return NULL;
    }

    if (yajl_gen_config(j->gen, yajl_gen_validate_utf8, 1) == 0) {
        tr_cli_error("cannot configure the JSON generator");
        yajl_gen_free(j->gen);
        free(j);
        return NULL;
    }

    j->status = yajl_gen_status_ok;

    return j;
}


/*
 * The generator calls below keep the first failure and skip the rest, so
 * callers build a whole document and check once, in tr_cli_json_print().
 */

void
tr_cli_json_map_open(tr_cli_json_t *j)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_map_open(j->gen);
    }
}


void
tr_cli_json_map_close(tr_cli_json_t *j)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_map_close(j->gen);
    }
}


void
tr_cli_json_array_open(tr_cli_json_t *j)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_array_open(j->gen);
    }
}


void
tr_cli_json_array_close(tr_cli_json_t *j)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_array_close(j->gen);
    }
}


void
tr_cli_json_str(tr_cli_json_t *j, const char *s)
{
    tr_cli_json_strn(j, s, strlen(s));
}


void
tr_cli_json_strn(tr_cli_json_t *j, const char *s, size_t len)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_string(j->gen, (const unsigned char *) s, len);
    }
}


void
tr_cli_json_int(tr_cli_json_t *j, int64_t n)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_integer(j->gen, (long long) n);
    }
}


void
tr_cli_json_bool(tr_cli_json_t *j, int b)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_bool(j->gen, b);
    }
}


void
tr_cli_json_null(tr_cli_json_t *j)
{
    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_null(j->gen);
    }
}


int
tr_cli_json_print(tr_cli_json_t *j, FILE *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (j->status == yajl_gen_status_ok) {
        j->status = yajl_gen_get_buf(j->gen, &buf, &len);
    }

    if (j->status != yajl_gen_status_ok) {
        tr_cli_error("cannot generate JSON: %s",
                     tr_cli_json_reason(j->status));
        return -1;
    }

    if (fwrite(buf, 1, len, out) != len || fputc('\n', out) == EOF) {
        return -1;
    }

    return 0;
}


void
tr_cli_json_destroy(tr_cli_json_t *j)
{
    if (j == NULL) {
        return;
    }

    yajl_gen_free(j->gen);
    free(j);
}


static const char *
tr_cli_json_reason(yajl_gen_status status)
{
    switch (status) {

    case yajl_gen_invalid_string:
        return "a string is not valid UTF-8";

    case yajl_gen_invalid_number:
        return "invalid number";

    case yajl_gen_keys_must_be_strings:
    case yajl_max_depth_exceeded:
    case yajl_gen_in_error_state:
    case yajl_gen_generation_complete:
        return "malformed document";

    default:
        return "internal error";
    }
}


tr_cli_table_t *
tr_cli_table_create(size_t ncols, const char **header)
{
    tr_cli_table_t  *t;

    t = malloc(sizeof(tr_cli_table_t));
    if (t == NULL) {
        tr_cli_error("out of memory");
        return NULL;
    }

    t->ncols = ncols;
    t->nrows = 0;
    t->nalloc = 0;
    t->cells = NULL;

    if (tr_cli_table_add(t, header) != 0) {
        free(t->cells);
        free(t);
        return NULL;
    }

    return t;
}


int
tr_cli_table_add(tr_cli_table_t *t, const char **row)
{
    char    **cells;
    size_t    i, n, nalloc;

    if (t->nrows == t->nalloc) {
        nalloc = (t->nalloc == 0) ? 16 : t->nalloc * 2;

        cells = realloc(t->cells, nalloc * t->ncols * sizeof(char *));
        if (cells == NULL) {
            tr_cli_error("out of memory");
            return -1;
        }

        t->cells = cells;
        t->nalloc = nalloc;
    }

    n = t->nrows * t->ncols;

    for (i = 0; i < t->ncols; i++) {
        t->cells[n + i] = strdup(row[i]);

        if (t->cells[n + i] == NULL) {
            while (i > 0) {
                free(t->cells[n + --i]);
            }

            tr_cli_error("out of memory");
            return -1;
        }
    }

    t->nrows++;

    return 0;
}


int
tr_cli_table_print(tr_cli_table_t *t, FILE *out)
{
    char    *cell;
    size_t   r, c, w, *width;

    width = calloc(t->ncols, sizeof(size_t));
    if (width == NULL) {
        tr_cli_error("out of memory");
        return -1;
    }

    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols; c++) {
            w = tr_cli_utf8_width(t->cells[r * t->ncols + c]);

            if (w > width[c]) {
                width[c] = w;
            }
        }
    }

    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols; c++) {
            cell = t->cells[r * t->ncols + c];
            fputs(cell, out);

            /* no padding after the last column: no trailing spaces */
            if (c + 1 == t->ncols) {
                break;
            }

            for (w = tr_cli_utf8_width(cell);
                 w < width[c] + TR_CLI_TABLE_GAP;
                 w++)
            {
                fputc(' ', out);
            }
        }

        fputc('\n', out);
    }

    free(width);

    return 0;
}


void
tr_cli_table_destroy(tr_cli_table_t *t)
{
    size_t  i;

    if (t == NULL) {
        return;
    }

    for (i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }

    free(t->cells);
    free(t);
}
