
/*
 * Copyright (C) tokenroute authors
 *
 * A control script's JSON document (an object, or an array of objects)
 * as a text table: one row per object, one column per member, "-" for
 * null.  The script made every amount a USD string already, so nothing
 * is computed here.
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "tr_cli.h"
#include "tr_cli_doc.h"
#include "tr_cli_util.h"


#define TR_CLI_DOC_MAX_COLS  16


static int tr_cli_doc_cell(yajl_val obj, const tr_cli_doc_col_t *col,
    char *buf, size_t size, const char **cell);
static int tr_cli_doc_skip(yajl_val obj, const tr_cli_doc_check_t *check);


int
tr_cli_doc_table(yajl_val rows, const tr_cli_doc_col_t *cols, size_t ncols,
    const tr_cli_doc_check_t *check, FILE *out)
{
    int              rc;
    char             buf[TR_CLI_DOC_MAX_COLS][TR_CLI_INT_LEN + 32];
    size_t           i, c, n;
    yajl_val         obj;
    const char      *row[TR_CLI_DOC_MAX_COLS];
    tr_cli_table_t  *t;

    if (ncols > TR_CLI_DOC_MAX_COLS) {
        return TR_CLI_FAILED;
    }

    for (c = 0; c < ncols; c++) {
        row[c] = cols[c].header;
    }

    t = tr_cli_table_create(ncols, row);
    if (t == NULL) {
        return TR_CLI_FAILED;
    }

    n = YAJL_IS_ARRAY(rows) ? YAJL_GET_ARRAY(rows)->len : 1;

    for (i = 0; i < n; i++) {
        obj = YAJL_IS_ARRAY(rows) ? YAJL_GET_ARRAY(rows)->values[i] : rows;

        if (!YAJL_IS_OBJECT(obj)) {
            tr_cli_error("unexpected JSON from the control script");
            tr_cli_table_destroy(t);
            return TR_CLI_FAILED;
        }

        if (check != NULL && tr_cli_doc_skip(obj, check)) {
            continue;
        }

        for (c = 0; c < ncols; c++) {
            if (tr_cli_doc_cell(obj, &cols[c], buf[c], sizeof(buf[c]),
                                &row[c])
                != 0)
            {
                tr_cli_table_destroy(t);
                return TR_CLI_FAILED;
            }
        }

        if (tr_cli_table_add(t, row) != 0) {
            tr_cli_table_destroy(t);
            return TR_CLI_FAILED;
        }
    }

    rc = (tr_cli_table_print(t, out) == 0) ? TR_CLI_OK : TR_CLI_FAILED;

    tr_cli_table_destroy(t);

    return rc;
}


/* 0 and *n set for an integer member, -1 for null, absent or another type */

int
tr_cli_doc_int(yajl_val obj, const char *name, int64_t *n)
{
    yajl_val     v;
    const char  *path[2];

    path[0] = name;
    path[1] = NULL;

    v = yajl_tree_get(obj, path, yajl_t_number);

    if (v == NULL || !YAJL_IS_INTEGER(v)) {
        return -1;
    }

    *n = YAJL_GET_INTEGER(v);

    return 0;
}


static int
tr_cli_doc_cell(yajl_val obj, const tr_cli_doc_col_t *col, char *buf,
    size_t size, const char **cell)
{
    int64_t      n;
    yajl_val     v;
    const char  *path[2];

    path[0] = col->member;
    path[1] = NULL;

    *cell = "-";

    if (col->kind == TR_CLI_DOC_STR) {
        v = yajl_tree_get(obj, path, yajl_t_string);

        if (v != NULL) {
            *cell = YAJL_GET_STRING(v);
        }

        return 0;
    }

    if (tr_cli_doc_int(obj, col->member, &n) != 0) {
        return 0;
    }

    if (col->kind == TR_CLI_DOC_INT) {
        snprintf(buf, size, "%lld", (long long) n);

    } else if (tr_cli_format_time(n, buf, size) == 0) {
        return 0;
    }

    *cell = buf;

    return 0;
}


static int
tr_cli_doc_skip(yajl_val obj, const tr_cli_doc_check_t *check)
{
    yajl_val      v;
    const char   *path[2], **m;

    for (m = check->needed; *m != NULL; m++) {
        path[0] = *m;
        path[1] = NULL;

        v = yajl_tree_get(obj, path, yajl_t_any);

        if (v == NULL || YAJL_IS_NULL(v)) {
            path[0] = check->what;
            v = yajl_tree_get(obj, path, yajl_t_string);

            fprintf(stderr, "tokenroute: warning: %s %s has a malformed "
                    "record, skipped\n", check->what,
                    (v != NULL) ? YAJL_GET_STRING(v) : "?");
            return 1;
        }
    }

    return 0;
}
