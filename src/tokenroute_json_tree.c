
/*
 * Copyright (C) tokenroute authors
 *
 * The flat JSON tree: yajl's callbacks append nodes, lookups walk a
 * map's children, and the writer walks the tree without recursion.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "tokenroute_json_tree.h"


static int tokenroute_json_tree_value(tokenroute_json_tree_t *j,
    unsigned type, const char *s, size_t len);
static int tokenroute_json_tree_null(void *ctx);
static int tokenroute_json_tree_boolean(void *ctx, int value);
static int tokenroute_json_tree_number(void *ctx, const char *s, size_t len);
static int tokenroute_json_tree_string(void *ctx, const unsigned char *s,
    size_t len);
static int tokenroute_json_tree_start_map(void *ctx);
static int tokenroute_json_tree_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int tokenroute_json_tree_end(void *ctx);
static int tokenroute_json_tree_start_array(void *ctx);


static const yajl_callbacks  tokenroute_json_tree_callbacks = {
    tokenroute_json_tree_null,
    tokenroute_json_tree_boolean,
    NULL,
    NULL,
    tokenroute_json_tree_number,
    tokenroute_json_tree_string,
    tokenroute_json_tree_start_map,
    tokenroute_json_tree_map_key,
    tokenroute_json_tree_end,
    tokenroute_json_tree_start_array,
    tokenroute_json_tree_end
};


int
tokenroute_json_tree_parse(tokenroute_json_tree_t *j, const char *p,
    size_t len, yajl_alloc_funcs *af)
{
    yajl_handle  h;
    yajl_status  rc;

    /* node 0 stands for "none" */

    j->nnodes = 1;
    j->cur = 0;
    j->oom = 0;
    j->pool.len = 0;
    j->pool.failed = 0;

    h = yajl_alloc(&tokenroute_json_tree_callbacks, af, j);
    if (h == NULL) {
        return -2;
    }

    yajl_config(h, yajl_dont_validate_strings, 1);

    rc = yajl_parse(h, (const unsigned char *) p, len);

    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (j->oom) {
        return -2;
    }

    if (rc != yajl_status_ok || j->nnodes < 2) {
        return -1;
    }

    return 0;
}


void
tokenroute_json_tree_free(tokenroute_json_tree_t *j)
{
    free(j->nodes);
    tokenroute_json_buf_free(&j->pool);

    j->nodes = NULL;
    j->nnodes = 0;
    j->nalloc = 0;
}


static int
tokenroute_json_tree_value(tokenroute_json_tree_t *j, unsigned type,
    const char *s, size_t len)
{
    uint32_t                 n, nalloc;
    tokenroute_json_node_t  *nd, *parent;

    if (j->nnodes >= j->nalloc) {

        if (j->nalloc > UINT32_MAX / 4) {
            j->oom = 1;
            return 0;
        }

        nalloc = (j->nalloc != 0) ? j->nalloc * 2 : 64;

        nd = realloc(j->nodes, nalloc * sizeof(tokenroute_json_node_t));
        if (nd == NULL) {
            j->oom = 1;
            return 0;
        }

        j->nodes = nd;
        j->nalloc = nalloc;
    }

    n = j->nnodes++;

    nd = &j->nodes[n];
    nd->type = type;
    nd->parent = j->cur;
    nd->child = 0;
    nd->last = 0;
    nd->next = 0;
    nd->key = 0;
    nd->key_len = 0;
    nd->val = 0;
    nd->val_len = 0;

    if (j->cur != 0) {
        parent = &j->nodes[j->cur];

        if (parent->type == TOKENROUTE_JSON_T_MAP) {
            nd->key = j->key;
            nd->key_len = j->key_len;
        }

        if (parent->last != 0) {
            j->nodes[parent->last].next = n;

        } else {
            parent->child = n;
        }

        parent->last = n;
    }

    if (s != NULL) {
        /* strings and numbers are kept NUL-terminated */

        nd->val = j->pool.len;
        nd->val_len = len;

        tokenroute_json_add(&j->pool, s, len);
        tokenroute_json_add(&j->pool, "", 1);

        if (j->pool.failed) {
            j->oom = 1;
            return 0;
        }
    }

    if (type == TOKENROUTE_JSON_T_MAP || type == TOKENROUTE_JSON_T_ARRAY) {
        j->cur = n;
    }

    return 1;
}


static int
tokenroute_json_tree_null(void *ctx)
{
    return tokenroute_json_tree_value(ctx, TOKENROUTE_JSON_T_NULL, NULL, 0);
}


static int
tokenroute_json_tree_boolean(void *ctx, int value)
{
    return tokenroute_json_tree_value(ctx, value ? TOKENROUTE_JSON_T_TRUE
                                                 : TOKENROUTE_JSON_T_FALSE,
                                      NULL, 0);
}


static int
tokenroute_json_tree_number(void *ctx, const char *s, size_t len)
{
    return tokenroute_json_tree_value(ctx, TOKENROUTE_JSON_T_NUMBER, s, len);
}


