
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the learned body (src/tokenroute_skim_body.c):
 * a body is learned, then it and its variants (other numbers and
 * strings in the same places, which the template reads, and variants
 * that are not that: longer numbers, fractions, leading zeros, escapes
 * good and bad, control characters, bytes inserted, removed, cut off,
 * trailing) are read by the usage reader, whole and in pieces, and must
 * give what yajl gives (t/unit/ref/usage_ref.c): the verdict and every
 * count.  Each learned body must also be read by its template (the fast
 * path is used, not only safe).  Bodies: the bench fixtures and
 * generated ones with the keys the reader looks for.  argv[1] is the
 * repository (for bench/mock); TOKENROUTE_DIFF_N sets how many bodies
 * are generated (default 3000).  Prints TAP.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_skim.h>
#include <tokenroute_usage.h>

#include "ref/usage_ref.c"

#include "tap.h"


#define MAX_SHOWN   8

#define OA          TOKENROUTE_SHAPE_OPENAI


typedef struct {
    char        *data;
    size_t       len;
    size_t       size;
} buf_t;


static void add(buf_t *b, const char *p, size_t n);
static void adds(buf_t *b, const char *s);
static uint64_t rnd(void);
static unsigned rnd_n(unsigned n);
static int usage_equal(const tokenroute_usage_t *a,
    const tokenroute_usage_t *b);
static int run(int ref, int shape, const char *p, size_t len, size_t cut,
    tokenroute_usage_t *u, int *used);
static int check(const char *what, int shape, const char *p, size_t len,
    int *used);
static int learned_used(int shape, const char *p, size_t len);
static int to_learn(int shape, const char *p, size_t len);
static void test_layouts(void);
static void variant(buf_t *out, const buf_t *in, unsigned how);
static size_t key_end(const char *p, size_t n, size_t i);

/* a byte's digit value; more than 9 for anything else */
#define digit(c)    ((unsigned) ((unsigned char) (c) - '0'))
static void gen_body(buf_t *b, int shape);
static void gen_scalar(buf_t *b);
static void gen_ws(buf_t *b);
static char *slurp(const char *root, const char *name, size_t *len);
static unsigned test_body(const char *what, int shape, const char *p,
    size_t len, unsigned variants, int *good);


static int       shown;
static uint64_t  state = 0x2545f4914f6cdd1dULL;


