
/*
 * Copyright (C) tokenroute authors
 *
 * Random JSON texts for the differential tests of the JSON tree and the
 * request writer: values nested a few levels, strings with every escape,
 * broken UTF-8 and controls, numbers right and wrong, what may and may
 * not follow a value, and mutations of it all.  Static functions, some
 * unused by one test or the other.
 */


#ifndef _TOKENROUTE_JSON_GEN_H_INCLUDED_
#define _TOKENROUTE_JSON_GEN_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define JG_UNUSED  __attribute__((unused))


typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          size;
} buf_t;


JG_UNUSED static uint32_t rnd(uint32_t n);
JG_UNUSED static void put(buf_t *b, const void *p, size_t n);
JG_UNUSED static void puts_(buf_t *b, const char *s);
JG_UNUSED static void gen_space(buf_t *b);
JG_UNUSED static void gen_string(buf_t *b);
JG_UNUSED static void gen_value(buf_t *b, int depth);
JG_UNUSED static void gen_tail(buf_t *b);
JG_UNUSED static void mutate(buf_t *b);
JG_UNUSED static void diag_text(const char *what, const unsigned char *p,
    size_t n);


static uint64_t  seed = 0x9e3779b97f4a7c15ULL;
JG_UNUSED static int  bad_shown;

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
    "\\u001b", "\\u001F", "\\u007f",
    "\\uD800", "\\uDC00", "\\uD800x", "\\uD800\\n", "\\uDBFF\\uDFFF",
    "\\uD800\\u0041", "\\uD800\\\\u0041", "\\u004", "\\uzzzz", "\\x", "\\",
    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xe2\x82",
    "\xf0\x9f\x98", "\xff", "\x80", "\xf8\x80\x80\x80", "\xc3\x28", "\x7f",
    "\x01", "\t", "\\u00", "\"", "/", "\x0b"
};

static const char  *spaces = " \t\n\r\v\f";


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


#endif /* _TOKENROUTE_JSON_GEN_H_INCLUDED_ */
