
/*
 * Copyright (C) tokenroute authors
 *
 * The request translator's memory, in chunks freed at once; its JSON
 * parsed into tokenroute_json_tree's values, kept in those chunks;
 * lookups that read a repeated member and a null as the providers do;
 * checks of a value's type, and the error messages the translation
 * gives.
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_translate_int.h"


static void tr_keep(tr_ctx_t *ctx, tokenroute_json_tree_t *j);


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
    return tokenroute_json_alloc(&ctx->chunks, &ctx->chunk, size);
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


/*
 * Parses p into *root; on invalid JSON returns TR_REJECT with a message
 * that starts with what.
 */

int
tr_parse(tr_ctx_t *ctx, const char *p, size_t len, tr_val_t **root,
    const char *what)
{
    int                     rc;
    tokenroute_json_tree_t  j;

    memset(&j, 0, sizeof(tokenroute_json_tree_t));

    /* the providers reject invalid UTF-8 and very deep nesting */
    j.validate = 1;
    j.max_depth = TR_DEPTH_MAX;

    rc = tokenroute_json_tree_parse(&j, p, len, NULL);

    tr_keep(ctx, &j);

    if (rc == -2) {
        return TR_NOMEM;
    }

    if (rc == -3) {
        return tr_error(ctx, "%s nests JSON deeper than %d levels", what,
                        TR_DEPTH_MAX);
    }

    if (rc != 0) {
        ctx->not_json = 1;
        return tr_error(ctx, "%s is not valid JSON", what);
    }

    *root = j.root;

    return 0;
}


/*
 * The tree's chunks join the translation's, to be freed with them; they
 * go after the chunk tr_alloc() uses, which keeps its room.
 */

static void
tr_keep(tr_ctx_t *ctx, tokenroute_json_tree_t *j)
{
    tr_chunk_t  *c;

    if (j->chunks == NULL) {
        return;
    }

    for (c = j->chunks; c->next != NULL; c = c->next) { /* void */ }

    if (ctx->chunk != NULL) {
        c->next = ctx->chunk->next;
        ctx->chunk->next = j->chunks;

    } else {
        c->next = ctx->chunks;
        ctx->chunks = j->chunks;
    }

    j->chunks = NULL;
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


/*
 * 0 if v is a number written as an integer that fits a long long; most
 * without strtoll().
 */

int
tr_integer(tr_val_t *v, long long *n)
{
    char        *end;
    int64_t      r;
    const char  *s;

    if (v == NULL || v->type != yajl_t_number) {
        return -1;
    }

    s = v->str;

    if (tokenroute_json_small_int(s, v->len, &r)) {
        *n = r;
        return 0;
    }

    if (strpbrk(s, ".eE") != NULL) {
        return -1;
    }

    errno = 0;
    *n = strtoll(s, &end, 10);

    if (errno != 0 || *end != '\0') {
        return -1;
    }

    return 0;
}


/*
 * 1 if number v is above 1 as strtod() reads it.  Without an exponent
 * the integer part mostly tells: negative or 0 is below, 2 and up (or
 * two digits: JSON has no leading zeros) above; 1.x, where rounding
 * decides, and exponents go to strtod().
 */

int
tr_above_one(tr_val_t *v)
{
    size_t       i;
    const char  *s;

    s = v->str;

    for (i = 0; i < v->len; i++) {
        if (s[i] == 'e' || s[i] == 'E') {
            return strtod(s, NULL) > 1.0;
        }
    }

    if (s[0] == '-' || s[0] == '0') {
        return 0;
    }

    if (s[0] != '1' || (s[1] >= '0' && s[1] <= '9')) {
        return 1;
    }

    return strtod(s, NULL) > 1.0;
}