int
main(int argc, char **argv)
{
    int          good, shape, all;
    char        *s, *env;
    size_t       len, i;
    buf_t        b;
    unsigned     n, learned, used;
    const char  *root;

    static const char  *names[] = { "openai.json", "anthropic.json" };

    (void) ref_usage_event;

    root = (argc > 1) ? argv[1] : ".";
    env = getenv("TOKENROUTE_DIFF_N");
    n = env ? (unsigned) atoi(env) : 3000;

    for (i = 0; i < 2; i++) {
        shape = (i == 0) ? TOKENROUTE_SHAPE_OPENAI
                         : TOKENROUTE_SHAPE_ANTHROPIC;

        s = slurp(root, names[i], &len);

        if (s == NULL) {
            ok(1, "# SKIP bench/mock/%s not found under %s", names[i], root);
            continue;
        }

        tokenroute_skim_body_forget();

        ok(!learned_used(shape, s, len),
           "bench/mock/%s: no template before one is learned", names[i]);

        tokenroute_skim_body_learn(shape, s, len);

        ok(learned_used(shape, s, len),
           "bench/mock/%s: learned, then read by its template", names[i]);

        good = 1;
        used = test_body(names[i], shape, s, len, 3000, &good);

        ok(good, "bench/mock/%s and 3000 variants read as yajl reads them, "
           "whole and in two pieces", names[i]);
        ok(used > 1500, "... %u of them by the template", used);

        free(s);
    }

    test_layouts();

    /* generated bodies, each learned, then read with its variants */

    memset(&b, 0, sizeof(buf_t));

    good = 1;
    all = 1;
    learned = 0;
    used = 0;

    for (i = 0; i < n; i++) {
        shape = (i & 1) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

        b.len = 0;
        gen_body(&b, shape);

        tokenroute_skim_body_forget();
        tokenroute_skim_body_learn(shape, b.data, b.len);

        if (learned_used(shape, b.data, b.len)) {
            learned++;

        } else if (!strstr(b.data, "1.5") && !strstr(b.data, "2e3")
                   && b.len < 4096)
        {
            /* no fraction, no exponent: learnable */
            if (all && shown++ < MAX_SHOWN) {
                printf("# not learned: %.*s\n", (int) b.len, b.data);
            }

            all = 0;
        }

        used += test_body("generated", shape, b.data, b.len, 20, &good);
    }

    ok(good, "%u generated bodies and 20 variants each read as yajl reads "
       "them, whole and in two pieces", n);
    ok(learned > n / 2 && all, "%u of them learned (every one without a "
       "fraction or an exponent)", learned);
    ok(used > n, "%u variants read by a template", used);

    free(b.data);
    tokenroute_skim_body_forget();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


/* the body and variants of it; returns how many the template read */

static unsigned
test_body(const char *what, int shape, const char *p, size_t len,
    unsigned variants, int *good)
{
    int       used;
    buf_t     in, out;
    unsigned  i, n;

    memset(&in, 0, sizeof(buf_t));
    memset(&out, 0, sizeof(buf_t));

    add(&in, p, len);

    n = 0;

    *good &= check(what, shape, p, len, &used);
    n += used;

    for (i = 0; i < variants; i++) {
        out.len = 0;
        variant(&out, &in, i);

        *good &= check(what, shape, out.data, out.len, &used);
        n += used;

    }

    free(in.data);
    free(out.data);

    return n;
}


/*
 * Whole, and in two pieces at a random offset: the verdict and the usage
 * must be yajl's.  *used: the template read it whole.
 */

static int
check(const char *what, int shape, const char *p, size_t len, int *used)
{
    int                 want, got, good, u1, u2;
    size_t              cut;
    tokenroute_usage_t  w, a, b;

    want = run(1, shape, p, len, 0, &w, NULL);
    got = run(0, shape, p, len, 0, &a, &u1);

    good = (got == want && usage_equal(&a, &w));

    cut = len ? rnd_n((unsigned) len + 1) : 0;
    got = run(0, shape, p, len, cut, &b, &u2);

    good &= (got == want && usage_equal(&b, &w));

    *used = u1;

    if (!good && shown++ < MAX_SHOWN) {
        printf("# %s (shape %d, cut %zu) differs from yajl (complete %d, "
               "in %lld out %lld cached %lld error %d): %.*s\n",
               what, shape, cut, want, (long long) w.input_tokens,
               (long long) w.output_tokens, (long long) w.cached_tokens,
               w.error, (int) len, p);
        printf("#   whole: complete %d, in %lld out %lld; in two pieces: "
               "complete %d, in %lld out %lld\n",
               run(0, shape, p, len, 0, &a, NULL),
               (long long) a.input_tokens, (long long) a.output_tokens,
               got, (long long) b.input_tokens, (long long) b.output_tokens);
    }

    return good;
}


/*
 * As the body filter reads a body: pieces until one fails, finish only
 * if none did; cut 0 is whole.  The text is copied to a buffer of its
 * own length, so that reading past it is seen by ASan.
 */

static int
run(int ref, int shape, const char *p, size_t len, size_t cut,
    tokenroute_usage_t *u, int *used)
{
    int                      rc;
    char                    *copy;
    ref_usage_json_t         ruj;
    tokenroute_usage_json_t  uj;

    memset(u, 0, sizeof(tokenroute_usage_t));

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        exit(2);
    }

    memcpy(copy, p, len);

    if (ref) {
        if (ref_usage_json_init(&ruj, shape, u) != 0) {
            exit(2);
        }

        rc = ref_usage_json_feed(&ruj, copy, len);

        if (rc == 0) {
            rc = ref_usage_json_finish(&ruj);
        }

        ref_usage_json_free(&ruj);
        free(copy);

        return rc == 0;
    }

    if (tokenroute_usage_json_init(&uj, shape, u) != 0) {
        exit(2);
    }

    if (cut == 0 || cut >= len) {
        rc = tokenroute_usage_json_feed(&uj, copy, len);

    } else {
        rc = tokenroute_usage_json_feed(&uj, copy, cut);

        if (rc == 0) {
            rc = tokenroute_usage_json_feed(&uj, copy + cut, len - cut);
        }
    }

    if (used) {
        *used = tokenroute_skim_body_used(&uj.skim);
    }

    if (rc == 0) {
        rc = tokenroute_usage_json_finish(&uj);
    }

    tokenroute_usage_json_free(&uj);
    free(copy);

    return rc == 0;
}


