
/*
 * Copyright (C) tokenroute authors
 *
 * The JSON tree's parser as it was, yajl's callbacks building the tree
 * (src/tokenroute_json_tree.c before its own parser): the reference of
 * t/unit/json_tree_diff.c.  Included by the test, not compiled alone.
 */


#include <yajl/yajl_parse.h>

#include <tokenroute_json_tree.h>


static int ref_json_tree_parse(tokenroute_json_tree_t *j, const char *p,
    size_t len, yajl_alloc_funcs *af);



static const char *ref_json_tree_strdup(tokenroute_json_tree_t *j,
    const char *s, size_t len);
static int ref_json_tree_value(tokenroute_json_tree_t *j,
    yajl_type type, const char *s, size_t len);
static int ref_json_tree_null(void *ctx);
static int ref_json_tree_boolean(void *ctx, int value);
static int ref_json_tree_number(void *ctx, const char *s, size_t len);
static int ref_json_tree_string(void *ctx, const unsigned char *s,
    size_t len);
static int ref_json_tree_start_map(void *ctx);
static int ref_json_tree_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int ref_json_tree_end(void *ctx);
static int ref_json_tree_start_array(void *ctx);


static const yajl_callbacks  ref_json_tree_callbacks = {
    ref_json_tree_null,
    ref_json_tree_boolean,
    NULL,
    NULL,
    ref_json_tree_number,
    ref_json_tree_string,
    ref_json_tree_start_map,
    ref_json_tree_map_key,
    ref_json_tree_end,
    ref_json_tree_start_array,
    ref_json_tree_end
};


static int
ref_json_tree_parse(tokenroute_json_tree_t *j, const char *p,
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

    h = yajl_alloc(&ref_json_tree_callbacks, af, j);
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


static const char *
ref_json_tree_strdup(tokenroute_json_tree_t *j, const char *s,
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
ref_json_tree_value(tokenroute_json_tree_t *j, yajl_type type,
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

        nd->str = ref_json_tree_strdup(j, s, len);
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
ref_json_tree_null(void *ctx)
{
    return ref_json_tree_value(ctx, TOKENROUTE_JSON_T_NULL, NULL, 0);
}


static int
ref_json_tree_boolean(void *ctx, int value)
{
    return ref_json_tree_value(ctx, value ? TOKENROUTE_JSON_T_TRUE
                                                 : TOKENROUTE_JSON_T_FALSE,
                                      NULL, 0);
}


static int
ref_json_tree_number(void *ctx, const char *s, size_t len)
{
    return ref_json_tree_value(ctx, TOKENROUTE_JSON_T_NUMBER, s, len);
}


static int
ref_json_tree_string(void *ctx, const unsigned char *s, size_t len)
{
    return ref_json_tree_value(ctx, TOKENROUTE_JSON_T_STRING,
                                      s ? (const char *) s : "", len);
}


static int
ref_json_tree_start_map(void *ctx)
{
    return ref_json_tree_value(ctx, TOKENROUTE_JSON_T_MAP, NULL, 0);
}


static int
ref_json_tree_map_key(void *ctx, const unsigned char *key, size_t len)
{
    tokenroute_json_tree_t  *j = ctx;

    j->key = ref_json_tree_strdup(j, (const char *) key, len);
    if (j->key == NULL) {
        return 0;
    }

    j->key_len = len;

    return 1;
}


static int
ref_json_tree_end(void *ctx)
{
    tokenroute_json_tree_t  *j = ctx;

    j->cur = j->cur->parent;
    j->depth--;

    return 1;
}


static int
ref_json_tree_start_array(void *ctx)
{
    return ref_json_tree_value(ctx, TOKENROUTE_JSON_T_ARRAY, NULL, 0);
}


