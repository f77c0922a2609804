
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the JSON tree's parser (src/tokenroute_json_tree.c)
 * against the yajl-based one it replaced (t/unit/ref/json_tree_ref.c):
 * generated and mutated texts, strings checked for UTF-8 or not, depth
 * limited or not, must get the same verdict (valid, invalid, too deep)
 * and, when valid, the same tree: types, keys, strings and number texts
 * byte for byte.  Each text is parsed from a heap copy of its exact
 * length, so that a sanitizer build sees any read past the end.
 * TOKENROUTE_FUZZ_ROUNDS and TOKENROUTE_FUZZ_SEED change the run.  Prints
 * TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/json_tree_ref.c"

#include "tap.h"


typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          size;
} buf_t;


static uint32_t rnd(uint32_t n);
static void put(buf_t *b, const void *p, size_t n);
static void puts_(buf_t *b, const char *s);
static void gen_space(buf_t *b);
static void gen_string(buf_t *b);
static void gen_value(buf_t *b, int depth);
static void gen_tail(buf_t *b);
static void mutate(buf_t *b);
static void dump(buf_t *b, tokenroute_json_node_t *n);
static void diag_text(const char *what, const unsigned char *p, size_t n);


static uint64_t  seed = 0x9e3779b97f4a7c15ULL;

static const char  *numbers[] = {
    "0", "-0", "1", "-1", "7", "256", "01", "-01", "00", "1.", ".5", "-",
    "1e", "1e+", "1E-", "+1", "1.5", "0.7", "1e5", "1E-5", "-0.0e+0",
    "1.0", "2e0", "9223372036854775807", "9223372036854775808",
    "123456789012345678901234567890", "1e309", "-1e400", "1..2", "1ee5",
    "0x10", "Infinity", "NaN", "1e5.5", "-a", "0.", "1e+05", "12E-3"
};

static const char  *pieces[] = {
    "a", "model", " ", "\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r",
    "\\t", "\\u0041", "\\u00e9", "\\u20ac", "\\u0000", "\\uD83D\\uDE00",
    "\\uD800", "\\uDC00", "\\uD800x", "\\uD800\\n", "\\uDBFF\\uDFFF",
    "\\uD800\\u0041", "\\uD800\\\\u0041", "\\u004", "\\uzzzz", "\\x", "\\",
    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xe2\x82",
    "\xf0\x9f\x98", "\xff", "\x80", "\xf8\x80\x80\x80", "\xc3\x28", "\x7f",
    "\x01", "\t", "\\u00", "\"", "/", "\x0b"
};

static const char  *spaces = " \t\n\r\v\f";


int
main(void)
{
    int                      rounds, r, i, n, mine, theirs, variant;
    int                      bad_verdict, bad_tree, verdicts[4];
    char                    *env, *copy;
    buf_t                    b, t1, t2;
    tokenroute_json_tree_t   j1, j2;

    env = getenv("TOKENROUTE_FUZZ_ROUNDS");
    rounds = env ? atoi(env) : 200000;

    env = getenv("TOKENROUTE_FUZZ_SEED");
    if (env) {
        seed = strtoull(env, NULL, 0) | 1;
    }

    printf("# seed %#llx, %d rounds\n", (unsigned long long) seed, rounds);

    memset(&b, 0, sizeof(buf_t));
    memset(&t1, 0, sizeof(buf_t));
    memset(&t2, 0, sizeof(buf_t));
    memset(&j1, 0, sizeof(tokenroute_json_tree_t));
    memset(&j2, 0, sizeof(tokenroute_json_tree_t));
    memset(verdicts, 0, sizeof(verdicts));

    bad_verdict = 0;
    bad_tree = 0;

    for (r = 0; r < rounds; r++) {
        b.len = 0;

        gen_space(&b);
        gen_value(&b, 0);
        gen_space(&b);

        if (rnd(6) == 0) {
            gen_tail(&b);
        }

        n = rnd(7);

        for (i = 0; i < n - 3; i++) {
            mutate(&b);
        }

        copy = malloc(b.len ? b.len : 1);
        if (copy == NULL) {
            return 2;
        }

        memcpy(copy, b.data, b.len);

        /* the trees are reused from round to round, as a stream does */

        variant = rnd(4);
        j1.validate = j2.validate = variant & 1;
        j1.max_depth = j2.max_depth = (variant & 2) ? 1 + rnd(6) : 0;

        mine = tokenroute_json_tree_parse(&j1, copy, b.len, NULL);
        theirs = ref_json_tree_parse(&j2, copy, b.len, NULL);

        verdicts[-theirs]++;

        if (mine != theirs) {
            if (bad_verdict++ < 5) {
                printf("# verdict %d, yajl's %d (validate %d, depth %u)\n",
                       mine, theirs, variant & 1, j1.max_depth);
                diag_text("on", (unsigned char *) copy, b.len);
            }

        } else if (mine == 0) {
            t1.len = 0;
            t2.len = 0;
            dump(&t1, j1.root);
            dump(&t2, j2.root);

            if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len) != 0) {
                if (bad_tree++ < 5) {
                    diag_text("trees differ on", (unsigned char *) copy,
                              b.len);
                    diag_text("mine", t1.data, t1.len);
                    diag_text("yajl", t2.data, t2.len);
                }
            }
        }

        free(copy);
    }

    ok(bad_verdict == 0, "%d texts: the verdict of yajl's tree "
       "(%d differ)", rounds, bad_verdict);
    ok(bad_tree == 0, "the trees of yajl's tree, byte for byte (%d differ)",
       bad_tree);

    /* the generator must reach every outcome, or the test proves little */

    ok(verdicts[0] >= rounds / 10, "valid: %d", verdicts[0]);
    ok(verdicts[1] >= rounds / 10, "invalid: %d", verdicts[1]);
    ok(verdicts[3] >= rounds / 100, "too deep: %d", verdicts[3]);

    tokenroute_json_tree_free(&j1);
    tokenroute_json_tree_free(&j2);
    free(b.data);
    free(t1.data);
    free(t2.data);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