static int
tokenroute_json_tree_string(void *ctx, const unsigned char *s, size_t len)
{
    return tokenroute_json_tree_value(ctx, TOKENROUTE_JSON_T_STRING,
                                      s ? (const char *) s : "", len);
}


static int
tokenroute_json_tree_start_map(void *ctx)
{
    return tokenroute_json_tree_value(ctx, TOKENROUTE_JSON_T_MAP, NULL, 0);
}


static int
tokenroute_json_tree_map_key(void *ctx, const unsigned char *key, size_t len)
{
    tokenroute_json_tree_t  *j = ctx;

    j->key = j->pool.len;
    j->key_len = len;

    tokenroute_json_add(&j->pool, (const char *) key, len);
    tokenroute_json_add(&j->pool, "", 1);

    if (j->pool.failed) {
        j->oom = 1;
        return 0;
    }

    return 1;
}


static int
tokenroute_json_tree_end(void *ctx)
{
    tokenroute_json_tree_t  *j = ctx;

    j->cur = j->nodes[j->cur].parent;

    return 1;
}


static int
tokenroute_json_tree_start_array(void *ctx)
{
    return tokenroute_json_tree_value(ctx, TOKENROUTE_JSON_T_ARRAY, NULL, 0);
}


/* the value of key in map n, or 0 */

uint32_t
tokenroute_json_get(tokenroute_json_tree_t *j, uint32_t n, const char *key)
{
    size_t                   len;
    uint32_t                 c;
    tokenroute_json_node_t  *nd;

    if (n == 0 || j->nodes[n].type != TOKENROUTE_JSON_T_MAP) {
        return 0;
    }

    len = strlen(key);

    for (c = j->nodes[n].child; c != 0; c = nd->next) {
        nd = &j->nodes[c];

        if (nd->key_len == len
            && memcmp(j->pool.data + nd->key, key, len) == 0)
        {
            return c;
        }
    }

    return 0;
}


int
tokenroute_json_str(tokenroute_json_tree_t *j, uint32_t n, const char **s,
    size_t *len)
{
    if (n == 0 || j->nodes[n].type != TOKENROUTE_JSON_T_STRING) {
        return 0;
    }

    *s = j->pool.data + j->nodes[n].val;
    *len = j->nodes[n].val_len;

    return 1;
}


int64_t
tokenroute_json_int(tokenroute_json_tree_t *j, uint32_t n, int64_t dflt)
{
    char        *end;
    double       d;
    long long    v;
    const char  *s;

    if (n == 0 || j->nodes[n].type != TOKENROUTE_JSON_T_NUMBER) {
        return dflt;
    }

    s = j->pool.data + j->nodes[n].val;

    v = strtoll(s, &end, 10);

    if (*end == '\0') {
        return v;
    }

    /* 12.0, 1e3 */

    d = strtod(s, &end);

    if (*end != '\0' || d != d) {
        return dflt;
    }

    if (d >= 9.2e18) {
        return INT64_MAX;
    }

    if (d <= -9.2e18) {
        return INT64_MIN;
    }

    return (int64_t) d;
}


/* compact JSON of the value top; iterative, as inputs nest arbitrarily */

void
tokenroute_json_tree_write(tokenroute_json_buf_t *b,
    tokenroute_json_tree_t *j, uint32_t top)
{
    uint32_t                 n;
    tokenroute_json_node_t  *nd;

    n = top;

    for ( ;; ) {
        nd = &j->nodes[n];

        if (n != top && j->nodes[nd->parent].type == TOKENROUTE_JSON_T_MAP) {
            tokenroute_json_add_str(b, j->pool.data + nd->key, nd->key_len);
            tokenroute_json_add_lit(b, ":");
        }

        switch (nd->type) {

        case TOKENROUTE_JSON_T_NULL:
            tokenroute_json_add_lit(b, "null");
            break;

        case TOKENROUTE_JSON_T_FALSE:
            tokenroute_json_add_lit(b, "false");
            break;

        case TOKENROUTE_JSON_T_TRUE:
            tokenroute_json_add_lit(b, "true");
            break;

        case TOKENROUTE_JSON_T_NUMBER:
            tokenroute_json_add(b, j->pool.data + nd->val, nd->val_len);
            break;

        case TOKENROUTE_JSON_T_STRING:
            tokenroute_json_add_str(b, j->pool.data + nd->val, nd->val_len);
            break;

        default:
            tokenroute_json_add(b,
                                (nd->type == TOKENROUTE_JSON_T_MAP) ? "{" : "[",
                                1);

            if (nd->child != 0) {
                n = nd->child;
                continue;
            }

            tokenroute_json_add(b,
                                (nd->type == TOKENROUTE_JSON_T_MAP) ? "}" : "]",
                                1);
            break;
        }

        while (n != top && j->nodes[n].next == 0) {
            n = j->nodes[n].parent;
            tokenroute_json_add(b,
                                (j->nodes[n].type == TOKENROUTE_JSON_T_MAP)
                                ? "}" : "]", 1);
        }

        if (n == top) {
            return;
        }

        tokenroute_json_add_lit(b, ",");
        n = j->nodes[n].next;
    }
}
