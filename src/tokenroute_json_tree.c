
/*
 * Copyright (C) tokenroute authors
 *
 * The JSON tree: yajl's callbacks append linked values in the tree's
 * chunks, lookups walk a map's members, and the writer walks the tree
 * without recursion.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "tokenroute_json_tree.h"


#define TOKENROUTE_JSON_CHUNK   8192
#define TOKENROUTE_JSON_ALIGN   sizeof(void *)


static const char *tokenroute_json_tree_strdup(tokenroute_json_tree_t *j,
    const char *s, size_t len);
static int tokenroute_json_tree_value(tokenroute_json_tree_t *j,
    yajl_type type, const char *s, size_t len);
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
    yajl_handle               h;
    yajl_status               rc;
    tokenroute_json_chunk_t  *c;

    /* the chunks of the document before are reused */

    for (c = j->chunks; c != NULL; c = c->next) {
        c->used = 0;
    }

    j->chunk = j->chunks;
    j->root = NULL;
    j->cur = NULL;
    j->depth = 0;
    j->oom = 0;
    j->deep = 0;

    h = yajl_alloc(&tokenroute_json_tree_callbacks, af, j);
    if (h == NULL) {
        return -2;
    }

    if (!j->validate) {
        yajl_config(h, yajl_dont_validate_strings, 1);
    }

    rc = yajl_parse(h, (const unsigned char *) p, len);

    if (rc == yajl_status_ok) {
        rc = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (j->oom) {
        return -2;
    }

    if (j->deep) {
        return -3;
    }

    if (rc != yajl_status_ok || j->root == NULL) {
        return -1;
    }

    return 0;
}


void
tokenroute_json_tree_free(tokenroute_json_tree_t *j)
{
    tokenroute_json_chunks_free(&j->chunks);

    j->chunk = NULL;
    j->root = NULL;
}


void *
tokenroute_json_alloc(tokenroute_json_chunk_t **head,
    tokenroute_json_chunk_t **cur, size_t size)
{
    char                     *p;
    size_t                    n;
    tokenroute_json_chunk_t  *c, *nc;

    size = (size + TOKENROUTE_JSON_ALIGN - 1) & ~(TOKENROUTE_JSON_ALIGN - 1);

    c = (*cur != NULL) ? *cur : *head;

    while (c != NULL && c->size - c->used < size && c->next != NULL) {
        c = c->next;
    }

    if (c == NULL || c->size - c->used < size) {
        n = (size > TOKENROUTE_JSON_CHUNK) ? size : TOKENROUTE_JSON_CHUNK;

        nc = malloc(sizeof(tokenroute_json_chunk_t) + n);
        if (nc == NULL) {
            return NULL;
        }

        nc->size = n;
        nc->used = 0;
        nc->next = NULL;

        if (c == NULL) {
            *head = nc;

        } else {
            c->next = nc;
        }

        c = nc;
    }

    *cur = c;

    p = (char *) (c + 1) + c->used;
    c->used += size;

    return p;
}


void
tokenroute_json_chunks_free(tokenroute_json_chunk_t **head)
{
    tokenroute_json_chunk_t  *c;

    while (*head != NULL) {
        c = *head;
        *head = c->next;
        free(c);
    }
}


static const char *
tokenroute_json_tree_strdup(tokenroute_json_tree_t *j, const char *s,
    size_t len)
{
    char  *p;

    p = tokenroute_json_alloc(&j->chunks, &j->chunk, len + 1);
    if (p == NULL) {
        j->oom = 1;
        return NULL;
    }

    if (len != 0) {
        memcpy(p, s, len);
    }

    p[len] = '\0';

    return p;
}


