
/*
 * Copyright (C) tokenroute authors
 *
 * The request translator's JSON tree: the body parsed by yajl's
 * callbacks into linked values in an arena of chunks, freed at once;
 * lookups that read a repeated member and a null as the providers do;
 * checks of a value's type, and the error messages the translation
 * gives.
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "tokenroute_translate_int.h"


#define TR_CHUNK_SIZE          16384
#define TR_ALIGN               sizeof(void *)


typedef struct {
    tr_ctx_t                           *ctx;
    tr_val_t                           *root;
    tr_val_t                           *cur;      /* the open container */
    const char                         *key;
    size_t                              key_len;
    unsigned                            depth;
    unsigned                            nomem:1;
    unsigned                            deep:1;
} tr_parse_t;


static char *tr_strdup(tr_ctx_t *ctx, const char *s, size_t len);
static tr_val_t *tr_parse_add(tr_parse_t *ps, yajl_type type,
    const char *s, size_t len);
static int tr_parse_null(void *ctx);
static int tr_parse_boolean(void *ctx, int value);
static int tr_parse_number(void *ctx, const char *s, size_t len);
static int tr_parse_string(void *ctx, const unsigned char *s, size_t len);
static int tr_parse_start_map(void *ctx);
static int tr_parse_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int tr_parse_start_array(void *ctx);
static int tr_parse_end(void *ctx);


static const yajl_callbacks  tr_parse_callbacks = {
    tr_parse_null,
    tr_parse_boolean,
    NULL,
    NULL,
    tr_parse_number,
    tr_parse_string,
    tr_parse_start_map,
    tr_parse_map_key,
    tr_parse_end,
    tr_parse_start_array,
    tr_parse_end
};


int
tr_error(tr_ctx_t *ctx, const char *fmt, ...)
{
    va_list  ap;

    if (ctx->err != NULL && ctx->err_size > 0) {
        va_start(ap, fmt);
        vsnprintf(ctx->err, ctx->err_size, fmt, ap);
        va_end(ap);
    }

    return TR_REJECT;
}


/*
 * A client's string for an error message, cut short and with quotes,
 * backslashes, control and non-ASCII bytes made '?': the message goes
 * into a JSON error body and a log line.
 */

