
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the JSON skimmer (src/tokenroute_skim*.c), with expected
 * values written out: the shortcuts for the commonest events and what
 * they turn down, decoded string lengths, keys with escapes, numbers at
 * yajl's limits, trailing bytes, nesting deeper than the struct holds,
 * and every way of splitting a body.  t/unit/usage_diff.c compares the
 * same code against yajl.  Prints TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_skim.h>
#include <tokenroute_usage.h>

#include "tap.h"


#define OA   TOKENROUTE_SHAPE_OPENAI
#define AN   TOKENROUTE_SHAPE_ANTHROPIC


typedef struct {
    const char  *data;
    int64_t      bytes;     /* -1: turned down */
    int          finish;
} shape_t;


static int skim(int shape, int stream, const char *s, size_t len,
    size_t step, tokenroute_skim_t *sk);
static int skim_str(int shape, int stream, const char *s,
    tokenroute_skim_t *sk);
static int64_t content(const char *text);
static void test_chunk(void);
static void test_delta(void);
static void test_strings(void);
static void test_numbers(void);
static void test_trailing(void);
static void test_nesting(void);
static void test_splits(void);




#define CHUNK_HEAD                                                            \
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","            \
    "\"created\":1735689600,\"model\":\"gpt-4o-mini\","                       \
    "\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"


static const shape_t  chunks[] = {

    /* as OpenAI sends them */
    { CHUNK_HEAD "\"delta\":{\"role\":\"assistant\",\"content\":\"\","
      "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],"
      "\"usage\":null}", 0, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"Sure! Here\"},\"logprobs\":null,"
      "\"finish_reason\":null}],\"usage\":null}", 10, 0 },
    { CHUNK_HEAD "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
      "\"usage\":null}", 0, 1 },
    { CHUNK_HEAD "\"delta\":{\"reasoning_content\":\"Think\"},"
      "\"finish_reason\":null}]}", 5, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":null}}],\"usage\":null,"
      "\"obfuscation\":\"x1\",\"n\":-7,\"t\":true,\"f\":false}", 0, 0 },
    { "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],"
      "\"choices\":[{\"delta\":{\"content\":\"bc\"}}]}", 3, 0 },

    /* turned down, for the skimmer to read */
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\\nb\"}}]}", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\tb\"}}]}", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\"}}], \"usage\":null}", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\"}}]} ", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\"}}],\"usage\":{}}", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\"}}],\"error\":null}", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"tool_calls\":[]}}]}", -1, 0 },
    { CHUNK_HEAD "\"delta\":{\"content\":\"a\"}},{\"index\":1}]}", -1, 0 },
    { "{\"choices\":[]}", -1, 0 },
    { "{\"choices\":[{\"index\":01}]}", -1, 0 },
    { "{\"choices\":[{\"index\":1234567890123456789}]}", -1, 0 },
    { "{\"choices\":[{\"index\":1.0}]}", -1, 0 },
    { "{\"choices\":[{\"logprobs\":{}}]}", -1, 0 },
    { "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]", -1, 0 },
    { "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}}", -1, 0 },
    { "{\"us\\u0061ge\":null,\"choices\":[{}]}", -1, 0 },
    { "{}", -1, 0 },
    { "", -1, 0 }
};


#define DELTA_HEAD  "{\"type\":\"content_block_delta\",\"index\":"

static const shape_t  deltas[] = {
    { DELTA_HEAD "0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}",
      5, 0 },
    { DELTA_HEAD "12,\"delta\":{\"type\":\"input_json_delta\","
      "\"partial_json\":\"{}\"}}", 2, 0 },
    { DELTA_HEAD "3,\"delta\":{\"type\":\"thinking_delta\","
      "\"thinking\":\"\"}}", 0, 0 },

    { DELTA_HEAD "0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\\\"\"}}",
      -1, 0 },
    { DELTA_HEAD "0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\x1f\"}}",
      -1, 0 },
    { DELTA_HEAD "01,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}",
      -1, 0 },
    { DELTA_HEAD ",\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}",
      -1, 0 },
    { DELTA_HEAD "-1,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}",
      -1, 0 },
    { DELTA_HEAD "0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}} ",
      -1, 0 },
    { DELTA_HEAD "0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}}",
      -1, 0 },
    { DELTA_HEAD "0,\"delta\":{\"type\":\"signature_delta\","
      "\"signature\":\"a\"}}", -1, 0 },
    { DELTA_HEAD "0,\"delta\":{\"type\":\"text_delta\",\"text\":\"}}", -1, 0 },
    { "{\"type\":\"content_block_delta\"}", -1, 0 }
};


