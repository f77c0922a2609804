
/*
 * Copyright (C) tokenroute authors
 *
 * Request bodies from OpenAI Chat Completions to Anthropic Messages and
 * back.  The body is parsed into a tree in an arena, checked, and written
 * anew (as yajl_gen wrote it); nothing is sent that was not understood.
 *
 * The files: this one is the entry point (and the copy when both shapes
 * are the same); _tree.c parses the body, _gen.c writes the new one;
 * _oa*.c translate OpenAI requests to Anthropic's shape, _ao*.c the
 * other way.
 *
 * JSON null counts as absent everywhere: SDKs send it for unset fields.
 */


#include <stdlib.h>
#include <string.h>

#include "tokenroute_translate_int.h"


static int tr_same(tr_ctx_t *ctx, tr_val_t *root, int to);


int
tokenroute_translate_request(int from, int to, const unsigned char *body,
    size_t len, const tokenroute_translate_opts_t *opts, unsigned char **out,
    size_t *out_len, char *err, size_t err_size)
{
    int        rc;
    tr_ctx_t   ctx;
    tr_val_t  *root;

    *out = NULL;
    *out_len = 0;

    if (err != NULL && err_size > 0) {
        err[0] = '\0';
    }

    memset(&ctx, 0, sizeof(tr_ctx_t));
    ctx.opts = opts;
    ctx.err = err;
    ctx.err_size = err_size;

    if ((from != TOKENROUTE_SHAPE_OPENAI && from != TOKENROUTE_SHAPE_ANTHROPIC)
        || (to != TOKENROUTE_SHAPE_OPENAI && to != TOKENROUTE_SHAPE_ANTHROPIC))
    {
        return tr_error(&ctx, "cannot translate from API %d to API %d",
                        from, to);
    }

    rc = tr_parse(&ctx, (const char *) body, len, &root, "The request body");
    if (rc != 0) {
        /* not JSON text (RFC 8259: UTF-8 too): the body's fault, no field's */
        rc = (rc == TR_REJECT && ctx.not_json) ? TR_NOT_JSON : rc;
        goto done;
    }

    if (root->type != yajl_t_object) {
        rc = tr_error(&ctx, "The request body must be a JSON object");
        goto done;
    }

    ctx.gen = &ctx.out;

    /* the request comes out about as long as it came in */
    if (tokenroute_json_reserve(&ctx.out.buf, len + len / 4 + 256) != 0) {
        rc = TR_NOMEM;
        goto done;
    }

    if (from == to) {
        rc = tr_same(&ctx, root, to);

    } else if (from == TOKENROUTE_SHAPE_OPENAI) {
        rc = tr_oa(&ctx, root);

    } else {
        rc = tr_ao(&ctx, root);
    }

    if (rc != 0) {
        goto done;
    }

    /*
     * The writer fails only on misuse (keys that are not strings, unbalanced
     * containers, depth), which the code and TR_DEPTH_MAX rule out.
     */
    if (ctx.gen_failed) {
        (void) tr_error(&ctx, "internal error while writing the request");
        rc = TR_NOMEM;
        goto done;
    }

    if (ctx.out.buf.failed) {
        rc = TR_NOMEM;
        goto done;
    }

    /* the buffer is the caller's now, to free() */
    *out = (unsigned char *) ctx.out.buf.data;
    *out_len = ctx.out.buf.len;
    ctx.out.buf.data = NULL;

done:

    tokenroute_json_buf_free(&ctx.out.buf);

    tokenroute_json_chunks_free(&ctx.chunks);

    if (rc == TR_NOMEM && (err == NULL || err_size == 0 || err[0] == '\0')) {
        (void) tr_error(&ctx, "out of memory while translating the request");
    }

    return rc;
}


/* the same API: a copy with the model replaced and usage asked for */

static int
tr_same(tr_ctx_t *ctx, tr_val_t *root, int to)
{
    int        usage;
    tr_val_t  *v, *e, *so;

    v = tr_get(root, "stream");
    so = tr_get(root, "stream_options");

    usage = (to == TOKENROUTE_SHAPE_OPENAI && ctx->opts != NULL
             && ctx->opts->include_usage
             && v != NULL && v->type == yajl_t_true);

    tr_gen_map(ctx);

    if (tr_gen_model(ctx, root) != 0) {
        return TR_REJECT;
    }

    for (v = root->first; v != NULL; v = v->next) {

        if (tr_str_is(v->key, v->key_len, "model")
            || (usage && tr_str_is(v->key, v->key_len, "stream_options")))
        {
            continue;
        }

        tr_gen_string(ctx, v->key, v->key_len);
        tr_gen_value(ctx, v);
    }

    if (usage) {
        tr_gen_key(ctx, "stream_options");
        tr_gen_map(ctx);

        if (so != NULL && so->type == yajl_t_object) {
            for (e = so->first; e != NULL; e = e->next) {
                if (!tr_str_is(e->key, e->key_len, "include_usage")) {
                    tr_gen_string(ctx, e->key, e->key_len);
                    tr_gen_value(ctx, e);
                }
            }
        }

        tr_gen_key(ctx, "include_usage");
        tr_gen_bool(ctx, 1);
        tr_gen_map_end(ctx);
    }

    tr_gen_map_end(ctx);

    return 0;
}
