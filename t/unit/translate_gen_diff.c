
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the request translator's writer
 * (src/tokenroute_translate_gen.c) against yajl_gen, which it replaced:
 * the values of generated texts written both ways (as a value, and as
 * JSON text inside a string, the way tool arguments go), and integers,
 * must come out byte for byte the same: separators, the escapes of
 * quotes, backslashes and controls (\u00XX in capitals), '/', DEL and
 * UTF-8 as they are.  TOKENROUTE_FUZZ_ROUNDS and TOKENROUTE_FUZZ_SEED
 * change the run.  Prints TAP.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include <tokenroute_translate_int.h>

#include "json_gen.h"
#include "tap.h"


static void ref_value(yajl_gen g, tr_val_t *v);
static int ref_json(yajl_gen g, tr_val_t *v);
static int compare(tr_ctx_t *ctx, yajl_gen g, const char *what,
    const unsigned char *text, size_t len);
static void ref_escaped(buf_t *b, const unsigned char *p, size_t n);


int
main(void)
{
    int                      rounds, r, i, n, written, bad, bad_int;
    int                      bad_add_int, bad_escaped;
    char                    *env, num[32];
    buf_t                    b;
    long long                v;
    yajl_gen                 g;
    tr_ctx_t                 ctx;
    tokenroute_json_tree_t   j;
    tokenroute_json_buf_t    ob;

    env = getenv("TOKENROUTE_FUZZ_ROUNDS");
    rounds = env ? atoi(env) : 100000;

    env = getenv("TOKENROUTE_FUZZ_SEED");
    if (env) {
        seed = strtoull(env, NULL, 0) | 1;
    }

    printf("# seed %#llx, %d rounds\n", (unsigned long long) seed, rounds);

    memset(&b, 0, sizeof(buf_t));
    memset(&j, 0, sizeof(tokenroute_json_tree_t));

    j.max_depth = TR_DEPTH_MAX;

    written = 0;
    bad = 0;
    bad_int = 0;
    bad_add_int = 0;
    bad_escaped = 0;

    for (r = 0; r < rounds; r++) {
        b.len = 0;

        gen_value(&b, 0);

        n = rnd(5);

        for (i = 0; i < n - 3; i++) {
            mutate(&b);
        }

        if (tokenroute_json_tree_parse(&j, (char *) b.data, b.len, NULL)
            != 0)
        {
            continue;
        }

        written++;

        /* the value itself */

        memset(&ctx, 0, sizeof(tr_ctx_t));
        ctx.gen = &ctx.out;
        g = yajl_gen_alloc(NULL);
        if (g == NULL) {
            return 2;
        }

        tr_gen_value(&ctx, j.root);
        ref_value(g, j.root);

        bad += compare(&ctx, g, "value", b.data, b.len);

        /* as JSON text in a string, in a map */

        memset(&ctx, 0, sizeof(tr_ctx_t));
        ctx.gen = &ctx.out;
        g = yajl_gen_alloc(NULL);
        if (g == NULL) {
            return 2;
        }

        tr_gen_map(&ctx);
        tr_gen_key(&ctx, "arguments");

        if (tr_gen_json(&ctx, j.root) != 0) {
            return 2;
        }

        tr_gen_map_end(&ctx);

        yajl_gen_map_open(g);
        yajl_gen_string(g, (const unsigned char *) "arguments", 9);

        if (ref_json(g, j.root) != 0) {
            return 2;
        }

        yajl_gen_map_close(g);

        bad += compare(&ctx, g, "json in a string", b.data, b.len);
    }

    for (r = 0; r < 1000; r++) {
        v = (long long) (((uint64_t) rnd(1u << 31) << 33)
                         ^ ((uint64_t) rnd(1u << 31) << 2) ^ rnd(4));
        v = (r < 3) ? (r == 0 ? 0 : (r == 1 ? INT64_MAX : INT64_MIN))
                    : (rnd(2) ? v : v % 1000);

        memset(&ctx, 0, sizeof(tr_ctx_t));
        ctx.gen = &ctx.out;
        g = yajl_gen_alloc(NULL);
        if (g == NULL) {
            return 2;
        }

        tr_gen_array(&ctx);
        tr_gen_integer(&ctx, v);
        tr_gen_null(&ctx);
        tr_gen_bool(&ctx, r & 1);
        tr_gen_array_end(&ctx);

        yajl_gen_array_open(g);
        yajl_gen_integer(g, v);
        yajl_gen_null(g);
        yajl_gen_bool(g, r & 1);
        yajl_gen_array_close(g);

        bad_int += compare(&ctx, g, "integer", NULL, 0);

        /* the output buffer's own integers, as "%lld" */

        memset(&ob, 0, sizeof(tokenroute_json_buf_t));
        tokenroute_json_add_int(&ob, v);
        n = snprintf(num, sizeof(num), "%lld", v);

        if (ob.failed || ob.len != (size_t) n
            || memcmp(ob.data, num, n) != 0)
        {
            if (bad_add_int++ == 0) {
                printf("# tokenroute_json_add_int(%lld) differs\n", v);
            }
        }

        tokenroute_json_buf_free(&ob);
    }

    /* the output buffer's escaping (lowercase hex) of random bytes */

    for (r = 0; r < 20000; r++) {
        size_t               k, len;
        unsigned char        raw[80];
        static const char    odd[] = "\"\\/\x01\x1f\x7f\x80\xff\t\n\r\b\f";

        len = rnd(sizeof(raw));

        for (k = 0; k < len; k++) {
            raw[k] = rnd(4) ? (unsigned char) ('a' + rnd(26))
                            : (unsigned char) odd[rnd(sizeof(odd) - 1)];
        }

        memset(&ob, 0, sizeof(tokenroute_json_buf_t));
        b.len = 0;

        tokenroute_json_add_escaped(&ob, (char *) raw, len);
        ref_escaped(&b, raw, len);

        if (ob.failed || ob.len != b.len
            || (b.len != 0 && memcmp(ob.data, b.data, b.len) != 0))
        {
            if (bad_escaped++ == 0) {
                diag_text("tokenroute_json_add_escaped() differs on", raw,
                          len);
            }
        }

        tokenroute_json_buf_free(&ob);
    }

    ok(bad_escaped == 0, "tokenroute_json_add_escaped() as it escaped "
       "byte by byte (%d differ)", bad_escaped);
    ok(bad == 0, "%d values written as yajl_gen writes them (%d differ)",
       written, bad);
    ok(written >= rounds / 4, "%d of %d texts valid", written, rounds);
    ok(bad_int == 0, "integers, null and booleans as yajl_gen (%d differ)",
       bad_int);
    ok(bad_add_int == 0, "tokenroute_json_add_int() as \"%%lld\" (%d differ)",
       bad_add_int);

    tokenroute_json_tree_free(&j);
    free(b.data);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


/* 1 if they differ; frees both writers */

static int
compare(tr_ctx_t *ctx, yajl_gen g, const char *what,
    const unsigned char *text, size_t len)
{
    int                   differ;
    size_t                n;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok) {
        exit(2);
    }

    differ = ctx->gen_failed || ctx->out.buf.failed
             || n != ctx->out.buf.len
             || (n != 0 && memcmp(buf, ctx->out.buf.data, n) != 0);

    if (differ && bad_shown++ < 5) {
        printf("# %s differs\n", what);

        if (text != NULL) {
            diag_text("on", text, len);
        }

        diag_text("mine", (unsigned char *) ctx->out.buf.data,
                  ctx->out.buf.len);
        diag_text("yajl", buf, n);
    }

    tokenroute_json_buf_free(&ctx->out.buf);
    yajl_gen_free(g);

    return differ;
}