static int
learned_used(int shape, const char *p, size_t len)
{
    int                 used;
    tokenroute_usage_t  u;

    return run(0, shape, p, len, 0, &u, &used) && used;
}


/* whether the body filter would learn the body after reading it */

static int
to_learn(int shape, const char *p, size_t len)
{
    tokenroute_usage_t       u;
    tokenroute_usage_json_t  uj;

    memset(&u, 0, sizeof(tokenroute_usage_t));

    if (tokenroute_usage_json_init(&uj, shape, &u) != 0
        || tokenroute_usage_json_feed(&uj, p, len) != 0)
    {
        exit(2);
    }

    tokenroute_usage_json_free(&uj);

    return tokenroute_skim_body_new(&uj.skim);
}


/* which bodies are to be learned: none yet, or two of other layouts */

static void
test_layouts(void)
{
    int          a1, b1, b2, a2, b3, a3, half;
    const char  *a, *b;

    a = "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":1}}";
    b = "{\"usage\":{\"prompt_tokens\":1},\"id\":\"x\"}";

    tokenroute_skim_body_forget();

    a1 = to_learn(OA, a, strlen(a));
    tokenroute_skim_body_learn(OA, a, strlen(a));

    b1 = to_learn(OA, b, strlen(b));
    a2 = to_learn(OA, a, strlen(a));
    b2 = to_learn(OA, b, strlen(b));
    b3 = to_learn(OA, b, strlen(b));
    a3 = to_learn(OA, a, strlen(a));
    half = to_learn(OA, a, strlen(a) - 5);

    ok(a1 && !b1 && !a2 && !b2 && b3 && !a3 && !half,
       "learned: the first body, the second of other layouts in a row; "
       "not: one of another layout between two of the template's, one "
       "read by it, a first piece too short (%d %d %d %d %d %d %d)",
       a1, b1, a2, b2, b3, a3, half);

    tokenroute_skim_body_forget();
}


/*
 * A variant of a body: its numbers and strings changed (most of the
 * time to what a template reads), or a byte changed anywhere, or its
 * end cut or added to.
 */

