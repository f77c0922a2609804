
/*
 * Copyright (C) tokenroute authors
 *
 * Every page of a list operation whose pages come in no order (accounts
 * list, tenants list: SSCAN in src/lua/ctl_lib.lua, ctl.page()), so that
 * no script call reads a whole set: gathered, sorted by one member, each
 * item once, as the one JSON array these commands printed before pages.
 */


#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_key.h"
#include "tr_cli_util.h"


#define TR_CLI_PAGES_LIMIT  "250"


typedef struct {
    yajl_val                  *v;
    size_t                     n;
    size_t                     cap;
} tr_cli_pages_list_t;


static int tr_cli_pages_push(tr_cli_pages_list_t *l, yajl_val v);
static int tr_cli_pages_cmp(const void *a, const void *b);
static const char *tr_cli_pages_key(yajl_val v);


/* the member items are sorted by: qsort() has no argument for it */
static const char  *tr_cli_pages_by;


int
tr_cli_ctl_all(tr_cli_redis_t *r, const char *cmd, const char *script,
    size_t len, const char *op, tr_cli_ctl_params_t *p, const char *member,
    const char *by, char **out, size_t *out_len)
{
    int                   rc;
    FILE                 *f;
    size_t                i, base;
    yajl_val              tree, items, next;
    const char           *cursor, *path[2];
    redisReply           *doc;
    tr_cli_json_t        *j;
    tr_cli_pages_list_t   trees, all;

    *out = NULL;
    *out_len = 0;

    memset(&trees, 0, sizeof(trees));
    memset(&all, 0, sizeof(all));

    j = NULL;
    cursor = NULL;
    base = p->n;
    path[1] = NULL;

    for ( ;; ) {
        p->n = base;
        tr_cli_ctl_param(p, "limit", TR_CLI_PAGES_LIMIT);
        tr_cli_ctl_param(p, "cursor", cursor);

        rc = tr_cli_ctl_run(r, cmd, script, len, op, p, &doc);
        if (rc != TR_CLI_OK) {
            goto done;
        }

        tree = tr_cli_ctl_tree(doc);
        freeReplyObject(doc);

        /* the trees stay until the end: the items and cursor are theirs */
        if (tree == NULL || tr_cli_pages_push(&trees, tree) != 0) {
            yajl_tree_free(tree);
            rc = TR_CLI_FAILED;
            goto done;
        }

        path[0] = member;
        items = yajl_tree_get(tree, path, yajl_t_array);

        for (i = 0; items != NULL && i < YAJL_GET_ARRAY(items)->len; i++) {
            if (tr_cli_pages_push(&all, YAJL_GET_ARRAY(items)->values[i])
                != 0)
            {
                rc = TR_CLI_FAILED;
                goto done;
            }
        }

        path[0] = "next_cursor";
        next = yajl_tree_get(tree, path, yajl_t_string);

        if (next == NULL) {
            break;
        }

        cursor = YAJL_GET_STRING(next);
    }

    /* a set rehashed between pages may give a member twice */

    tr_cli_pages_by = by;

    if (all.n > 1) {
        qsort(all.v, all.n, sizeof(yajl_val), tr_cli_pages_cmp);
    }

    j = tr_cli_json_create();
    if (j == NULL) {
        rc = TR_CLI_FAILED;
        goto done;
    }

    tr_cli_json_array_open(j);

    for (i = 0; i < all.n; i++) {
        if (i > 0 && tr_cli_pages_cmp(&all.v[i - 1], &all.v[i]) == 0) {
            continue;
        }

        tr_cli_key_json_tree(j, all.v[i]);
    }

    tr_cli_json_array_close(j);

    f = open_memstream(out, out_len);
    if (f == NULL) {
        tr_cli_error("out of memory");
        rc = TR_CLI_FAILED;
        goto done;
    }

    rc = (tr_cli_json_print(j, f) == 0) ? TR_CLI_OK : TR_CLI_FAILED;

    if (fclose(f) != 0 || *out == NULL) {
        tr_cli_error("out of memory");
        rc = TR_CLI_FAILED;
    }

    /* one document, as a script answers it: no newline */
    if (rc == TR_CLI_OK && *out_len > 0 && (*out)[*out_len - 1] == '\n') {
        (*out)[--*out_len] = '\0';
    }

    if (rc != TR_CLI_OK) {
        free(*out);
        *out = NULL;
        *out_len = 0;
    }

done:

    for (i = 0; i < trees.n; i++) {
        yajl_tree_free(trees.v[i]);
    }

    free(trees.v);
    free(all.v);
    tr_cli_json_destroy(j);

    return rc;
}


static int
tr_cli_pages_push(tr_cli_pages_list_t *l, yajl_val v)
{
    size_t     cap;
    yajl_val  *nv;

    if (l->n == l->cap) {
        cap = l->cap ? 2 * l->cap : 64;
        nv = realloc(l->v, cap * sizeof(yajl_val));

        if (nv == NULL) {
            tr_cli_error("out of memory");
            return -1;
        }

        l->v = nv;
        l->cap = cap;
    }

    l->v[l->n++] = v;

    return 0;
}


static int
tr_cli_pages_cmp(const void *a, const void *b)
{
    return strcmp(tr_cli_pages_key(*(const yajl_val *) a),
                  tr_cli_pages_key(*(const yajl_val *) b));
}


static const char *
tr_cli_pages_key(yajl_val v)
{
    const char  *s;

    s = tr_cli_ctl_string(v, tr_cli_pages_by);

    return (s != NULL) ? s : "";
}
