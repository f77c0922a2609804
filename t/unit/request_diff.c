
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the request scan (src/tokenroute_request.c) and
 * its tokenizer (src/tokenroute_json_scan.c, src/tokenroute_json_value.c)
 * against yajl: generated and mutated bodies must get the status and
 * fields the yajl-based scan gave (t/unit/request_ref.h), and any text the
 * verdict, the values and the decoded strings yajl's parser gives, in the
 * same order.  Each text is scanned from a heap copy of its exact length,
 * so that a sanitizer build sees any read past the end.
 * TOKENROUTE_FUZZ_ROUNDS and TOKENROUTE_FUZZ_SEED change the run.  Prints
 * TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include <tokenroute_json_scan.h>
#include <tokenroute_json_value.h>
#include <tokenroute_request.h>

#include "request_ref.h"

#include "tap.h"


typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          size;
} buf_t;


static uint32_t rnd(uint32_t n);
static void put(buf_t *b, const void *p, size_t n);
static void puts_(buf_t *b, const char *s);
static void putf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void gen_space(buf_t *b);
static void gen_string(buf_t *b, int long_ok);
static void gen_number(buf_t *b);
static void gen_value(buf_t *b, int depth);
static void gen_body(buf_t *b);
static void mutate(buf_t *b);
static int same_request(const unsigned char *text, size_t len, int *status);
static int walk_events(const unsigned char *text, size_t len, buf_t *ev);
static int walk_skipping(const unsigned char *text, size_t len);
static int yajl_events(const unsigned char *text, size_t len, buf_t *ev);
static int open_tail(const unsigned char *text, size_t len);
static void diag_text(const char *what, const unsigned char *p, size_t n);


static uint64_t  seed = 0x2545f4914f6cdd1dULL;

/* 2^1024 - 2^970: strtod() overflows from here on */
static const char  dbl_limit[] =
    "1797693134862315807937289714053034150799341327100378269361737789804"
    "4496829276475094664901797758720709633028641669288791094655554785194"
    "0402630657488671505820681908902000708383676273854845817711531764475"
    "7302700698555713669596228429148198608349364752927190741684443655107"
    "04342711559699508093042880177904174497792";

static const char  *numbers[] = {
    "0", "-0", "1", "-1", "7", "256", "01", "-01", "00", "1.", ".5", "-",
    "1e", "1e+", "1E-", "+1", "1.5", "0.7", "1e5", "1E-5", "-0.0e+0",
    "1.0", "2e0", "9223372036854775807", "9223372036854775808",
    "-9223372036854775807", "-9223372036854775808", "9223372036854775810",
    "18446744073709551616", "123456789012345678901234567890", "1e308",
    "1.7976931348623157e308", "1.7976931348623158e308",
    "1.7976931348623159e308", "-1.7976931348623159e308", "1e309",
    "-1e309", "1e-400", "0e99999", "0.0000e400", "1e0000000000000000000308",
    "1e99999999999999999999999", "1e-99999999999999999999999",
    "0.00000000000000000000000000000001e340", "1797693134862315807937e287",
    "1797693134862315708145e287", "--1", "1-", "1..2", "1ee5", "0x10",
    "Infinity", "NaN", "-Infinity", "1e5.5"
};

static const char  *pieces[] = {
    "a", "model", " ", "\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r",
    "\\t", "\\u0041", "\\u00e9", "\\u20ac", "\\u0000", "\\uD83D\\uDE00",
    "\\uD800", "\\uDC00", "\\uD800x", "\\uD800\\n", "\\uDBFF\\uDFFF",
    "\\uD800\\u0041", "\\uD800\\\\u0041", "\\u004", "\\x", "\\", "\xc3\xa9",
    "\xff", "\x80", "\x7f", "\x01", "\t", "\\u00", "mod\\u0065l", "\"", "/"
};

static const char  *keys[] = {
    "model", "models", "stream", "stream_options", "max_tokens",
    "max_completion_tokens", "messages", "n", "mod\\u0065l",
    "include_usage", "stream\\u0000", "max\\u005ftokens", "modelx", ""
};