static void
variant(buf_t *out, const buf_t *in, unsigned how)
{
    size_t       i, n, at, nums, chars_n, num_at, char_at;
    unsigned     c, instr, odd;
    const char  *p;

    static const char  *digits[] = {
        "0", "7", "42", "-3", "-0", "00", "01", "123456789012345678",
        "1234567890123456789", "9999999999999999999",
        "99999999999999999999", "1.5", "2e3",
        "-", "1.", "18446744073709551616", "9223372036854775807", ""
    };

    static const char  *chars[] = {
        "a", "Z", " ", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9",
        "\\ud83d\\ude00",
        "\\ud83d", "\\x", "\\u12G4", "\\u12", "\t", "\x01", "\x7f", "\xc3\xa9",
        "\xff", "\"", ":", ",", "}", "", "\\"
    };

    p = in->data;
    n = in->len;

    switch (how % 8) {

    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
        /*
         * numbers and strings rewritten: plain ones (hole for hole), and
         * in one variant of five a single odd one, a number or a byte of
         * a string (counted first, so that the rest still fits)
         */

        nums = 0;
        chars_n = 0;
        instr = 0;

        for (i = 0; i < n; i++) {
            c = (unsigned char) p[i];

            if (instr) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    instr = 0;
                } else {
                    chars_n++;
                }

            } else if (c == '"') {
                at = key_end(p, n, i);

                if (at) {
                    i = at;
                } else {
                    instr = 1;
                }

            } else if ((c == '-' || c - '0' <= 9)
                       && (i == 0 || (digit(p[i - 1]) > 9 && p[i - 1] != '-')))
            {
                nums++;
            }
        }

        odd = (how % 8 == 4);
        num_at = (odd && rnd_n(2) && nums) ? rnd_n((unsigned) nums) : n;
        char_at = (odd && num_at == n && chars_n)
                  ? rnd_n((unsigned) chars_n) : n;

        nums = 0;
        chars_n = 0;
        instr = 0;

        for (i = 0; i < n; i++) {
            c = (unsigned char) p[i];

            if (instr) {
                if (c == '\\' && i + 1 < n) {
                    add(out, p + i, 2);
                    i++;
                    continue;
                }

                if (c == '"') {
                    instr = 0;
                    add(out, p + i, 1);
                    continue;
                }

                if (chars_n++ == char_at) {
                    adds(out, chars[rnd_n(sizeof(chars) / sizeof(chars[0]))]);
                    continue;
                }

                if (rnd_n(4) == 0) {
                    {
                        c = 'a' + rnd_n(26);
                        add(out, (char *) &c, 1);
                    }

                    continue;
                }

                add(out, p + i, 1);
                continue;
            }

            if (c == '"') {
                at = key_end(p, n, i);

                if (at) {
                    /* keys stay: they are literal in a template */
                    add(out, p + i, at + 1 - i);
                    i = at;
                    continue;
                }

                instr = 1;
                add(out, p + i, 1);
                continue;
            }

            if (c == '-' || (c >= '0' && c <= '9')) {
                while (i + 1 < n && (digit(p[i + 1]) <= 9
                                     || p[i + 1] == '.' || p[i + 1] == 'e'
                                     || p[i + 1] == 'E' || p[i + 1] == '+'
                                     || p[i + 1] == '-'))
                {
                    i++;
                }

                if (nums++ == num_at) {
                    adds(out, digits[rnd_n(sizeof(digits)
                                           / sizeof(digits[0]))]);

                } else {
                    char  num[32];

                    snprintf(num, sizeof(num), "%s%u",
                             rnd_n(10) == 0 ? "-" : "",
                             rnd_n(3) == 0 ? (unsigned) rnd()
                                           : rnd_n(1000));
                    adds(out, num);
                }

                continue;
            }

            add(out, p + i, 1);
        }

        break;

    case 5:
        /* a byte changed, inserted or removed */
        at = n ? rnd_n((unsigned) n) : 0;
        add(out, p, at);

        switch (rnd_n(3)) {
        case 0:
            c = "{}[]\":,0a\\ \n-.e\x01"[rnd_n(16)];
            add(out, (char *) &c, 1);
            add(out, p + at + (at < n), n - at - (at < n));
            break;
        case 1:
            c = "{}[]\":,0a\\ \n-.e\x01"[rnd_n(16)];
            add(out, (char *) &c, 1);
            add(out, p + at, n - at);
            break;
        default:
            if (at < n) {
                add(out, p + at + 1, n - at - 1);
            }
            break;
        }

        break;

    case 6:
        /* cut short */
        add(out, p, n ? rnd_n((unsigned) n) : 0);
        break;

    default:
        /* something after it */
        add(out, p, n);
        adds(out, (const char *[]) { " ", "\n", "x", "\"", "\"ab\"", "{}",
                                     "1", " \t\r\n", "\"a" }[rnd_n(9)]);
        break;
    }
}


/* the closing quote of a key that starts at p[i], or 0 if it is no key */

static size_t
key_end(const char *p, size_t n, size_t i)
{
    size_t  j, k;

    for (j = i + 1; j < n && p[j] != '"'; j++) {
        if (p[j] == '\\') {
            j++;
        }
    }

    if (j >= n) {
        return 0;
    }

    for (k = j + 1; k < n && strchr(" \t\r\n", p[k]) && p[k]; k++) {
        /* void */
    }

    return (k < n && p[k] == ':') ? j : 0;
}


/* a body with the keys the reader looks for, and others */