int
main(void)
{
    test_chunk();
    test_delta();
    test_strings();
    test_numbers();
    test_trailing();
    test_nesting();
    test_splits();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


static void
test_chunk(void)
{
    int                 rc, finish, flags;
    size_t              i;
    int64_t             bytes;
    tokenroute_skim_t   sk;
    tokenroute_usage_t  u;

    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        rc = tokenroute_skim_chunk(chunks[i].data, strlen(chunks[i].data),
                                   &bytes, &finish);

        if (chunks[i].bytes < 0) {
            ok(rc == -1, "chunk %zu is turned down", i);
            continue;
        }

        ok(rc == 0 && bytes == chunks[i].bytes && finish == chunks[i].finish,
           "chunk %zu: %lld content bytes, finish %d", i, (long long) bytes,
           finish);

        /* and the skimmer reads the same */

        rc = skim_str(OA, 1, chunks[i].data, &sk);
        memset(&u, 0, sizeof(tokenroute_usage_t));
        flags = tokenroute_usage_skimmed(OA, NULL, 0, &sk, &u);

        ok(rc == 0 && u.content_bytes == bytes
           && flags == (finish ? TOKENROUTE_EVENT_FINAL : 0),
           "chunk %zu: the skimmer agrees", i);
    }
}


static void
test_delta(void)
{
    size_t              i;
    int64_t             n;
    tokenroute_usage_t  u;

    for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        n = tokenroute_skim_delta(deltas[i].data, strlen(deltas[i].data));

        ok(n == deltas[i].bytes, "delta %zu: %lld", i, (long long) n);
    }

    /* an "error" event is never a delta, whatever its data */

    memset(&u, 0, sizeof(tokenroute_usage_t));

    ok(tokenroute_usage_event(AN, "error", 5, deltas[0].data,
                              strlen(deltas[0].data), &u)
       == TOKENROUTE_EVENT_ERROR && u.error && u.content_bytes == 5,
       "delta: an \"error\" event with a delta's data is an error");
}


/* the decoded length of a content string, through the skimmer */

static int64_t
content(const char *text)
{
    char               buf[512];
    tokenroute_skim_t  sk;

    snprintf(buf, sizeof(buf),
             "{\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}", text);

    if (skim_str(OA, 1, buf, &sk) != 0) {
        return -1;
    }

    return sk.content_bytes;
}


static void
test_strings(void)
{
    tokenroute_skim_t   sk;
    tokenroute_usage_t  u;

    static const char  escaped[] =
        "{\"us\\u0061ge\":{\"prompt_t\\u006fkens\":5},\"c\\u0068oices\":[]}";

    ok(content("abc") == 3, "string: plain");
    ok(content("a\\nb\\t\\\"\\\\\\/") == 7, "string: simple escapes, 1 each");
    ok(content("\\u0041\\u00e9\\u20ac") == 6, "string: \\u is 1, 2, 3 bytes");
    ok(content("\\ud83d\\ude00") == 4, "string: a surrogate pair is 4 bytes");
    ok(content("\\ud800") == 1 && content("\\ud800x") == 2,
       "string: a lone high surrogate is \"?\"");
    ok(content("\\udc00") == 3, "string: a lone low surrogate is 3 bytes");
    ok(content("\\ud800\\u0041") == 4,
       "string: whatever \\u follows a high surrogate pairs with it");
    ok(content("\\ud800\\n") == 2 && content("\\ud800\\\\\\\\") == 3,
       "string: a high surrogate before another escape");
    ok(content("\\ud800\\ud800\\udc00") == 7,
       "string: two high surrogates, then a low one");
    ok(content("\\u0000") == 1, "string: \\u0000 is one byte");
    ok(content("\xc3\xa9\xff") == 3, "string: bytes are not checked as UTF-8");
    ok(content("a\\x") == -1 && content("\\u12") == -1
       && content("\\u12g4") == -1 && content("a\x01") == -1,
       "string: a bad escape or a control byte is not JSON");

    /* keys are compared decoded */

    memset(&u, 0, sizeof(tokenroute_usage_t));
    ok(tokenroute_usage_event(OA, NULL, 0, escaped, strlen(escaped), &u)
       == TOKENROUTE_EVENT_USAGE_ONLY && u.input_tokens == 5,
       "string: keys with escapes are matched decoded");

    ok(skim_str(AN, 1, "{\"type\":\"message\\u005fstop\"}", &sk) == 0
       && sk.type == TOKENROUTE_SKIM_MESSAGE_STOP,
       "string: so are event types");

    ok(skim_str(AN, 1, "{\"type\":\"message_stop\\u0000\"}", &sk) == 0
       && sk.type == TOKENROUTE_SKIM_OTHER,
       "string: \\u0000 is part of the value");

    ok(skim_str(OA, 1, "{\"choices\":[{\"delta\":{\"content\":"
                "\"\\\"usage\\\": {\\\"prompt_tokens\\\": 9}\"}}]}", &sk) == 0
       && !sk.usage_object && sk.tokens_seen == 0 && sk.content_bytes == 29,
       "string: \"usage\" inside a string is text");
}


