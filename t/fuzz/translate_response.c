
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the non-streamed response translators
 * (src/tokenroute_translate_response*.c) and the error translator
 * (src/tokenroute_translate_error.c).  Input: a flags byte (the shapes,
 * the model, body or error), a status byte, then the provider's body.  A
 * translated body must be valid JSON, NUL-terminated; an error body must
 * be valid JSON of the client's error shape, for any input; either is
 * UTF-8 if the provider's body was, and its message must hold no key
 * ("sk-" or "AIza" starting a word and followed by the characters of a
 * key, as many as the redaction looks for).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include <tokenroute_translate_response.h>

#include "fuzz.h"


static const char  *models[4] = {
    "", "pub/model-1", "m\"\\\x01\xc3\xa9", "x"
};


static const int  statuses[8] = { 400, 401, 403, 404, 429, 500, 529, 200 };


static void
check_response(int from, int to, const uint8_t *p, size_t len,
    const char *model)
{
    int             rc;
    size_t          out_len;
    unsigned char  *out;

    out = NULL;
    out_len = 0;

    rc = tokenroute_translate_response(from, to, p, len, model,
                                       strlen(model), &out, &out_len);

    fuzz_check(rc == 0 || rc == -1 || rc == -2, "return code");
    fuzz_check(from != to || rc == -1, "same shapes are passed through");

    if (rc != 0) {
        return;
    }

    fuzz_check(out != NULL && out[out_len] == '\0', "NUL-terminated body");
    fuzz_check(fuzz_json_valid(out, out_len, fuzz_utf8(p, len)),
               "the body is valid JSON");

    free(out);
}


#define key_char(c)                                                           \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_' || (c) == '*')


static void
check_redacted(const unsigned char *out)
{
    size_t          i, j, k, min, n;
    yajl_val        root, v;
    const char     *m;
    const char     *path[] = { "error", "message", NULL };

    root = yajl_tree_parse((const char *) out, NULL, 0);
    if (root == NULL) {
        /* not UTF-8: yajl_tree checks it */
        return;
    }

    v = yajl_tree_get(root, path, yajl_t_string);
    fuzz_check(v != NULL, "the error has a message");

    m = YAJL_GET_STRING(v);
    n = strlen(m);

    for (i = 0; i < n; i++) {
        if (i > 0 && (key_char((unsigned char) m[i - 1]) && m[i - 1] != '*'))
        {
            continue;
        }

        if (n - i > 3 && memcmp(m + i, "sk-", 3) == 0) {
            k = i + 3;
            min = 4;

        } else if (n - i > 4 && memcmp(m + i, "AIza", 4) == 0) {
            k = i + 4;
            min = 10;

        } else {
            continue;
        }

        for (j = k; j < n && key_char((unsigned char) m[j]); j++) {
            /* void */
        }

        fuzz_check(j - k < min, "no key in the message");
    }

    yajl_tree_free(root);
}


static void
check_error(int from, int to, int status, const uint8_t *p, size_t len)
{
    int             rc;
    size_t          out_len;
    unsigned char  *out;

    out = NULL;
    out_len = 0;

    rc = tokenroute_translate_error(from, to, status, p, len, &out,
                                    &out_len);

    fuzz_check(rc == 0 || rc == -2, "return code");

    if (rc != 0) {
        return;
    }

    fuzz_check(out != NULL && out[out_len] == '\0', "NUL-terminated error");
    fuzz_check(fuzz_json_valid(out, out_len, fuzz_utf8(p, len)),
               "the error is valid JSON");

    if (to == TOKENROUTE_SHAPE_OPENAI) {
        fuzz_check(out_len > 10 && memcmp(out, "{\"error\":{", 10) == 0,
                   "an OpenAI error");

    } else {
        fuzz_check(out_len > 25
                   && memcmp(out, "{\"type\":\"error\",\"error\":{", 25) == 0,
                   "an Anthropic error");
    }

    check_redacted(out);

    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       from, to, status;
    unsigned  flags;

    if (size < 2) {
        return 0;
    }

    flags = data[0];
    status = statuses[data[1] & 7];

    if (data[1] & 0x80) {
        status = 100 + data[1] * 4 % 500;
    }

    data += 2;
    size -= 2;

    from = (flags & 1) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;
    to = (flags & 2) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

    if (flags & 4) {
        check_error(from, to, status, data, size);

    } else {
        check_response(from, to, data, size, models[(flags >> 3) & 3]);
    }

    return 0;
}
