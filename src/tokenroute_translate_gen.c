
/*
 * Copyright (C) tokenroute authors
 *
 * Writing the translated request as yajl_gen did, byte for byte, in a
 * buffer of our own: its failures gathered in the context, values copied
 * from the parsed tree, texts joined into one string, and the "model"
 * every translation starts with.
 */


#include <string.h>

#include "tokenroute_json_esc.h"
#include "tokenroute_translate_int.h"


static int tr_text_string(tr_ctx_t *ctx, tr_text_t *text,
    const char *prefix, const char **s, size_t *len);


/*
 * Several texts that become one string are joined with a blank line:
 * OpenAI system messages into Anthropic's single "system", Anthropic text
 * blocks into the single string content every OpenAI-compatible host
 * accepts (many reject content arrays in some roles).  A blank line keeps
 * them apart the way separate paragraphs are; empty texts are skipped.
 */

int
tr_text_add(tr_ctx_t *ctx, tr_text_t *text, const char *s, size_t len)
{
    tr_piece_t  *pc;

    if (len == 0) {
        return 0;
    }

    pc = tr_alloc(ctx, sizeof(tr_piece_t));
    if (pc == NULL) {
        return TR_NOMEM;
    }

    pc->next = NULL;
    pc->data = s;
    pc->len = len;

    if (text->last == NULL) {
        text->first = pc;

    } else {
        text->last->next = pc;
    }

    text->last = pc;
    text->n++;
    text->len += len;

    return 0;
}


static int
tr_text_string(tr_ctx_t *ctx, tr_text_t *text, const char *prefix,
    const char **s, size_t *len)
{
    char        *p;
    size_t       n, plen;
    tr_piece_t  *pc;

    plen = (prefix != NULL) ? strlen(prefix) : 0;

    if (plen == 0 && text->n <= 1) {
        *s = (text->n == 1) ? text->first->data : "";
        *len = (text->n == 1) ? text->first->len : 0;
        return 0;
    }

    n = plen + text->len + (text->n > 1 ? 2 * (text->n - 1) : 0);

    p = tr_alloc(ctx, n + 1);
    if (p == NULL) {
        return TR_NOMEM;
    }

    *s = p;
    *len = n;

    if (plen > 0) {
        memcpy(p, prefix, plen);
        p += plen;
    }

    for (pc = text->first; pc != NULL; pc = pc->next) {

        if (pc != text->first) {
            *p++ = '\n';
            *p++ = '\n';
        }

        memcpy(p, pc->data, pc->len);
        p += pc->len;
    }

    *p = '\0';

    return 0;
}


/*
 * The writer: yajl_gen's compact output and its checks, in a buffer of
 * our own.  Before a value: ',' after a member or an element, ':' after
 * a key; a value where a key belongs, a value after the document, or
 * nesting deeper than yajl_gen's 128 levels fail the translation, as
 * yajl_gen's errors did.
 */

static TOKENROUTE_JSON_INLINE int
tr_gen_begin(tr_ctx_t *ctx, unsigned not_key)
{
    unsigned   s;
    tr_gen_t  *g;

    g = ctx->gen;
    s = g->state[g->depth];

    if (s == TR_GEN_COMPLETE
        || (not_key && (s == TR_GEN_MAP_KEY || s == TR_GEN_MAP_START)))
    {
        ctx->gen_failed = 1;
        return -1;
    }

    if (s == TR_GEN_MAP_KEY || s == TR_GEN_IN_ARRAY) {
        tokenroute_json_add_lit(&g->buf, ",");

    } else if (s == TR_GEN_MAP_VAL) {
        tokenroute_json_add_lit(&g->buf, ":");
    }

    return 0;
}


/* what follows a value at the current depth */

static TOKENROUTE_JSON_INLINE void
tr_gen_atom(tr_gen_t *g)
{
    switch (g->state[g->depth]) {

    case TR_GEN_START:
        g->state[g->depth] = TR_GEN_COMPLETE;
        break;

    case TR_GEN_MAP_START:
    case TR_GEN_MAP_KEY:
        g->state[g->depth] = TR_GEN_MAP_VAL;
        break;

    case TR_GEN_ARRAY_START:
        g->state[g->depth] = TR_GEN_IN_ARRAY;
        break;

    case TR_GEN_MAP_VAL:
        g->state[g->depth] = TR_GEN_MAP_KEY;
        break;
    }
}


static void
tr_gen_open(tr_ctx_t *ctx, unsigned state, const char *bracket)
{
    tr_gen_t  *g;

    if (tr_gen_begin(ctx, 1) != 0) {
        return;
    }

    g = ctx->gen;

    if (g->depth + 1 >= TR_GEN_DEPTH_MAX) {
        ctx->gen_failed = 1;
        return;
    }

    g->state[++g->depth] = state;
    tokenroute_json_add(&g->buf, bracket, 1);
}


static void
tr_gen_close(tr_ctx_t *ctx, const char *bracket)
{
    tr_gen_t  *g;

    g = ctx->gen;

    if (g->depth == 0) {
        ctx->gen_failed = 1;
        return;
    }

    g->depth--;
    tr_gen_atom(g);
    tokenroute_json_add(&g->buf, bracket, 1);
}