static void
test_numbers(void)
{
    tokenroute_skim_t  sk;

    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":9223372036854775807}}",
                &sk) == 0 && sk.tokens[0] == INT64_MAX,
       "number: the largest long long");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":9223372036854775808}}",
                &sk) == -1 && sk.tokens_seen == 0,
       "number: one more overflows, and the body is not JSON");
    ok(skim_str(OA, 0, "{\"x\":-9223372036854775808}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":-9223372036854775807}", &sk) == 0,
       "number: yajl has the smallest long long overflow too");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":-3,"
                "\"completion_tokens\":\"12\"}}", &sk) == 0
       && sk.tokens_seen == 0,
       "number: negative counts and strings are not counts");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":12.0,"
                "\"completion_tokens\":1e3}}", &sk) == 0
       && sk.tokens[0] == 12 && sk.tokens[3] == 1000,
       "number: a whole double is a count");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":12.5,"
                "\"completion_tokens\":9e18}}", &sk) == 0
       && sk.tokens_seen == 0,
       "number: a fraction or 9e18 is not");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":1e-400,"
                "\"completion_tokens\":-0.0}}", &sk) == 0
       && sk.tokens_seen == 9 && sk.tokens[0] == 0 && sk.tokens[3] == 0,
       "number: underflow and -0.0 are a count of 0, as with strtod()");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":1e-999999,"
                "\"completion_tokens\":0.001e999999}}", &sk) == -1
       && sk.tokens_seen == 1 && sk.tokens[0] == 0,
       "number: exponents far beyond a double's");
    ok(skim_str(OA, 0, "{\"x\":1.7976931348623157e308}", &sk) == 0
       && skim_str(OA, 0, "{\"x\":1.7976931348623159e308}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":1e400}", &sk) == -1,
       "number: a double past DBL_MAX is not JSON, anywhere");
    ok(skim_str(OA, 0, "{\"x\":01}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":1.}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":-}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":.5}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":+1}", &sk) == -1
       && skim_str(OA, 0, "{\"x\":1e}", &sk) == -1,
       "number: JSON's grammar");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":5x}}", &sk) == -1
       && sk.tokens[0] == 5 && sk.tokens_seen == 1,
       "number: a count is taken before what follows it fails");
    ok(skim_str(OA, 0, "{\"usage\":{\"prompt_tokens\":5", &sk) == -1
       && sk.tokens[0] == 5,
       "number: a count at the very end is taken by finish");
    ok(skim_str(OA, 0, "12", &sk) == 0 && skim_str(OA, 0, "-", &sk) == -1,
       "number: at the top level");
}


static void
test_trailing(void)
{
    tokenroute_skim_t  sk;

    ok(skim_str(OA, 0, "{} \t\r\n\v\f", &sk) == 0,
       "trailing: whitespace, \\v and \\f included");
    ok(skim_str(OA, 0, "{} \"abc", &sk) == 0
       && skim_str(OA, 0, "{} \"a\\n", &sk) == 0,
       "trailing: an unterminated string is left, as yajl leaves it");
    ok(skim_str(OA, 0, "{} \"abc\"", &sk) == -1
       && skim_str(OA, 0, "{} \"a\\", &sk) == -1
       && skim_str(OA, 0, "{} \"\x01", &sk) == -1,
       "trailing: a whole string, or a broken one, is garbage");
    ok(skim_str(OA, 0, "{} x", &sk) == -1 && skim_str(OA, 0, "{} 1", &sk) == -1
       && skim_str(OA, 0, "{}{}", &sk) == -1,
       "trailing: anything else is garbage");
    ok(skim_str(OA, 0, "", &sk) == -1 && skim_str(OA, 0, " ", &sk) == -1
       && skim_str(OA, 0, "\xEF\xBB\xBF{}", &sk) == -1,
       "trailing: nothing, whitespace, a BOM are not JSON");
}