int
main(void)
{
    int            rounds, st, n, r, i, mine, theirs;
    int            statuses[TOKENROUTE_REQUEST_NO_MEMORY + 1];
    int            bad_req, bad_verdict, bad_events, bad_skip, valid, known;
    char          *env;
    buf_t          b, ev1, ev2;
    unsigned char *copy;

    env = getenv("TOKENROUTE_FUZZ_ROUNDS");
    rounds = env ? atoi(env) : 100000;

    env = getenv("TOKENROUTE_FUZZ_SEED");
    if (env) {
        seed = strtoull(env, NULL, 0) | 1;
    }

    printf("# seed %#llx, %d rounds\n", (unsigned long long) seed, rounds);

    memset(&b, 0, sizeof(buf_t));
    memset(&ev1, 0, sizeof(buf_t));
    memset(&ev2, 0, sizeof(buf_t));
    memset(statuses, 0, sizeof(statuses));

    bad_req = 0;
    bad_verdict = 0;
    bad_events = 0;
    bad_skip = 0;
    valid = 0;
    known = 0;

    for (r = 0; r < rounds; r++) {
        b.len = 0;

        /* mostly request-shaped bodies, some any value; a third mutated */

        if (rnd(8) == 0) {
            gen_space(&b);
            gen_value(&b, 0);
            gen_space(&b);

        } else {
            gen_body(&b);
        }

        n = rnd(6);

        for (i = 0; i < n - 3; i++) {
            mutate(&b);
        }

        copy = malloc(b.len ? b.len : 1);
        if (copy == NULL) {
            return 2;
        }

        memcpy(copy, b.data, b.len);

        /* yajl's bug, not followed: see open_tail() */

        if (open_tail(copy, b.len)) {
            known++;
            free(copy);
            continue;
        }

        if (!same_request(copy, b.len, &st)) {
            if (bad_req++ == 0) {
                diag_text("request scan differs on", copy, b.len);
            }
        }

        statuses[st]++;

        ev1.len = 0;
        ev2.len = 0;

        mine = walk_events(copy, b.len, &ev1);
        theirs = yajl_events(copy, b.len, &ev2);
        valid += theirs;

        if (mine != theirs) {
            if (bad_verdict++ == 0) {
                diag_text(mine ? "valid only for the tokenizer"
                               : "valid only for yajl", copy, b.len);
            }

        } else if (ev1.len != ev2.len || memcmp(ev1.data, ev2.data, ev1.len))
        {
            if (bad_events++ == 0) {
                diag_text("tokens differ on", copy, b.len);
                diag_text("tokenizer", ev1.data, ev1.len);
                diag_text("yajl", ev2.data, ev2.len);
            }
        }

        if (walk_skipping(copy, b.len) != theirs) {
            if (bad_skip++ == 0) {
                diag_text("skipping changes the verdict on", copy, b.len);
            }
        }

        free(copy);
    }

    ok(bad_req == 0, "%d bodies: status and fields as the yajl scan "
       "(%d differ)", rounds, bad_req);
    ok(bad_verdict == 0, "%d texts: the verdict of yajl (%d valid, %d differ)",
       rounds, valid, bad_verdict);
    ok(bad_events == 0, "the tokens, values and decoded strings of yajl "
       "(%d differ)", bad_events);
    ok(bad_skip == 0, "skipping values keeps the verdict (%d differ)",
       bad_skip);
    ok(known > 0, "%d texts with an open string after the value left out",
       known);

    /* the generator must reach every outcome, or the test proves little */

    for (st = 0; st < TOKENROUTE_REQUEST_NO_MEMORY; st++) {
        ok(statuses[st] >= rounds / 1000, "status %d reached %d times", st,
           statuses[st]);
    }

    free(b.data);
    free(ev1.data);
    free(ev2.data);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


static int
same_request(const unsigned char *text, size_t len, int *status)
{
    int                           i, same;
    tokenroute_request_status_e   st, ref;

    static tokenroute_request_t   a, b;

    /* what the scan does not set must not matter */
    memset(&a, 0x5a, sizeof(tokenroute_request_t));
    memset(&b, 0, sizeof(tokenroute_request_t));

    st = tokenroute_request_scan(text, len, &a);
    ref = ref_request_scan(text, len, &b);

    *status = ref;

    same = st == ref
           && strcmp(a.model, b.model) == 0
           && a.model_len == b.model_len
           && a.model_start == b.model_start
           && a.model_end == b.model_end
           && a.stream == b.stream
           && a.max_tokens == b.max_tokens
           && a.object_start == b.object_start
           && a.include_usage == b.include_usage
           && a.stream_options == b.stream_options
           && a.stream_options_empty == b.stream_options_empty
           && a.stream_options_start == b.stream_options_start
           && a.stream_options_end == b.stream_options_end
           && a.nmodels == b.nmodels
           && a.models_start == b.models_start
           && a.models_end == b.models_end
           && (a.bad_field == NULL) == (b.bad_field == NULL)
           && (a.bad_field == NULL || strcmp(a.bad_field, b.bad_field) == 0);

    for (i = 0; same && i < a.nmodels; i++) {
        same = strcmp(a.models[i], b.models[i]) == 0;
    }

    if (!same) {
        printf("# status %d/%d model \"%s\"/\"%s\" span %zu-%zu/%zu-%zu "
               "stream %d/%d max_tokens %lld/%lld so %d/%d %zu-%zu/%zu-%zu "
               "usage %d/%d nmodels %d/%d %zu-%zu/%zu-%zu bad %s/%s\n",
               st, ref, a.model, b.model, a.model_start, a.model_end,
               b.model_start, b.model_end, a.stream, b.stream,
               (long long) a.max_tokens, (long long) b.max_tokens,
               a.stream_options, b.stream_options, a.stream_options_start,
               a.stream_options_end, b.stream_options_start,
               b.stream_options_end, a.include_usage, b.include_usage,
               a.nmodels, b.nmodels, a.models_start, a.models_end,
               b.models_start, b.models_end,
               a.bad_field ? a.bad_field : "-",
               b.bad_field ? b.bad_field : "-");
    }

    return same;
}


/* the tokens as one string, in the form yajl_events() writes */

static int
walk_events(const unsigned char *text, size_t len, buf_t *ev)
{
    size_t                    n;
    unsigned char            *s;
    tokenroute_json_scan_t    js;
    tokenroute_json_token_e   t;

    tokenroute_json_scan_init(&js, text, len);

    for ( ;; ) {
        t = tokenroute_json_scan_next(&js);

        switch (t) {

        case TOKENROUTE_JSON_ERROR:
            return 0;

        case TOKENROUTE_JSON_END:
            return 1;

        case TOKENROUTE_JSON_OBJECT:
            puts_(ev, "{");
            break;

        case TOKENROUTE_JSON_OBJECT_END:
            puts_(ev, "}");
            break;

        case TOKENROUTE_JSON_ARRAY:
            puts_(ev, "[");
            break;

        case TOKENROUTE_JSON_ARRAY_END:
            puts_(ev, "]");
            break;

        case TOKENROUTE_JSON_KEY:
        case TOKENROUTE_JSON_STRING:
            n = js.end - js.token - 2;

            s = malloc(n + 1);
            if (s == NULL) {
                exit(2);
            }

            if (js.escaped) {
                n = tokenroute_json_unescape(js.token + 1, js.end - 1, s, n);

            } else {
                memcpy(s, js.token + 1, n);
            }

            putf(ev, "%c%zu:", t == TOKENROUTE_JSON_KEY ? 'k' : 's', n);
            put(ev, s, n);
            puts_(ev, ";");
            free(s);
            break;

        case TOKENROUTE_JSON_INTEGER:
            putf(ev, "i%lld;",
                 (long long) tokenroute_json_integer(js.token, js.end));
            break;

        case TOKENROUTE_JSON_DOUBLE:
            puts_(ev, "d;");
            break;

        case TOKENROUTE_JSON_TRUE:
            puts_(ev, "t;");
            break;

        case TOKENROUTE_JSON_FALSE:
            puts_(ev, "f;");
            break;

        case TOKENROUTE_JSON_NULL:
            puts_(ev, "n;");
            break;
        }
    }
}


static int
walk_skipping(const unsigned char *text, size_t len)
{
    tokenroute_json_scan_t    js;
    tokenroute_json_token_e   t;

    tokenroute_json_scan_init(&js, text, len);

    for ( ;; ) {
        t = tokenroute_json_scan_next(&js);

        if ((t == TOKENROUTE_JSON_OBJECT || t == TOKENROUTE_JSON_ARRAY)
            && rnd(2))
        {
            t = tokenroute_json_scan_skip(&js);
        }

        if (t == TOKENROUTE_JSON_ERROR) {
            return 0;
        }

        if (t == TOKENROUTE_JSON_END) {
            return 1;
        }
    }
}


static int
ev_null(void *ctx)
{
    puts_(ctx, "n;");
    return 1;
}


static int
ev_boolean(void *ctx, int v)
{
    puts_(ctx, v ? "t;" : "f;");
    return 1;
}


static int
ev_integer(void *ctx, long long v)
{
    putf(ctx, "i%lld;", v);
    return 1;
}


static int
ev_double(void *ctx, double v)
{
    (void) v;
    puts_(ctx, "d;");
    return 1;
}


static int
ev_string(void *ctx, const unsigned char *s, size_t n)
{
    putf(ctx, "s%zu:", n);
    put(ctx, s, n);
    puts_(ctx, ";");
    return 1;
}


static int
ev_key(void *ctx, const unsigned char *s, size_t n)
{
    putf(ctx, "k%zu:", n);
    put(ctx, s, n);
    puts_(ctx, ";");
    return 1;
}


static int
ev_start_map(void *ctx)
{
    puts_(ctx, "{");
    return 1;
}


static int
ev_end_map(void *ctx)
{
    puts_(ctx, "}");
    return 1;
}


static int
ev_start_array(void *ctx)
{
    puts_(ctx, "[");
    return 1;
}


static int
ev_end_array(void *ctx)
{
    puts_(ctx, "]");
    return 1;
}


/* configured as request_ref.h configures yajl: no UTF-8 checks */

static int
yajl_events(const unsigned char *text, size_t len, buf_t *ev)
{
    yajl_status  st;
    yajl_handle  h;

    static const yajl_callbacks  callbacks = {
        ev_null, ev_boolean, ev_integer, ev_double, NULL, ev_string,
        ev_start_map, ev_key, ev_end_map, ev_start_array, ev_end_array
    };

    h = yajl_alloc(&callbacks, NULL, ev);
    if (h == NULL) {
        exit(2);
    }

    yajl_config(h, yajl_dont_validate_strings, 1);

    st = yajl_parse(h, text, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    return st == yajl_status_ok;
}


/*
 * yajl takes a string after the value for trailing garbage only once it
 * has read the whole string: it accepts {"model":"a"} "abc, open to the
 * end.  The tokenizer does not; such texts are left out of the comparison
 * (t/unit/request.c checks they are invalid).
 */

static int
open_tail(const unsigned char *text, size_t len)
{
    int                       open;
    size_t                    n;
    unsigned char            *tail;
    const unsigned char      *p, *last;
    tokenroute_json_scan_t    js;
    tokenroute_json_token_e   t;

    tokenroute_json_scan_init(&js, text, len);

    do {
        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_ERROR || t == TOKENROUTE_JSON_END) {
            return 0;
        }

    } while (js.depth != 0);

    last = text + len;

    for (p = js.end; p < last && strchr(" \t\n\r", *p) && *p; p++) {
        /* void */
    }

    if (p == last || *p != '"') {
        return 0;
    }

    /* closed after the space yajl_complete_parse() feeds, one string? */

    n = last - p;

    tail = malloc(n + 2);
    if (tail == NULL) {
        exit(2);
    }

    memcpy(tail, p, n);
    memcpy(tail + n, " \"", 2);

    tokenroute_json_scan_init(&js, tail, n + 2);
    open = (tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_STRING
            && js.end == tail + n + 2);

    free(tail);

    return open;
}


static void
gen_space(buf_t *b)
{
    static const char  ws[] = " \t\n\r";

    while (rnd(4) == 0) {
        put(b, &ws[rnd(4)], 1);
    }
}


static void
gen_string(buf_t *b, int long_ok)
{
    int  i, j, n;

    puts_(b, "\"");

    n = rnd(6);

    for (i = 0; i < n; i++) {
        switch (rnd(long_ok ? 5 : 4)) {

        case 0:
            puts_(b, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
            break;

        case 4:
            /* a long run, for the 16- and 32-byte loops */
            for (j = rnd(300); j > 0; j--) {
                putf(b, "%c", 'a' + rnd(26));
            }

            break;

        default:
            putf(b, "%c", 'a' + rnd(26));
            break;
        }
    }

    puts_(b, "\"");
}


static void
gen_number(buf_t *b)
{
    int  i;

    switch (rnd(6)) {

    case 0:
        putf(b, "%d", (int) rnd(2000) - 1000);
        break;

    case 1:
        /* the limit, and more digits than strtod() is given */
        puts_(b, dbl_limit);
        puts_(b, ".");

        for (i = rnd(2) ? 0 : 120; i > 0; i--) {
            puts_(b, "0");
        }

        puts_(b, rnd(2) ? "0" : "1");
        break;

    case 2:
        /* just below it, then times 10 */
        put(b, dbl_limit, sizeof(dbl_limit) - 2);
        puts_(b, "1.");

        for (i = rnd(2) ? 1 : 150; i > 0; i--) {
            puts_(b, "9");
        }

        puts_(b, rnd(3) ? "" : "e1");
        break;

    case 3:
        puts_(b, "0.");
        puts_(b, dbl_limit);
        putf(b, "e%u", 308 + rnd(3));
        break;

    default:
        puts_(b, numbers[rnd(sizeof(numbers) / sizeof(numbers[0]))]);
        break;
    }
}


static void
gen_value(buf_t *b, int depth)
{
    int  i, n;

    switch (rnd(depth < 6 ? 9 : 6)) {

    case 0:
    case 1:
        gen_string(b, 1);
        break;

    case 2:
    case 3:
        gen_number(b);
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

            if (rnd(3) == 0) {
                putf(b, "\"%s\"", keys[rnd(sizeof(keys) / sizeof(keys[0]))]);

            } else {
                gen_string(b, 0);
            }

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


/* an object with the members the scan reads, of the types it wants mostly */

static void
gen_body(buf_t *b)
{
    int          i, j, n, m;
    const char  *key;

    gen_space(b);
    puts_(b, "{");

    n = rnd(7);

    for (i = 0; i < n; i++) {
        key = keys[rnd(sizeof(keys) / sizeof(keys[0]))];

        gen_space(b);
        putf(b, "\"%s\"", key);
        gen_space(b);
        puts_(b, ":");
        gen_space(b);

        if (rnd(5) == 0) {
            gen_value(b, 1);

        } else if (strncmp(key, "model", 5) == 0 && key[5] != 's') {
            if (rnd(8) == 0) {
                /* about the length limit */
                m = 250 + rnd(10);
                puts_(b, "\"");

                for (j = 0; j < m; j++) {
                    puts_(b, rnd(50) ? "m" : "\\u0041");
                }

                puts_(b, "\"");

            } else {
                gen_string(b, 0);
            }

        } else if (strcmp(key, "models") == 0) {
            puts_(b, "[");
            m = rnd(11);

            for (j = 0; j < m; j++) {
                if (rnd(10)) {
                    gen_string(b, 0);

                } else {
                    gen_value(b, 2);
                }

                if (j < m - 1) {
                    puts_(b, ",");
                }
            }

            puts_(b, "]");

        } else if (strcmp(key, "stream_options") == 0) {
            puts_(b, "{");
            m = rnd(3);

            for (j = 0; j < m; j++) {
                putf(b, "\"%s\":", rnd(2) ? "include_usage" : "x");
                gen_space(b);

                if (rnd(4)) {
                    puts_(b, rnd(2) ? "true" : "false");

                } else {
                    gen_value(b, 2);
                }

                gen_space(b);

                if (j < m - 1) {
                    puts_(b, ",");
                }
            }

            puts_(b, "}");

        } else if (strncmp(key, "max", 3) == 0) {
            gen_number(b);

        } else {
            gen_value(b, 1);
        }

        gen_space(b);

        if (i < n - 1) {
            puts_(b, ",");
        }
    }

    puts_(b, "}");
    gen_space(b);
}


static void
mutate(buf_t *b)
{
    size_t  at, i, n, len;

    static const char  alphabet[] = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01"
                                    "\x1f\x7f\x80\xff\t\n\rux/";

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
        /* a slice again, just after itself */
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

    for (i = 0; i < n; i++) {
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


static void
putf(buf_t *b, const char *fmt, ...)
{
    int      n;
    char     tmp[64];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);

    if (n < 0 || n >= (int) sizeof(tmp)) {
        exit(2);
    }

    put(b, tmp, n);
}