const char *
tr_name(tr_ctx_t *ctx, tr_val_t *v)
{
    size_t          i, n;
    unsigned char   c;

    if (v == NULL) {
        return "(none)";
    }

    switch (v->type) {

    case yajl_t_string:
        break;

    case yajl_t_number:
        return "(a number)";

    case yajl_t_object:
        return "(an object)";

    case yajl_t_array:
        return "(an array)";

    case yajl_t_true:
    case yajl_t_false:
        return "(a boolean)";

    default:
        return "(null)";
    }

    n = v->len < TR_NAME_MAX ? v->len : TR_NAME_MAX;

    for (i = 0; i < n; i++) {
        c = (unsigned char) v->str[i];
        ctx->name[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
                       ? '?' : (char) c;
    }

    if (n < v->len) {
        memcpy(&ctx->name[n], "...", 3);
        n += 3;
    }

    ctx->name[n] = '\0';

    return ctx->name;
}


void *
tr_alloc(tr_ctx_t *ctx, size_t size)
{
    char        *p;
    size_t       n;
    tr_chunk_t  *c;

    size = (size + TR_ALIGN - 1) & ~(TR_ALIGN - 1);

    c = ctx->chunks;

    if (c == NULL || c->size - c->used < size) {
        n = size > TR_CHUNK_SIZE ? size : TR_CHUNK_SIZE;

        c = malloc(sizeof(tr_chunk_t) + n);
        if (c == NULL) {
            return NULL;
        }

        c->size = n;
        c->used = 0;
        c->next = ctx->chunks;
        ctx->chunks = c;
    }

    p = (char *) (c + 1) + c->used;
    c->used += size;

    return p;
}


void *
tr_calloc(tr_ctx_t *ctx, size_t size)
{
    void  *p;

    p = tr_alloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    memset(p, 0, size);

    return p;
}


static char *
tr_strdup(tr_ctx_t *ctx, const char *s, size_t len)
{
    char  *p;

    p = tr_alloc(ctx, len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


/*
 * Parses p into *root; on invalid JSON returns TR_REJECT with a message
 * that starts with what.
 */

int
tr_parse(tr_ctx_t *ctx, const char *p, size_t len, tr_val_t **root,
    const char *what)
{
    tr_parse_t   ps;
    yajl_handle  h;
    yajl_status  st;

    memset(&ps, 0, sizeof(tr_parse_t));
    ps.ctx = ctx;

    h = yajl_alloc(&tr_parse_callbacks, NULL, &ps);
    if (h == NULL) {
        return TR_NOMEM;
    }

    st = yajl_parse(h, (const unsigned char *) p, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (ps.nomem) {
        return TR_NOMEM;
    }

    if (ps.deep) {
        return tr_error(ctx, "%s nests JSON deeper than %d levels", what,
                        TR_DEPTH_MAX);
    }

    if (st != yajl_status_ok || ps.root == NULL) {
        ctx->not_json = 1;
        return tr_error(ctx, "%s is not valid JSON", what);
    }

    *root = ps.root;

    return 0;
}


static tr_val_t *
tr_parse_add(tr_parse_t *ps, yajl_type type, const char *s, size_t len)
{
    tr_val_t  *v, *parent;

    v = tr_calloc(ps->ctx, sizeof(tr_val_t));
    if (v == NULL) {
        ps->nomem = 1;
        return NULL;
    }

    v->type = type;

    if (s != NULL) {
        v->str = tr_strdup(ps->ctx, s, len);
        if (v->str == NULL) {
            ps->nomem = 1;
            return NULL;
        }

        v->len = len;
    }

    parent = ps->cur;

    if (parent == NULL) {
        ps->root = v;
        return v;
    }

    if (parent->type == yajl_t_object) {
        v->key = ps->key;
        v->key_len = ps->key_len;
    }

    v->parent = parent;

    if (parent->last == NULL) {
        parent->first = v;

    } else {
        parent->last->next = v;
    }

    parent->last = v;
    parent->len++;

    return v;
}


static int
tr_parse_null(void *ctx)
{
    return tr_parse_add(ctx, yajl_t_null, NULL, 0) != NULL;
}


static int
tr_parse_boolean(void *ctx, int value)
{
    return tr_parse_add(ctx, value ? yajl_t_true : yajl_t_false, NULL, 0)
           != NULL;
}


static int
tr_parse_number(void *ctx, const char *s, size_t len)
{
    return tr_parse_add(ctx, yajl_t_number, s, len) != NULL;
}


static int
tr_parse_string(void *ctx, const unsigned char *s, size_t len)
{
    return tr_parse_add(ctx, yajl_t_string, (const char *) s, len) != NULL;
}


static int
tr_parse_start_map(void *ctx)
{
    tr_val_t    *v;
    tr_parse_t  *ps = ctx;

    if (++ps->depth > TR_DEPTH_MAX) {
        ps->deep = 1;
        return 0;
    }

    v = tr_parse_add(ps, yajl_t_object, NULL, 0);
    if (v == NULL) {
        return 0;
    }

    ps->cur = v;

    return 1;
}


static int
tr_parse_map_key(void *ctx, const unsigned char *key, size_t len)
{
    tr_parse_t  *ps = ctx;

    ps->key = tr_strdup(ps->ctx, (const char *) key, len);
    if (ps->key == NULL) {
        ps->nomem = 1;
        return 0;
    }

    ps->key_len = len;

    return 1;
}


static int
tr_parse_start_array(void *ctx)
{
    tr_val_t    *v;
    tr_parse_t  *ps = ctx;

    if (++ps->depth > TR_DEPTH_MAX) {
        ps->deep = 1;
        return 0;
    }

    v = tr_parse_add(ps, yajl_t_array, NULL, 0);
    if (v == NULL) {
        return 0;
    }

    ps->cur = v;

    return 1;
}


static int
tr_parse_end(void *ctx)
{
    tr_parse_t  *ps = ctx;

    ps->cur = ps->cur->parent;
    ps->depth--;

    return 1;
}


/*
 * The member named key; the last one if the name repeats, as most JSON
 * parsers (and so the providers) read it.  A null is no member.
 */

tr_val_t *
tr_get(tr_val_t *obj, const char *key)
{
    size_t     len;
    tr_val_t  *v, *found;

    if (obj == NULL || obj->type != yajl_t_object) {
        return NULL;
    }

    len = strlen(key);
    found = NULL;

    for (v = obj->first; v != NULL; v = v->next) {
        if (v->key_len == len && memcmp(v->key, key, len) == 0) {
            found = v;
        }
    }

    if (found != NULL && found->type == yajl_t_null) {
        return NULL;
    }

    return found;
}


/* an absent v passes; yajl_t_true stands for either boolean */

int
tr_check(tr_ctx_t *ctx, tr_val_t *v, yajl_type type, const char *what)
{
    const char  *name;

    if (v == NULL || v->type == type
        || (type == yajl_t_true && v->type == yajl_t_false))
    {
        return 0;
    }

    switch (type) {

    case yajl_t_string:
        name = "a string";
        break;

    case yajl_t_number:
        name = "a number";
        break;

    case yajl_t_object:
        name = "an object";
        break;

    case yajl_t_array:
        name = "an array";
        break;

    default:
        name = "a boolean";
        break;
    }

    return tr_error(ctx, "%s must be %s", what, name);
}


/* 0 if v is a number written as an integer that fits a long long */

int
tr_integer(tr_val_t *v, long long *n)
{
    char  *end;

    if (v == NULL || v->type != yajl_t_number
        || strpbrk(v->str, ".eE") != NULL)
    {
        return -1;
    }

    errno = 0;
    *n = strtoll(v->str, &end, 10);

    if (errno != 0 || *end != '\0') {
        return -1;
    }

    return 0;
}
