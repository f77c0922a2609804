
/*
 * Copyright (C) tokenroute authors
 *
 * Writing the translated request with yajl_gen: its failures gathered in
 * the context, values copied from the parsed tree, texts joined into one
 * string, and the "model" every translation starts with.
 */


#include <string.h>

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


void
tr_gen_status(tr_ctx_t *ctx, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok) {
        ctx->gen_failed = 1;
    }
}


void
tr_gen_string(tr_ctx_t *ctx, const char *s, size_t len)
{
    tr_gen_status(ctx, yajl_gen_string(ctx->gen, (const unsigned char *) s,
                                       len));
}


void
tr_gen_key(tr_ctx_t *ctx, const char *key)
{
    tr_gen_string(ctx, key, strlen(key));
}


void
tr_gen_pair(tr_ctx_t *ctx, const char *key, const char *value)
{
    tr_gen_string(ctx, key, strlen(key));
    tr_gen_string(ctx, value, strlen(value));
}


void
tr_gen_map(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_map_open(ctx->gen));
}


void
tr_gen_map_end(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_map_close(ctx->gen));
}


void
tr_gen_array(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_array_open(ctx->gen));
}


void
tr_gen_array_end(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_array_close(ctx->gen));
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
        tr_gen_status(ctx, yajl_gen_number(ctx->gen, v->str, v->len));
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
        tr_gen_status(ctx, yajl_gen_bool(ctx->gen, v->type == yajl_t_true));
        break;

    default:
        tr_gen_status(ctx, yajl_gen_null(ctx->gen));
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
    size_t                n;
    yajl_gen              g, saved;
    const unsigned char  *buf;

    if (v == NULL) {
        tr_gen_string(ctx, "{}", 2);
        return 0;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return TR_NOMEM;
    }

    saved = ctx->gen;
    ctx->gen = g;
    tr_gen_value(ctx, v);
    ctx->gen = saved;

    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok) {
        ctx->gen_failed = 1;

    } else {
        tr_gen_string(ctx, (const char *) buf, n);
    }

    yajl_gen_free(g);

    return 0;
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