static void
gen_body(buf_t *b, int shape)
{
    unsigned     i, n, k;
    const char  *key;

    static const char  *oa_keys[] = {
        "prompt_tokens", "completion_tokens", "total_tokens",
        "prompt_tokens_details", "cached_tokens", "audio_tokens"
    };

    static const char  *an_keys[] = {
        "input_tokens", "output_tokens", "cache_read_input_tokens",
        "cache_creation_input_tokens", "cache_creation",
        "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"
    };

    static const char  *top_keys[] = {
        "id", "object", "model", "choices", "content", "type", "error",
        "usage", "message", "text", "finish_reason", "created"
    };

    adds(b, "{");
    gen_ws(b);

    n = 1 + rnd_n(6);

    for (i = 0; i < n; i++) {
        if (i) {
            adds(b, ",");
            gen_ws(b);
        }

        key = top_keys[rnd_n(sizeof(top_keys) / sizeof(top_keys[0]))];

        if (i == n - 1 || rnd_n(3) == 0) {
            key = "usage";
        }

        adds(b, "\"");
        adds(b, key);
        adds(b, "\":");
        gen_ws(b);

        if (strcmp(key, "usage") == 0 && rnd_n(8) != 0) {
            adds(b, "{");

            for (k = 0; k < 1 + rnd_n(5); k++) {
                if (k) {
                    adds(b, ",");
                }

                adds(b, "\"");

                if (shape == TOKENROUTE_SHAPE_OPENAI) {
                    adds(b, oa_keys[rnd_n(6)]);
                } else {
                    adds(b, an_keys[rnd_n(7)]);
                }

                adds(b, "\":");
                gen_ws(b);

                if (rnd_n(4) == 0) {
                    adds(b, shape == TOKENROUTE_SHAPE_OPENAI
                            ? "{\"cached_tokens\":5,\"x\":[1,\"a\"]}"
                            : "{\"ephemeral_5m_input_tokens\":3,"
                              "\"ephemeral_1h_input_tokens\":4}");
                } else {
                    gen_scalar(b);
                }
            }

            adds(b, "}");

        } else if (strcmp(key, "choices") == 0) {
            adds(b, "[{\"index\":0,\"message\":{\"role\":\"assistant\","
                    "\"content\":");
            gen_scalar(b);
            adds(b, "},\"finish_reason\":\"stop\"},[],{}]");

        } else {
            gen_scalar(b);
        }

        gen_ws(b);
    }

    adds(b, "}");

    if (rnd_n(4) == 0) {
        gen_ws(b);
    }
}


static void
gen_scalar(buf_t *b)
{
    char  num[32];

    static const char  *strings[] = {
        "\"\"", "\"a\"", "\"hello world\"", "\"with \\\"quote\\\"\"",
        "\"\\u00e9t\\u00e9\"", "\"line\\nnext\"",
        "\"a long string that goes on for more than sixty-four bytes, so "
        "that the scan goes round\"", "null", "true", "false", "[]", "{}",
        "[1,2,3]", "{\"a\":{\"b\":[null]}}", "1.5", "2e3", "-0"
    };

    switch (rnd_n(3)) {
    case 0:
        snprintf(num, sizeof(num), "%s%u", rnd_n(8) == 0 ? "-" : "",
                 rnd_n(2) ? rnd_n(100) : (unsigned) rnd());
        adds(b, num);
        break;
    default:
        adds(b, strings[rnd_n(sizeof(strings) / sizeof(strings[0]))]);
        break;
    }
}


static void
gen_ws(buf_t *b)
{
    if (rnd_n(6) == 0) {
        adds(b, (const char *[]) { " ", "\n  ", "\t", "\r\n" }[rnd_n(4)]);
    }
}


static int
usage_equal(const tokenroute_usage_t *a, const tokenroute_usage_t *b)
{
    return a->input_tokens == b->input_tokens
           && a->cached_tokens == b->cached_tokens
           && a->cache_write_tokens == b->cache_write_tokens
           && a->cache_write_1h_tokens == b->cache_write_1h_tokens
           && a->output_tokens == b->output_tokens
           && a->content_bytes == b->content_bytes
           && a->seen_input == b->seen_input
           && a->seen_output == b->seen_output
           && a->error == b->error;
}


static void
add(buf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->size) {
        b->size = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->size);

        if (b->data == NULL) {
            exit(2);
        }
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}


static void
adds(buf_t *b, const char *s)
{
    add(b, s, strlen(s));
}


static uint64_t
rnd(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;

    return state;
}


static unsigned
rnd_n(unsigned n)
{
    return (unsigned) (rnd() % n);
}


static char *
slurp(const char *root, const char *name, size_t *len)
{
    FILE   *f;
    char   *s, path[4096];
    size_t  n;

    snprintf(path, sizeof(path), "%s/bench/mock/%s", root, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    s = malloc(65536);
    if (s == NULL) {
        exit(2);
    }

    n = fread(s, 1, 65536, f);
    fclose(f);

    *len = n;

    return s;
}