static int
tokenroute_json_tree_value(tokenroute_json_tree_t *j, yajl_type type,
    const char *s, size_t len)
{
    tokenroute_json_node_t  *nd, *parent;

    if (type == TOKENROUTE_JSON_T_MAP || type == TOKENROUTE_JSON_T_ARRAY) {
        if (++j->depth > j->max_depth && j->max_depth != 0) {
            j->deep = 1;
            return 0;
        }
    }

    nd = tokenroute_json_alloc(&j->chunks, &j->chunk,
                               sizeof(tokenroute_json_node_t));
    if (nd == NULL) {
        j->oom = 1;
        return 0;
    }

    memset(nd, 0, sizeof(tokenroute_json_node_t));
    nd->type = type;

    if (s != NULL) {
        /* strings and numbers are kept NUL-terminated */

        nd->str = tokenroute_json_tree_strdup(j, s, len);
        if (nd->str == NULL) {
            return 0;
        }

        nd->len = len;
    }

    parent = j->cur;

    if (parent == NULL) {
        j->root = nd;

    } else {
        if (parent->type == TOKENROUTE_JSON_T_MAP) {
            nd->key = j->key;
            nd->key_len = j->key_len;
        }

        nd->parent = parent;

        if (parent->last != NULL) {
            parent->last->next = nd;

        } else {
            parent->first = nd;
        }

        parent->last = nd;
        parent->len++;
    }

    if (type == TOKENROUTE_JSON_T_MAP || type == TOKENROUTE_JSON_T_ARRAY) {
        j->cur = nd;
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

    j->key = tokenroute_json_tree_strdup(j, (const char *) key, len);
    if (j->key == NULL) {
        return 0;
    }

    j->key_len = len;

    return 1;
}


static int
tokenroute_json_tree_end(void *ctx)
{
    tokenroute_json_tree_t  *j = ctx;

    j->cur = j->cur->parent;
    j->depth--;

    return 1;
}


static int
tokenroute_json_tree_start_array(void *ctx)
{
    return tokenroute_json_tree_value(ctx, TOKENROUTE_JSON_T_ARRAY, NULL, 0);
}


/* the value of key in map n, or NULL */

tokenroute_json_node_t *
tokenroute_json_get(tokenroute_json_node_t *n, const char *key)
{
    size_t                   len;
    tokenroute_json_node_t  *c;

    if (n == NULL || n->type != TOKENROUTE_JSON_T_MAP) {
        return NULL;
    }

    len = strlen(key);

    for (c = n->first; c != NULL; c = c->next) {
        if (c->key_len == len && memcmp(c->key, key, len) == 0) {
            return c;
        }
    }

    return NULL;
}


int
tokenroute_json_str(tokenroute_json_node_t *n, const char **s, size_t *len)
{
    if (n == NULL || n->type != TOKENROUTE_JSON_T_STRING) {
        return 0;
    }

    *s = n->str;
    *len = n->len;

    return 1;
}


int64_t
tokenroute_json_int(tokenroute_json_node_t *n, int64_t dflt)
{
    char        *end;
    double       d;
    long long    v;
    const char  *s;

    if (n == NULL || n->type != TOKENROUTE_JSON_T_NUMBER) {
        return dflt;
    }

    s = n->str;

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
    tokenroute_json_node_t *top)
{
    tokenroute_json_node_t  *n;

    n = top;

    for ( ;; ) {

        if (n != top && n->parent->type == TOKENROUTE_JSON_T_MAP) {
            tokenroute_json_add_str(b, n->key, n->key_len);
            tokenroute_json_add_lit(b, ":");
        }

        switch (n->type) {

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
            tokenroute_json_add(b, n->str, n->len);
            break;

        case TOKENROUTE_JSON_T_STRING:
            tokenroute_json_add_str(b, n->str, n->len);
            break;

        default:
            tokenroute_json_add(b,
                                (n->type == TOKENROUTE_JSON_T_MAP) ? "{" : "[",
                                1);

            if (n->first != NULL) {
                n = n->first;
                continue;
            }

            tokenroute_json_add(b,
                                (n->type == TOKENROUTE_JSON_T_MAP) ? "}" : "]",
                                1);
            break;
        }

        while (n != top && n->next == NULL) {
            n = n->parent;
            tokenroute_json_add(b,
                                (n->type == TOKENROUTE_JSON_T_MAP) ? "}" : "]",
                                1);
        }

        if (n == top) {
            return;
        }

        tokenroute_json_add_lit(b, ",");
        n = n->next;
    }
}