/* tr_gen_value() as it was, over yajl_gen */

static void
ref_value(yajl_gen g, tr_val_t *v)
{
    tr_val_t  *e;

    switch (v->type) {

    case yajl_t_string:
        yajl_gen_string(g, (const unsigned char *) v->str, v->len);
        break;

    case yajl_t_number:
        yajl_gen_number(g, v->str, v->len);
        break;

    case yajl_t_object:
        yajl_gen_map_open(g);

        for (e = v->first; e != NULL; e = e->next) {
            yajl_gen_string(g, (const unsigned char *) e->key, e->key_len);
            ref_value(g, e);
        }

        yajl_gen_map_close(g);
        break;

    case yajl_t_array:
        yajl_gen_array_open(g);

        for (e = v->first; e != NULL; e = e->next) {
            ref_value(g, e);
        }

        yajl_gen_array_close(g);
        break;

    case yajl_t_true:
    case yajl_t_false:
        yajl_gen_bool(g, v->type == yajl_t_true);
        break;

    default:
        yajl_gen_null(g);
        break;
    }
}


static int
ref_json(yajl_gen g, tr_val_t *v)
{
    size_t                n;
    yajl_gen              inner;
    const unsigned char  *buf;

    inner = yajl_gen_alloc(NULL);
    if (inner == NULL) {
        return -1;
    }

    ref_value(inner, v);

    if (yajl_gen_get_buf(inner, &buf, &n) != yajl_gen_status_ok) {
        yajl_gen_free(inner);
        return -1;
    }

    yajl_gen_string(g, buf, n);
    yajl_gen_free(inner);

    return 0;
}


/* tokenroute_json_add_escaped() as it was: one byte at a time */

static void
ref_escaped(buf_t *b, const unsigned char *p, size_t n)
{
    char           esc[8];
    size_t         i;
    unsigned char  c;

    for (i = 0; i < n; i++) {
        c = p[i];

        switch (c) {

        case '"':
            puts_(b, "\\\"");
            break;

        case '\\':
            puts_(b, "\\\\");
            break;

        case '\n':
            puts_(b, "\\n");
            break;

        case '\r':
            puts_(b, "\\r");
            break;

        case '\t':
            puts_(b, "\\t");
            break;

        case '\b':
            puts_(b, "\\b");
            break;

        case '\f':
            puts_(b, "\\f");
            break;

        default:
            if (c < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                puts_(b, esc);

            } else {
                put(b, &c, 1);
            }

            break;
        }
    }
}
