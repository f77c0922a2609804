
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the request scan (src/tokenroute_request.c and its
 * tokenizer, src/tokenroute_json_scan.c, src/tokenroute_json_value.c)
 * against the yajl-based scan of t/unit/request_ref.h, then the rewrite:
 * a body that scans is rewritten with a new model (and asked for stream
 * usage, without its "models" chain), which must fit the size promised
 * and scan again with the new values.  Input: a flags byte, then the
 * body.  The scan differs from yajl where tokenroute_json_scan.h says
 * (\v and \f, nesting past TOKENROUTE_JSON_DEPTH_MAX, an open string
 * after the value): such texts are not compared.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_json_scan.h>
#include <tokenroute_request.h>

#include "request_ref.h"

#include "fuzz.h"


static const char  *models[4] = {
    "gpt-4o-mini", "", "a\"b\\c\x01\xc3\xa9", "claude/sonnet-4.5:beta"
};


/* the differences from yajl that tokenroute_json_scan.h documents */

static int
known_difference(const unsigned char *text, size_t len)
{
    size_t                    i, n, open;
    unsigned char            *tail;
    const unsigned char      *p, *last;
    tokenroute_json_scan_t    js;
    tokenroute_json_token_e   t;

    open = 0;

    for (i = 0; i < len; i++) {
        if (text[i] == '\v' || text[i] == '\f') {
            return 1;
        }

        open += (text[i] == '[' || text[i] == '{');
    }

    if (open > TOKENROUTE_JSON_DEPTH_MAX) {
        return 1;
    }

    /* yajl lets a string after the value through if it is still open */

    tokenroute_json_scan_init(&js, text, len);

    do {
        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_ERROR || t == TOKENROUTE_JSON_END) {
            return 0;
        }

    } while (js.depth != 0);

    last = text + len;

    for (p = js.end; p < last && *p && strchr(" \t\n\r", *p); p++) {
        /* void */
    }

    if (p == last || *p != '"') {
        return 0;
    }

    n = last - p;

    tail = malloc(n + 2);
    fuzz_check(tail != NULL, "out of memory");

    memcpy(tail, p, n);
    memcpy(tail + n, " \"", 2);

    tokenroute_json_scan_init(&js, tail, n + 2);
    open = (tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_STRING
            && js.end == tail + n + 2);

    free(tail);

    return open;
}


static void
check_same(const tokenroute_request_t *a, const tokenroute_request_t *b,
    tokenroute_request_status_e sa, tokenroute_request_status_e sb)
{
    int  i;

    fuzz_check(sa == sb, "status as yajl");
    fuzz_check(strcmp(a->model, b->model) == 0
               && a->model_len == b->model_len
               && a->model_start == b->model_start
               && a->model_end == b->model_end, "model as yajl");
    fuzz_check(a->stream == b->stream
               && a->max_tokens == b->max_tokens
               && a->object_start == b->object_start, "fields as yajl");
    fuzz_check(a->include_usage == b->include_usage
               && a->stream_options == b->stream_options
               && a->stream_options_empty == b->stream_options_empty
               && a->stream_options_start == b->stream_options_start
               && a->stream_options_end == b->stream_options_end,
               "stream_options as yajl");
    fuzz_check(a->nmodels == b->nmodels
               && a->models_start == b->models_start
               && a->models_end == b->models_end, "models as yajl");
    fuzz_check((a->bad_field == NULL) == (b->bad_field == NULL)
               && (a->bad_field == NULL
                   || strcmp(a->bad_field, b->bad_field) == 0),
               "bad field as yajl");

    for (i = 0; i < a->nmodels; i++) {
        fuzz_check(strcmp(a->models[i], b->models[i]) == 0,
                   "chain as yajl");
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                        len, n, want;
    unsigned                      flags;
    unsigned char                *out;
    tokenroute_rewrite_t          rw;
    tokenroute_request_status_e   st, ref;

    static tokenroute_request_t   a, b, c;

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    data++;
    size--;

    /* what the scan does not set must not matter */
    memset(&a, 0x5a, sizeof(tokenroute_request_t));
    memset(&b, 0, sizeof(tokenroute_request_t));

    st = tokenroute_request_scan(data, size, &a);
    ref = ref_request_scan(data, size, &b);

    if (!known_difference(data, size)) {
        check_same(&a, &b, st, ref);
    }

    if (st != TOKENROUTE_REQUEST_OK) {
        return 0;
    }

    fuzz_check(a.model_start < a.model_end && a.model_end <= size
               && data[a.model_start] == '"' && data[a.model_end - 1] == '"',
               "model span is its string token");

    rw.model = models[flags & 3];
    rw.model_len = strlen(rw.model);
    rw.include_usage = (flags >> 2) & 1;
    rw.drop_models = (flags >> 3) & 1;

    want = tokenroute_request_rewrite_size(size, &a, &rw);

    out = malloc(want ? want : 1);
    fuzz_check(out != NULL, "out of memory");

    n = tokenroute_request_rewrite(data, size, &a, &rw, out);
    fuzz_check(n <= want, "the rewrite fits its size");

    len = n;
    memset(&c, 0x5a, sizeof(tokenroute_request_t));

    st = tokenroute_request_scan(out, len, &c);

    fuzz_check(st == TOKENROUTE_REQUEST_OK
               || (rw.model_len == 0 && st == TOKENROUTE_REQUEST_BAD_MODEL),
               "the rewritten body scans");

    if (st == TOKENROUTE_REQUEST_OK) {
        fuzz_check(c.model_len == rw.model_len
                   && memcmp(c.model, rw.model, rw.model_len) == 0,
                   "the rewritten body has the new model");
        fuzz_check(!rw.include_usage || c.include_usage == 1,
                   "the rewritten body asks for usage");
        fuzz_check(!rw.drop_models || c.nmodels == 0,
                   "the rewritten body has no chain");
        fuzz_check(c.stream == a.stream && c.max_tokens == a.max_tokens,
                   "the rewrite keeps stream and max_tokens");
    }

    free(out);

    return 0;
}