void
tr_gen_string(tr_ctx_t *ctx, const char *s, size_t len)
{
    tr_gen_t  *g;

    if (tr_gen_begin(ctx, 0) != 0) {
        return;
    }

    g = ctx->gen;

    /* \u00XX in capitals, as yajl_gen wrote them */
    tokenroute_json_add_lit(&g->buf, "\"");
    tokenroute_json_esc_write(&g->buf, s, len, "0123456789ABCDEF");
    tokenroute_json_add_lit(&g->buf, "\"");

    tr_gen_atom(g);
}


/* a literal, a number's text: no key */

static void
tr_gen_raw(tr_ctx_t *ctx, const char *s, size_t len)
{
    if (tr_gen_begin(ctx, 1) != 0) {
        return;
    }

    tokenroute_json_add(&ctx->gen->buf, s, len);
    tr_gen_atom(ctx->gen);
}


void
tr_gen_bool(tr_ctx_t *ctx, int value)
{
    if (value) {
        tr_gen_raw(ctx, "true", 4);

    } else {
        tr_gen_raw(ctx, "false", 5);
    }
}


void
tr_gen_null(tr_ctx_t *ctx)
{
    tr_gen_raw(ctx, "null", 4);
}


void
tr_gen_integer(tr_ctx_t *ctx, long long v)
{
    if (tr_gen_begin(ctx, 1) != 0) {
        return;
    }

    tokenroute_json_add_int(&ctx->gen->buf, v);
    tr_gen_atom(ctx->gen);
}


/* a string written with its quotes already, as tr_gen_key() gives it */

void
tr_gen_lit(tr_ctx_t *ctx, const char *s, size_t len)
{
    if (tr_gen_begin(ctx, 0) != 0) {
        return;
    }

    tokenroute_json_add(&ctx->gen->buf, s, len);
    tr_gen_atom(ctx->gen);
}


void
tr_gen_map(tr_ctx_t *ctx)
{
    tr_gen_open(ctx, TR_GEN_MAP_START, "{");
}


void
tr_gen_map_end(tr_ctx_t *ctx)
{
    tr_gen_close(ctx, "}");
}


void
tr_gen_array(tr_ctx_t *ctx)
{
    tr_gen_open(ctx, TR_GEN_ARRAY_START, "[");
}


void
tr_gen_array_end(tr_ctx_t *ctx)
{
    tr_gen_close(ctx, "]");
}


/* numbers keep their text, so 0.7 stays 0.7 and big integers stay exact */

void
tr_gen_value(tr_ctx_t *ctx, tr_val_t *v)
{
    tr_val_t  *e;

    switch (v->type) {

    case yajl_t_string:
        tr_gen_string(ctx, v->str, v->len);
        break;

    case yajl_t_number:
        tr_gen_raw(ctx, v->str, v->len);
        break;

    case yajl_t_object:
        tr_gen_map(ctx);

        for (e = v->first; e != NULL; e = e->next) {
            tr_gen_string(ctx, e->key, e->key_len);
            tr_gen_value(ctx, e);
        }

        tr_gen_map_end(ctx);
        break;

    case yajl_t_array:
        tr_gen_array(ctx);

        for (e = v->first; e != NULL; e = e->next) {
            tr_gen_value(ctx, e);
        }

        tr_gen_array_end(ctx);
        break;

    case yajl_t_true:
    case yajl_t_false:
        tr_gen_bool(ctx, v->type == yajl_t_true);
        break;

    default:
        tr_gen_null(ctx);
        break;
    }
}


int
tr_gen_text(tr_ctx_t *ctx, tr_text_t *text, const char *prefix)
{
    size_t       len;
    const char  *s;

    if (tr_text_string(ctx, text, prefix, &s, &len) != 0) {
        return TR_NOMEM;
    }

    tr_gen_string(ctx, s, len);

    return 0;
}


/* v (an absent one as {}) encoded as JSON text inside a string */

int
tr_gen_json(tr_ctx_t *ctx, tr_val_t *v)
{
    int        rc;
    tr_gen_t  *saved, g;

    if (v == NULL) {
        tr_gen_string(ctx, "{}", 2);
        return 0;
    }

    memset(&g, 0, sizeof(tr_gen_t));

    saved = ctx->gen;
    ctx->gen = &g;
    tr_gen_value(ctx, v);
    ctx->gen = saved;

    rc = 0;

    if (g.buf.failed) {
        rc = TR_NOMEM;

    } else {
        tr_gen_string(ctx, g.buf.data, g.buf.len);
    }

    tokenroute_json_buf_free(&g.buf);

    return rc;
}


void
tr_gen_empty_schema(tr_ctx_t *ctx)
{
    tr_gen_map(ctx);
    tr_gen_pair(ctx, "type", "object");
    tr_gen_key(ctx, "properties");
    tr_gen_map(ctx);
    tr_gen_map_end(ctx);
    tr_gen_map_end(ctx);
}


int
tr_gen_model(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t  *v;

    tr_gen_key(ctx, "model");

    if (ctx->opts != NULL && ctx->opts->model != NULL) {
        tr_gen_string(ctx, ctx->opts->model, ctx->opts->model_len);
        return 0;
    }

    v = tr_get(root, "model");

    if (v == NULL || v->type != yajl_t_string) {
        return tr_error(ctx, "\"model\" must be a string");
    }

    tr_gen_value(ctx, v);

    return 0;
}
