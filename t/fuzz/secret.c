
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: what src/tokenroute_secret.c reads, the admin key's
 * format (tokenroute_secret_admin_valid(), on the admin API's bearer
 * token) and the JSON document a control script answers, with the raw
 * key put in (tokenroute_secret_json()).  Input: the first byte chooses
 * the raw key's length (0-64, base64url characters), the rest is the
 * document; the whole input is also a key.
 *
 * Properties: the key's verdict that of a plain restatement of the
 * format; the document taken exactly when its first byte past JSON white
 * space (space, tab, CR, LF) is '{'; then, written into a buffer of the
 * size announced, the document unchanged around "raw":"<raw>" (and a
 * comma unless the object is empty) just after that brace; and, when
 * the document is JSON (yajl's, but for \v and \f, which yajl takes
 * for white space and RFC 8259 does not), the result is JSON whose first
 * member is "raw" with the raw key.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include <tokenroute_secret.h>

#include "fuzz.h"


static int
ref_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


static int
ref_admin_valid(const unsigned char *p, size_t len)
{
    size_t       i, plen;
    const char  *prefix = "sk-tr-admin-";

    plen = strlen(prefix);

    if (len != plen + 43 || memcmp(p, prefix, plen) != 0) {
        return -1;
    }

    for (i = plen; i < len; i++) {
        if (!(p[i] < 0x80 && (p[i] == '-' || p[i] == '_'
                              || (p[i] >= '0' && p[i] <= '9')
                              || ((p[i] | 0x20) >= 'a'
                                  && (p[i] | 0x20) <= 'z'))))
        {
            return -1;
        }
    }

    return 0;
}


/* the document as JSON, with "raw" its first member holding raw */

static void
check_tree(const char *out, size_t n, const char *raw, size_t raw_len)
{
    char       *z, err[128];
    yajl_val    v;

    z = malloc(n + 1);
    if (z == NULL) {
        abort();
    }

    memcpy(z, out, n);
    z[n] = '\0';

    v = yajl_tree_parse(z, err, sizeof(err));

    fuzz_check(v != NULL && YAJL_IS_OBJECT(v) && v->u.object.len >= 1,
               "a JSON object in, a JSON object out");
    fuzz_check(strcmp(v->u.object.keys[0], "raw") == 0
               && YAJL_IS_STRING(v->u.object.values[0])
               && strlen(YAJL_GET_STRING(v->u.object.values[0])) == raw_len
               && memcmp(YAJL_GET_STRING(v->u.object.values[0]), raw,
                         raw_len) == 0,
               "raw is the first member, unchanged");

    yajl_tree_free(v);
    free(z);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           raw[TOKENROUTE_SECRET_RAW_MAX], *out;
    size_t         i, k, n, len, raw_len, empty;
    const char    *doc;

    static const char  b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fuzz_check(tokenroute_secret_admin_valid(data, size)
               == ref_admin_valid(data, size), "the admin key's format");

    if (size == 0) {
        return 0;
    }

    raw_len = data[0] % (TOKENROUTE_SECRET_RAW_MAX + 1);

    for (i = 0; i < raw_len; i++) {
        raw[i] = b64[(data[0] + i * 7) % 64];
    }

    doc = (const char *) data + 1;
    len = size - 1;

    fuzz_check(tokenroute_secret_admin_valid((const unsigned char *) doc,
                                             len)
               == ref_admin_valid((const unsigned char *) doc, len),
               "the admin key's format");

    for (i = 0; i < len && ref_space(doc[i]); i++) { /* void */ }

    n = tokenroute_secret_json(NULL, doc, len, raw, raw_len);

    if (i == len || doc[i] != '{') {
        fuzz_check(n == 0, "only an object is taken");
        return 0;
    }

    fuzz_check(n != 0, "an object is taken");

    for (k = i + 1; k < len && ref_space(doc[k]); k++) { /* void */ }

    empty = (k < len && doc[k] == '}');

    fuzz_check(n == len + 9 + raw_len - empty, "the length announced");

    /* exactly n bytes: ASan sees a write past them */
    out = malloc(n);
    if (out == NULL) {
        abort();
    }

    fuzz_check(tokenroute_secret_json(out, doc, len, raw, raw_len) == n,
               "the same length written");

    fuzz_check(memcmp(out, doc, i + 1) == 0, "the document up to its brace");
    fuzz_check(memcmp(out + i + 1, "\"raw\":\"", 7) == 0
               && memcmp(out + i + 8, raw, raw_len) == 0
               && out[i + 8 + raw_len] == '"',
               "\"raw\":\"<raw>\" just after the brace");
    fuzz_check(empty || out[i + 9 + raw_len] == ',',
               "a comma before the other members");
    fuzz_check(memcmp(out + i + 10 + raw_len - empty, doc + i + 1,
                      len - i - 1) == 0,
               "the rest of the document unchanged");

    /* yajl takes \v and \f for white space, JSON (RFC 8259) does not */
    if (fuzz_json_valid(doc, len, 1) && memchr(doc, '\v', len) == NULL
        && memchr(doc, '\f', len) == NULL)
    {
        check_tree(out, n, raw, raw_len);
    }

    free(out);

    return 0;
}