static void
test_nesting(void)
{
    int                 rc, i;
    char               *s, *p;
    size_t              n, k, len;
    tokenroute_skim_t   sk;
    tokenroute_usage_t  u;

    /* much deeper than TOKENROUTE_SKIM_STACK: the levels go to the heap */

    n = 5000;
    s = malloc(6 * n + 256);
    if (s == NULL) {
        exit(2);
    }

    for (i = 1; i >= 0; i--) {
        p = s;
        p += sprintf(p, "{\"x\":");

        for (k = 0; k < n; k++) {
            p += sprintf(p, (k % 3) ? "[" : "{\"a\":");
        }

        for (k = n; k > 0; k--) {
            p += sprintf(p, ((k - 1) % 3) ? "]" : "}");
        }

        sprintf(p, "%s,\"usage\":{\"prompt_tokens\":8}}", i ? "]" : "");
        len = strlen(s);

        rc = skim(OA, 0, s, len, len, &sk);

        ok(i ? rc == -1 : rc == 0 && sk.tokens[0] == 8,
           "nesting: %zu levels, %s", n, i ? "one too many closed" : "whole");

        ok(skim(OA, 0, s, len, 1, &sk) == rc,
           "nesting: the same a byte at a time");
    }

    memset(&u, 0, sizeof(tokenroute_usage_t));
    ok(tokenroute_usage_event(OA, NULL, 0, s, len - 40, &u) == -1,
       "nesting: an event that does not close is not JSON");

    free(s);
}


static void
test_splits(void)
{
    int                      good, rc;
    size_t                   i, len;
    tokenroute_usage_t       u, v;
    tokenroute_usage_json_t  uj;

    static const char  body[] =
        "{\"id\":\"msg\",\"content\":[{\"type\":\"text\",\"text\":\"\\ud83d"
        "\\ude00 \\\"usage\\\": 1\"}],\"usage\":{\"input_tokens\":12,"
        "\"cache_creation_input_tokens\":1.5e3,\"cache_read_input_tokens\":"
        "3000,\"output_tokens\":45}, \"error\" : null }";

    len = sizeof(body) - 1;

    memset(&u, 0, sizeof(tokenroute_usage_t));
    tokenroute_usage_json_init(&uj, AN, &u);
    rc = tokenroute_usage_json_feed(&uj, body, len);
    rc |= tokenroute_usage_json_finish(&uj);
    tokenroute_usage_json_free(&uj);

    ok(rc == 0 && u.input_tokens == 12 && u.cache_write_tokens == 1500
       && u.cached_tokens == 3000 && u.output_tokens == 45 && !u.error,
       "body: read whole");

    good = 1;

    for (i = 0; i <= len && good; i++) {
        memset(&v, 0, sizeof(tokenroute_usage_t));
        tokenroute_usage_json_init(&uj, AN, &v);

        rc = tokenroute_usage_json_feed(&uj, body, i);
        rc |= tokenroute_usage_json_feed(&uj, body + i, len - i);
        rc |= tokenroute_usage_json_finish(&uj);
        tokenroute_usage_json_free(&uj);

        good = (rc == 0 && memcmp(&u, &v, sizeof(tokenroute_usage_t)) == 0);
    }

    ok(good, "body: the same split in two at every offset");
}


/* through the skimmer's own API, in pieces of step bytes */

static int
skim(int shape, int stream, const char *s, size_t len, size_t step,
    tokenroute_skim_t *sk)
{
    int     rc;
    size_t  i, n;

    tokenroute_skim_init(sk, shape, stream);

    rc = 0;

    for (i = 0; i < len && rc == 0; i += n) {
        n = (len - i < step) ? len - i : step;
        rc = tokenroute_skim_feed(sk, s + i, n);
    }

    if (rc == 0) {
        rc = tokenroute_skim_finish(sk);
    }

    tokenroute_skim_free(sk);

    return rc;
}


static int
skim_str(int shape, int stream, const char *s, tokenroute_skim_t *sk)
{
    size_t  len;

    len = strlen(s);

    return skim(shape, stream, s, len, len ? len : 1, sk);
}