/* the tree as bytes: type, key and string with their lengths, nesting */

static void
dump(buf_t *b, tokenroute_json_node_t *n)
{
    char                     tmp[64];
    tokenroute_json_node_t  *e;

    snprintf(tmp, sizeof(tmp), "(%d %zu:", (int) n->type, n->key_len);
    puts_(b, tmp);

    if (n->key != NULL) {
        put(b, n->key, n->key_len + 1);
    }

    if (n->str != NULL) {
        snprintf(tmp, sizeof(tmp), " %zu:", n->len);
        puts_(b, tmp);
        put(b, n->str, n->len + 1);

    } else {
        snprintf(tmp, sizeof(tmp), " #%zu", n->len);
        puts_(b, tmp);
    }

    for (e = n->first; e != NULL; e = e->next) {
        if (e->parent != n) {
            puts_(b, "!parent");
        }

        dump(b, e);
    }

    puts_(b, ")");
}


static void
gen_space(buf_t *b)
{
    while (rnd(4) == 0) {
        put(b, &spaces[rnd(rnd(4) ? 4 : 6)], 1);
    }
}


static void
gen_string(buf_t *b)
{
    int  i, j, n;
    char c;

    puts_(b, "\"");

    n = rnd(6);

    for (i = 0; i < n; i++) {
        switch (rnd(5)) {

        case 0:
        case 1:
            puts_(b, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
            break;

        case 4:
            for (j = rnd(100); j > 0; j--) {
                c = 'a' + rnd(26);
                put(b, &c, 1);
            }

            break;

        default:
            c = 'a' + rnd(26);
            put(b, &c, 1);
            break;
        }
    }

    puts_(b, "\"");
}


static void
gen_value(buf_t *b, int depth)
{
    int  i, n;

    switch (rnd(depth < 8 ? 9 : 6)) {

    case 0:
    case 1:
        gen_string(b);
        break;

    case 2:
    case 3:
        puts_(b, numbers[rnd(sizeof(numbers) / sizeof(numbers[0]))]);
        break;

    case 4:
        puts_(b, rnd(3) ? (rnd(2) ? "true" : "false") : "null");
        break;

    case 5:
        puts_(b, rnd(2) ? "[]" : "{}");
        break;

    case 6:
    case 7:
        puts_(b, "[");
        n = rnd(4);

        for (i = 0; i < n; i++) {
            gen_space(b);
            gen_value(b, depth + 1);
            gen_space(b);

            if (i < n - 1) {
                puts_(b, ",");
            }
        }

        puts_(b, "]");
        break;

    default:
        puts_(b, "{");
        n = rnd(4);

        for (i = 0; i < n; i++) {
            gen_space(b);
            gen_string(b);
            gen_space(b);
            puts_(b, ":");
            gen_space(b);
            gen_value(b, depth + 1);
            gen_space(b);

            if (i < n - 1) {
                puts_(b, ",");
            }
        }

        puts_(b, "}");
        break;
    }
}


/* after the value: what yajl takes or refuses there */

static void
gen_tail(buf_t *b)
{
    static const char  *tails[] = {
        "\"open", "\"open\\", "\"open\\u12", "\"open\\n", "\"\xc3",
        "\"\xc3\xa9", "\"\xe2\x82", "\"ok\"", "\"", "tru", "1", "x", ",",
        "\"a\x01", "\"\xff", "/", "{", "]", "\"\\uD800"
    };

    puts_(b, tails[rnd(sizeof(tails) / sizeof(tails[0]))]);
}


static void
mutate(buf_t *b)
{
    size_t  at, i, n, len;

    static const char  alphabet[] = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01"
                                    "\x1f\x7f\x80\xff\xc3\xe2\xf0\t\n\r\v\f"
                                    "ux/";

    if (b->len == 0) {
        put(b, &alphabet[rnd(sizeof(alphabet) - 1)], 1);
        return;
    }

    at = rnd(b->len);

    switch (rnd(5)) {

    case 0:
        b->data[at] = alphabet[rnd(sizeof(alphabet) - 1)];
        break;

    case 1:
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
        break;

    case 2:
        put(b, "", 1);
        memmove(b->data + at + 1, b->data + at, b->len - at - 1);
        b->data[at] = alphabet[rnd(sizeof(alphabet) - 1)];
        break;

    case 3:
        b->len = at;
        break;

    default:
        n = rnd(b->len - at) + 1;
        len = b->len;

        for (i = 0; i < n; i++) {
            put(b, "", 1);
        }

        memmove(b->data + at + 2 * n, b->data + at + n, len - at - n);
        memcpy(b->data + at + n, b->data + at, n);
        break;
    }
}


static void
diag_text(const char *what, const unsigned char *p, size_t n)
{
    size_t  i;

    printf("# %s: ", what);

    for (i = 0; i < n && i < 400; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            putchar(p[i]);

        } else {
            printf("\\x%02x", p[i]);
        }
    }

    printf("\n");
}


static uint32_t
rnd(uint32_t n)
{
    seed ^= seed >> 12;
    seed ^= seed << 25;
    seed ^= seed >> 27;

    return (uint32_t) ((seed * 0x2545f4914f6cdd1dULL) >> 32) % n;
}


static void
put(buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->size) {
        b->size = (b->len + n) * 2 + 64;

        b->data = realloc(b->data, b->size);
        if (b->data == NULL) {
            exit(2);
        }
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
}


static void
puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}
