
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the request body scanner, its JSON tokenizer and the
 * model splice (src/tokenroute_request.c, src/tokenroute_json_scan.c,
 * src/tokenroute_json_value.c); t/unit/request_diff.c compares them with
 * yajl.  Prints TAP.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_json_scan.h>
#include <tokenroute_json_value.h>
#include <tokenroute_request.h>

#include "tap.h"


typedef struct {
    const char                   *body;
    tokenroute_request_status_e   status;
    const char                   *model;
    int                           stream;
    long long                     max_tokens;
    const char                   *bad_field;
} scan_case_t;


typedef struct {
    const char  *body;
    const char  *model;
    int          include_usage;
    const char  *expect;
    int          drop_models;
} rewrite_case_t;


static void test_scan_cases(void);
static void test_invalid(void);
static void test_prefixes(void);
static void prefixes(const char *body);
static void test_fields(void);
static tokenroute_request_status_e long_model(size_t n, int escaped);
static void test_depth(void);
static tokenroute_request_status_e deep(int n, int open);
static void test_tokenizer(void);
static size_t unescape(const char *s, unsigned char *out, size_t size);
static void test_rewrites(void);
static tokenroute_request_status_e scan(const char *body, size_t len,
    tokenroute_request_t *req);
static tokenroute_request_status_e scan_str(const char *body,
    tokenroute_request_t *req);
static const char *show(const char *s, size_t len);




static scan_case_t  scan_cases[] = {
    { "{\"model\":\"gpt\",\"messages\":[]}",
      TOKENROUTE_REQUEST_OK, "gpt", 0, -1, NULL },
    { " { \"messages\" : [ {\"model\":\"inner\"} ] , \"model\" :  \"m/x\" } ",
      TOKENROUTE_REQUEST_OK, "m/x", 0, -1, NULL },
    { "{\"model\":\"a\",\"stream\":true,\"max_tokens\":100}",
      TOKENROUTE_REQUEST_OK, "a", 1, 100, NULL },
    { "{\"model\":\"a\",\"stream\":false,\"stream_options\":{\"x\":1}}",
      TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { "{\"max_completion_tokens\":7,\"model\":\"a\",\"max_tokens\":100}",
      TOKENROUTE_REQUEST_OK, "a", 0, 7, NULL },
    { "{\"max_tokens\":100,\"model\":\"a\",\"max_completion_tokens\":7}",
      TOKENROUTE_REQUEST_OK, "a", 0, 7, NULL },
    { "{\"model\":\"a\",\"stream\":null,\"max_tokens\":null}",
      TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { "{\"model\":\"q\\\"uo\\\\\",\"x\":1}",
      TOKENROUTE_REQUEST_OK, "q\"uo\\", 0, -1, NULL },
    { "{\"meta\":{\"model\":\"x\"},\"model\":\"\\u0041b\"}",
      TOKENROUTE_REQUEST_OK, "Ab", 0, -1, NULL },
    { "{\"model\":\"a\"", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\"} {}", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1,
      NULL },
    { "[{\"model\":\"a\"}]", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1,
      NULL },
    { "\"model\"", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "{\"messages\":[]}", TOKENROUTE_REQUEST_NO_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":42}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":\"\"}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":null}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":[\"a\"]}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"model\":\"b\"}", TOKENROUTE_REQUEST_BAD_MODEL, NULL,
      0, -1, NULL },
    { "{\"model\":\"a\",\"stream\":\"yes\"}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "stream" },
    { "{\"model\":\"a\",\"max_tokens\":0}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_completion_tokens\":1.5}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "max_completion_tokens" },
    { "{\"model\":\"a\",\"models\":\"b\"}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[1]}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[\"a\"],\"models\":[]}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"stream_options\":true}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "stream_options" },
    { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":1}}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1,
      "stream_options.include_usage" },
    { "{\"model\":\"a\",\"stream_options\":{},\"stream_options\":{}}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "stream_options" },

    /* keys are compared decoded, as yajl hands them over */
    { "{\"mod\\u0065l\":\"esc\"}", TOKENROUTE_REQUEST_OK, "esc", 0, -1,
      NULL },
    { "{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", TOKENROUTE_REQUEST_BAD_MODEL,
      NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"max\\u005ftokens\":5,\"str\\u0065am\":true}",
      TOKENROUTE_REQUEST_OK, "a", 1, 5, NULL },
    { "{\"model\\u0000\":\"a\"}", TOKENROUTE_REQUEST_NO_MODEL, NULL, 0, -1,
      NULL },
    { "{\"Model\":\"a\",\"model \":\"b\",\"models\":null}",
      TOKENROUTE_REQUEST_NO_MODEL, NULL, 0, -1, NULL },

    /* whitespace everywhere, the model last, "model" nested elsewhere */
    { " \t\r\n{ \"stream\" :\ttrue ,\n\"meta\" : { \"model\" : \"no\" } ,"
      "\r\n \"messages\" : [ { \"model\" : [ 1 , 2.5e-3 , null ] } ] ,"
      " \"model\"\n:\n\"yes\"\t}\n\r\t ",
      TOKENROUTE_REQUEST_OK, "yes", 1, -1, NULL },
    { "{\"stream_options\":{\"model\":\"so\"},\"model\":\"m\"}",
      TOKENROUTE_REQUEST_OK, "m", 0, -1, NULL },

    /* the model's text, decoded; UTF-8 is the provider's to check */
    { "{\"model\":\"a\\/b\\tc\\u00e9\"}", TOKENROUTE_REQUEST_OK,
      "a/b\tc\xc3\xa9", 0, -1, NULL },
    { "{\"model\":\"\\uD83D\\uDE00\"}", TOKENROUTE_REQUEST_OK,
      "\xf0\x9f\x98\x80", 0, -1, NULL },
    { "{\"model\":\"x\\uD800y\"}", TOKENROUTE_REQUEST_OK, "x?y", 0, -1,
      NULL },
    { "{\"model\":\"\\uDC00\"}", TOKENROUTE_REQUEST_OK, "\xed\xb0\x80", 0,
      -1, NULL },
    { "{\"model\":\"\xff\xfe\x80\"}", TOKENROUTE_REQUEST_OK, "\xff\xfe\x80",
      0, -1, NULL },
    { "{\"model\":\"a\\u0000\"}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1,
      NULL },
    { "{\"model\":true}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":1.5}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":{\"id\":\"a\"}}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1,
      NULL },

    /* the first problem in text order decides, as with yajl's callbacks */
    { "{\"model\":01}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"stream\":1,}", TOKENROUTE_REQUEST_BAD_FIELD, NULL,
      0, -1, "stream" },
    { "{\"model\":\"a\",\"stream\":1", TOKENROUTE_REQUEST_BAD_FIELD, NULL,
      0, -1, "stream" },
    { "{\"model\":\"a\",\"max_tokens\":0", TOKENROUTE_REQUEST_BAD_FIELD, NULL,
      0, -1, "max_tokens" },
    { "{\"model\":truex}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"x\":[1,}, \"model\":42}", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0,
      -1, NULL },
    { "{\"model\":\"a\",\"model\" \"b\"}", TOKENROUTE_REQUEST_BAD_MODEL, NULL,
      0, -1, NULL },

    /* the top level */
    { "[]", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { " 1", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "1x", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "-1.5e3", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "null", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "truex", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "{}", TOKENROUTE_REQUEST_NO_MODEL, NULL, 0, -1, NULL },
    { " \n", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "tru", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "-", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "]", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },

    /* max_tokens and max_completion_tokens */
    { "{\"model\":\"a\",\"max_tokens\":1}", TOKENROUTE_REQUEST_OK, "a", 0, 1,
      NULL },
    { "{\"model\":\"a\",\"max_tokens\":9223372036854775807}",
      TOKENROUTE_REQUEST_OK, "a", 0, 9223372036854775807LL, NULL },
    { "{\"model\":\"a\",\"max_tokens\":9223372036854775808}",
      TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"max_tokens\":-9223372036854775808}",
      TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"max_tokens\":-1}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_tokens\":-0}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_tokens\":1.0}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_tokens\":1e3}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_tokens\":1e999}",
      TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"max_tokens\":\"5\"}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_completion_tokens\":[5]}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "max_completion_tokens" },
    { "{\"model\":\"a\",\"max_tokens\":100,\"max_tokens\":5}",
      TOKENROUTE_REQUEST_OK, "a", 0, 100, NULL },
    { "{\"model\":\"a\",\"max_completion_tokens\":7,"
      "\"max_completion_tokens\":9}", TOKENROUTE_REQUEST_OK, "a", 0, 9, NULL },

    /* numbers yajl cannot convert, wherever they are */
    { "{\"model\":\"a\",\"n\":[99999999999999999999]}",
      TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"t\":1.7976931348623159e308}",
      TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"t\":-1e309}", TOKENROUTE_REQUEST_INVALID_JSON, NULL,
      0, -1, NULL },
    { "{\"model\":\"a\",\"t\":[1.7976931348623157e308,1e-400,0e99999,"
      "-9223372036854775807,0.00001e312,123456789012345678901.5]}",
      TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },

    /* stream */
    { "{\"model\":\"a\",\"stream\":true,\"stream\":null}",
      TOKENROUTE_REQUEST_OK, "a", 1, -1, NULL },
    { "{\"model\":\"a\",\"stream\":true,\"stream\":false}",
      TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { "{\"model\":\"a\",\"stream\":1}", TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0,
      -1, "stream" },
    { "{\"model\":\"a\",\"stream\":{}}", TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0,
      -1, "stream" },

    /* models */
    { "{\"model\":\"a\",\"models\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
      "\"8\"]}", TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { "{\"model\":\"a\",\"models\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
      "\"8\",\"9\"]}", TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[null]}", TOKENROUTE_REQUEST_BAD_FIELD, NULL,
      0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[{}]}", TOKENROUTE_REQUEST_BAD_FIELD, NULL,
      0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[\"\"]}", TOKENROUTE_REQUEST_BAD_FIELD, NULL,
      0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[\"\\u0000\"]}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[true]}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":null,\"models\":null}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },

    /* stream_options */
    { "{\"model\":\"a\",\"stream_options\":[]}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "stream_options" },
    { "{\"model\":\"a\",\"stream_options\":\"x\"}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "stream_options" },
    { "{\"model\":\"a\",\"stream_options\":null,\"stream_options\":null}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "stream_options" },
    { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":\"yes\"}}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1,
      "stream_options.include_usage" },
    { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":{}}}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1,
      "stream_options.include_usage" },
    { "{\"model\":\"a\",\"stream_options\":{\"x\":{\"include_usage\":5},"
      "\"y\":[1]}}", TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};


/* invalid JSON inside a body that is fine otherwise: {"model":"a","x":%s} */

static const char  *bad_values[] = {
    /* strings: escapes, control characters, ends */
    "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"", "\"\\ \"",
    "\"\\'\"", "\"a\\\"", "\"\x01\"", "\"a\nb\"", "\"\t\"", "\"\x1f\"",
    "\"abc", "'a'",
    /* numbers */
    "01", "-01", "00", "1.", ".5", "-", "1e", "1e+", "1E-", "+1", "1.e5",
    "0x10", "1ee5", "--1", "- 1", "1.5.", "NaN", "Infinity", "-Infinity",
    "1_000", "99999999999999999999", "1e400",
    /* literals */
    "tru", "True", "nul", "NULL", "falsey", "tr ue", "n", "undefined",
    /* structure */
    "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "[1,,2]", "{\"a\"}",
    "{\"a\":}", "{\"a\" 1}", "{\"a\"::1}", "{1:2}", "{a:1}", "{\"a\":1,}",
    "{,\"a\":1}", "{\"a\":1;\"b\":2}", "[}", "{]", "[1]]", "/* c */1",
    "\x80", "\xff", "\v1", "\f1", "1\v",
    NULL
};


/* invalid JSON as whole bodies */

static const char  *bad_bodies[] = {
    "{\"model\":\"a\"} x", "{\"model\":\"a\"}}", "{\"model\":\"a\"},",
    "{\"model\":\"a\"}]", "{\"model\":\"a\"} {", "{\"model\":\"a\"} 1",
    "{\"model\":\"a\"} \"x\"", "{\"model\":\"a\"}\v", "{\"model\":\"a\"}\f",
    "\v{\"model\":\"a\"}", "{\"model\":\"a\" // c\n}",
    /* yajl takes an open string after the value for the end of the text */
    "{\"model\":\"a\"} \"open", "{\"model\":\"a\"}\"",
    "{\"model\" \"a\"}", "{\"model\":\"a\",}", "{\"model\":\"a\",,\"b\":1}",
    "{\"model\":\"a\";}", "{\"model\"::\"a\"}", "{,\"model\":\"a\"}",
    "{\"model\":\"a\"", "{\"model\":\"a\",", "{\"model\":\"a\",\"b\"",
    "{\"model\":\"a\",\"b\":", "{\"model\":\"a\" \"stream\":true}",
    "{'model':'a'}", "{model:\"a\"}",
    NULL
};


/* a chat body with a bit of everything, for the truncation test */

static const char  chat_body[] =
    "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,"
    "\"stream_options\":{\"include_usage\":false,\"x\":[1,{\"y\":null}]},"
    "\"models\":[\"a/b\",\"c\\/d\"],\"messages\":[{\"role\":\"system\","
    "\"content\":\"Be brief.\\nAnswer in \\\"quotes\\\" \\u00e9"
    "\\uD83D\\uDE00.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi!\"}]}],"
    "\"max_tokens\":256,\"temperature\":0.7,\"top_p\":1e-1,\"seed\":-42,"
    "\"logit_bias\":{},\"stop\":[],\"user\":\"customer-4821\",\"n\":1,"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
    "\"parallel_tool_calls\":false,\"metadata\":null}";


static rewrite_case_t  rewrite_cases[] = {
    { "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[]}", "gpt-4o-mini", 0,
      "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", 0 },
    { "{ \"messages\":[{\"model\":\"keep\"}], \"model\" : \"pub\" }", "up", 0,
      "{ \"messages\":[{\"model\":\"keep\"}], \"model\" : \"up\" }", 0 },
    { "{\"model\":\"a\\\"b\\\\\"}", "z", 0,
      "{\"model\":\"z\"}", 0 },
    { "{\"model\":\"x\"}", "we\"ird\\\n", 0,
      "{\"model\":\"we\\\"ird\\\\\\u000a\"}", 0 },
    { " {\"model\":\"x\",\"stream\":true}", "y", 1,
      " {\"stream_options\":{\"include_usage\":true},\"model\":\"y\","
      "\"stream\":true}", 0 },
    { "{\"stream\":true,\"stream_options\":{},\"model\":\"x\"}", "y", 1,
      "{\"stream\":true,\"stream_options\":{\"include_usage\":true},"
      "\"model\":\"y\"}", 0 },
    { "{\"model\":\"x\",\"stream_options\": { \"include_usage\" : false } }",
      "y", 1,
      "{\"model\":\"y\",\"stream_options\": { \"include_usage\" : false "
      ",\"include_usage\":true} }", 0 },
    { "{\"model\":\"x\",\"stream_options\":{\"include_usage\":true}}",
      "y", 1,
      "{\"model\":\"y\",\"stream_options\":{\"include_usage\":true}}", 0 },
    { "{\"stream_options\":null,\"model\":\"x\"}", "y", 1,
      "{\"stream_options\":{\"include_usage\":true},\"model\":\"y\"}", 0 },
    { "{\"model\":\"x\",\"stream_options\":{\"a\":{\"b\":1}}}", "y", 1,
      "{\"model\":\"y\",\"stream_options\":{\"a\":{\"b\":1},"
      "\"include_usage\":true}}", 0 },
    { "{\"model\":\"x\",\"models\":[\"a\",\"b\"],\"n\":1}", "y", 0,
      "{\"model\":\"y\",\"n\":1}", 1 },
    { "{\"models\" : [\"a\"] , \"model\":\"x\"}", "y", 0,
      "{ \"model\":\"y\"}", 1 },
    { "{\"model\":\"x\", \"models\":[]}", "y", 0,
      "{\"model\":\"y\"}", 1 },
    { "{\"model\":\"x\",\"models\":null,\"stream\":true}", "y", 1,
      "{\"stream_options\":{\"include_usage\":true},\"model\":\"y\","
      "\"stream\":true}", 1 },
    { "{\"model\":\"x\",\"models\":[\"a\"]}", "y", 0,
      "{\"model\":\"y\",\"models\":[\"a\"]}", 0 },
    { NULL, NULL, 0, NULL, 0 }
};


/*
 * tokenroute_request_anthropic_path() against nginx's test, ngx_strnstr()
 * for "/messages" (copied here: it stops at a NUL byte), on fixed paths
 * and random ones over a small alphabet that builds the needle often.
 */

static int
ref_anthropic_path(const unsigned char *s1, size_t len)
{
    size_t          n;
    unsigned char   c1, c2;
    const char     *s2;

    s2 = "/messages";
    c2 = (unsigned char) *s2++;
    n = strlen(s2);

    do {
        do {
            if (len-- == 0) {
                return 0;
            }

            c1 = *s1++;

            if (c1 == 0) {
                return 0;
            }

        } while (c1 != c2);

        if (n > len) {
            return 0;
        }

    } while (strncmp((const char *) s1, s2, n) != 0);

    return 1;
}


static void
test_anthropic_path(void)
{
    int             bad, r1, r2;
    size_t          i, len, k;
    unsigned char  *p;

    static const char  *fixed[] = {
        "/v1/messages", "/v1/chat/completions", "/messages", "/message",
        "/v1/messages/count_tokens", "/x/messagesy", "//messages",
        "/v1/me\\0ssages/messages", "/v1/\\0/messages", "", "/",
        "/v1/mmessages", "/v1/m/messages?x", "messages", "/MESSAGES",
        NULL
    };

    static const char  alphabet[] = "/messag\0x";

    bad = 0;

    for (i = 0; fixed[i]; i++) {
        len = strlen(fixed[i]);
        p = malloc(len ? len : 1);
        if (p == NULL) {
            ok(0, "malloc");
            return;
        }

        /* "\\0" in the table stands for a NUL byte */

        for (k = 0, len = 0; fixed[i][k]; k++) {
            if (fixed[i][k] == '\\' && fixed[i][k + 1] == '0') {
                p[len++] = '\0';
                k++;
                continue;
            }

            p[len++] = (unsigned char) fixed[i][k];
        }

        r1 = tokenroute_request_anthropic_path(p, len);
        r2 = ref_anthropic_path(p, len);

        ok(r1 == r2, "anthropic path %zu: %d, nginx %d", i, r1, r2);
        free(p);
    }

    srand(1414);

    for (i = 0; i < 200000; i++) {
        len = rand() % 40;
        p = malloc(len ? len : 1);
        if (p == NULL) {
            ok(0, "malloc");
            return;
        }

        for (k = 0; k < len; k++) {
            p[k] = (rand() % 4) ? (unsigned char) alphabet[rand() % 7]
                   : (unsigned char) alphabet[rand() % 9];
        }

        /* plant the needle often */

        if (len >= 9 && rand() % 2) {
            memcpy(p + rand() % (len - 8), "/messages", 9);
        }

        bad += (tokenroute_request_anthropic_path(p, len)
                != ref_anthropic_path(p, len));
        free(p);
    }

    ok(bad == 0, "anthropic path agrees with ngx_strnstr on random paths "
       "(%d differences)", bad);

    /*
     * paths ending in "/chat/completions" (looked at in front of it
     * only), or almost, then slashes: a needle planted anywhere, also
     * across the ending's start, NULs, the ending's letters
     */

    bad = 0;

    for (i = 0; i < 200000; i++) {
        static const char  tails[][20] = {
            "/chat/completions", "/chat/completions", "chat/completions",
            "/chat/completion", "/chat/completionss", "/messages"
        };

        const char  *tail;
        size_t       pre, tl, sl;

        tail = tails[rand() % 6];
        tl = strlen(tail);
        pre = rand() % 24;
        sl = (rand() % 3) ? 0 : rand() % 3;
        len = pre + tl + sl;

        p = malloc(len);
        if (p == NULL) {
            ok(0, "malloc");
            return;
        }

        for (k = 0; k < pre; k++) {
            p[k] = (rand() % 4) ? (unsigned char) alphabet[rand() % 7]
                   : (unsigned char) alphabet[rand() % 9];
        }

        memcpy(p + pre, tail, tl);
        memset(p + pre + tl, '/', sl);

        if (rand() % 2) {
            /* up to 8 bytes into the ending, or in front of it */
            k = rand() % (pre + 9);
            if (k + 9 <= len) {
                memcpy(p + k, "/messages", 9);
            }
        }

        bad += (tokenroute_request_anthropic_path(p, len)
                != ref_anthropic_path(p, len));
        free(p);
    }

    ok(bad == 0, "anthropic path agrees with ngx_strnstr on paths ending "
       "in /chat/completions (%d differences)", bad);
}


int
main(void)
{
    test_scan_cases();
    test_invalid();
    test_prefixes();
    test_fields();
    test_depth();
    test_tokenizer();
    test_rewrites();
    test_anthropic_path();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


static void
test_scan_cases(void)
{
    scan_case_t                  *sc;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    for (sc = scan_cases; sc->body; sc++) {
        st = scan(sc->body, strlen(sc->body), &req);

        ok(st == sc->status, "scan status %d (want %d): %s", (int) st,
           (int) sc->status, show(sc->body, strlen(sc->body)));

        if (sc->status == TOKENROUTE_REQUEST_OK) {
            ok(strcmp(req.model, sc->model) == 0
               && req.model_len == strlen(sc->model),
               "model \"%s\" (want \"%s\")",
               show(req.model, req.model_len), sc->model);
            ok(req.stream == sc->stream, "stream %d", req.stream);
            ok(req.max_tokens == sc->max_tokens, "max_tokens %lld",
               (long long) req.max_tokens);
            ok(req.nmodels == 0 || strstr(sc->body, "\"models\"") != NULL,
               "models only when sent");
            ok(sc->body[req.model_start] == '"'
               && sc->body[req.model_end - 1] == '"',
               "model token span [%zu, %zu) is a JSON string",
               req.model_start, req.model_end);
        }

        if (sc->bad_field) {
            ok(req.bad_field && strcmp(req.bad_field, sc->bad_field) == 0,
               "bad field names \"%s\"", sc->bad_field);
        }
    }
}


/* each bad value as a member read with next(), and deep in a skipped one */

static void
test_invalid(void)
{
    int                           i, bad;
    char                          body[256];
    const char                  **v;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    static const char  *forms[] = {
        "{\"model\":\"a\",\"x\":%s}",
        "{\"x\":[1,{\"y\":[%s]}],\"model\":\"a\"}"
    };

    for (v = bad_values; *v; v++) {
        bad = 0;

        for (i = 0; i < 2; i++) {
            snprintf(body, sizeof(body), forms[i], *v);

            st = scan(body, strlen(body), &req);
            bad += (st == TOKENROUTE_REQUEST_INVALID_JSON);
        }

        ok(bad == 2, "invalid JSON, read and skipped: %s",
           show(*v, strlen(*v)));
    }

    for (v = bad_bodies; *v; v++) {
        st = scan(*v, strlen(*v), &req);

        ok(st == TOKENROUTE_REQUEST_INVALID_JSON, "invalid JSON (%d): %s",
           (int) st, show(*v, strlen(*v)));
    }
}


/* a valid body cut anywhere before its end is invalid JSON */

static void
test_prefixes(void)
{
    scan_case_t  *sc;

    prefixes(chat_body);

    for (sc = scan_cases; sc->body; sc++) {
        if (sc->status == TOKENROUTE_REQUEST_OK) {
            prefixes(sc->body);
        }
    }
}


static void
prefixes(const char *body)
{
    size_t                        n, end, bad;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    end = strrchr(body, '}') - body + 1;
    bad = end;

    for (n = 0; n < end; n++) {
        st = scan(body, n, &req);

        if (st != TOKENROUTE_REQUEST_INVALID_JSON && bad == end) {
            bad = n;
        }
    }

    ok(bad == end, "all %zu prefixes invalid (not %zu): %s", end, bad,
       show(body, end));
}


/* what the rewrite and the fallback chain read */

static void
test_fields(void)
{
    const char                   *p;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    /* what the scan does not promise to set must not matter */
    memset(&req, 0x5a, sizeof(tokenroute_request_t));

    st = scan(chat_body, sizeof(chat_body) - 1, &req);

    ok(st == TOKENROUTE_REQUEST_OK, "chat body scans");
    ok(strcmp(req.model, "openai/gpt-4o-mini") == 0 && req.model_len == 18
       && req.model_start == 9 && req.model_end == 29,
       "chat body model at [%zu, %zu)", req.model_start, req.model_end);
    ok(req.stream == 1 && req.max_tokens == 256 && req.include_usage == 0,
       "chat body stream, max_tokens, include_usage");
    ok(req.object_start == 1 && req.bad_field == NULL,
       "chat body object start");

    p = strstr(chat_body, ",\"x\":[1,{\"y\":null}]}");
    ok(req.stream_options == 1 && !req.stream_options_empty
       && p && req.stream_options_end == (size_t) (p - chat_body) + 19,
       "stream_options ends at %zu", req.stream_options_end);

    p = strstr(chat_body, "\"models\"");
    ok(req.nmodels == 2 && strcmp(req.models[0], "a/b") == 0
       && strcmp(req.models[1], "c/d") == 0
       && p && req.models_start == (size_t) (p - chat_body)
       && req.models_end == (size_t) (p - chat_body) + 23,
       "models [%zu, %zu)", req.models_start, req.models_end);

    st = scan_str("{\"model\":\"a\", \"stream_options\" :null }", &req);
    ok(st == TOKENROUTE_REQUEST_OK && req.stream_options == 2
       && req.stream_options_start == 32 && req.stream_options_end == 36,
       "stream_options null at [%zu, %zu)", req.stream_options_start,
       req.stream_options_end);

    st = scan_str("{\"model\":\"a\",\"stream_options\":{ },\"models\":null}",
                  &req);
    ok(st == TOKENROUTE_REQUEST_OK && req.stream_options == 1
       && req.stream_options_empty && req.stream_options_end == 32
       && req.include_usage == -1 && req.nmodels == 0
       && req.models_start == 34 && req.models_end == 47,
       "empty stream_options, models null");

    st = scan_str("{\"model\":\"a\",\"stream_options\":{\"include_usage\":true,"
              "\"include_usage\":null}}", &req);
    ok(st == TOKENROUTE_REQUEST_OK && req.include_usage == 1,
       "include_usage null after true");

    /* nested arrays in "models" pass unread, as in the yajl-based scan */
    st = scan_str("{\"model\":\"a\",\"models\":[\"b\",[\"x\",{}],\"c\"]}",
                  &req);
    ok(st == TOKENROUTE_REQUEST_OK && req.nmodels == 2
       && strcmp(req.models[1], "c") == 0, "nested array in models skipped");

    st = scan_str("{\"model\":\"a\",\"models\":[\"\\u0041\\/b\",\"\\uD800\"]}",
                  &req);
    ok(st == TOKENROUTE_REQUEST_OK && req.nmodels == 2
       && strcmp(req.models[0], "A/b") == 0
       && strcmp(req.models[1], "?") == 0, "models decoded");

    /* a model of 256 bytes, then 257, counted decoded */
    ok(long_model(256, 0) == TOKENROUTE_REQUEST_OK
       && long_model(257, 0) == TOKENROUTE_REQUEST_BAD_MODEL
       && long_model(256, 1) == TOKENROUTE_REQUEST_OK
       && long_model(257, 1) == TOKENROUTE_REQUEST_BAD_MODEL,
       "model length limit");

    /* what an error leaves */
    st = scan_str("{\"model\":\"kept\",\"stream\":true,\"max_tokens\":-5}",
                  &req);
    ok(st == TOKENROUTE_REQUEST_BAD_FIELD && strcmp(req.model, "kept") == 0
       && req.model_len == 4 && req.stream == 1 && req.max_tokens == -1,
       "fields read before an error stay");

    st = scan_str("{\"model\":\"\\u0000\"}", &req);
    ok(st == TOKENROUTE_REQUEST_BAD_MODEL && req.model[0] == '\0'
       && req.model_len == 0, "a bad model leaves an empty one");
}


static tokenroute_request_status_e
long_model(size_t n, int escaped)
{
    size_t                        i;
    char                          body[2048];
    char                         *p;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    p = body + sprintf(body, "{\"model\":\"");

    for (i = 0; i < n; i++) {
        p += sprintf(p, (escaped && i % 2) ? "\\u%04x" : "%c",
                     (int) ('a' + i % 26));
    }

    p += sprintf(p, "\"}");

    st = scan(body, p - body, &req);

    if (st == TOKENROUTE_REQUEST_OK && req.model_len != n) {
        return TOKENROUTE_REQUEST_NO_MEMORY;
    }

    return st;
}


static void
test_depth(void)
{
    ok(deep(TOKENROUTE_JSON_DEPTH_MAX - 1, '[') == TOKENROUTE_REQUEST_OK,
       "%d levels of arrays", TOKENROUTE_JSON_DEPTH_MAX);
    ok(deep(TOKENROUTE_JSON_DEPTH_MAX, '[') == TOKENROUTE_REQUEST_INVALID_JSON,
       "%d levels of arrays are too many", TOKENROUTE_JSON_DEPTH_MAX + 1);
    ok(deep(TOKENROUTE_JSON_DEPTH_MAX - 1, '{') == TOKENROUTE_REQUEST_OK,
       "%d levels of objects", TOKENROUTE_JSON_DEPTH_MAX);
    ok(deep(TOKENROUTE_JSON_DEPTH_MAX, '{') == TOKENROUTE_REQUEST_INVALID_JSON,
       "%d levels of objects are too many", TOKENROUTE_JSON_DEPTH_MAX + 1);
    ok(deep(70, '[') == TOKENROUTE_REQUEST_OK && deep(65, '{')
       == TOKENROUTE_REQUEST_OK, "around 64 levels (the stack's words)");
}


/* n containers in a member of the top-level object */

static tokenroute_request_status_e
deep(int n, int open)
{
    int                    i;
    char                   body[2048];
    char                  *p;
    tokenroute_request_t   req;

    p = body + sprintf(body, "{\"model\":\"a\",\"x\":");

    for (i = 0; i < n; i++) {
        p += sprintf(p, open == '[' ? "[" : "{\"k\":");
    }

    p += sprintf(p, "1");

    for (i = 0; i < n; i++) {
        *p++ = (open == '[') ? ']' : '}';
    }

    p += sprintf(p, ",\"stream\":true}");

    return scan(body, p - body, &req);
}


static void
test_tokenizer(void)
{
    int                        i, n;
    size_t                     len;
    unsigned char              out[16];
    const char                *text;
    tokenroute_json_scan_t     js;
    tokenroute_json_token_e    t;

    static const tokenroute_json_token_e  want[] = {
        TOKENROUTE_JSON_OBJECT, TOKENROUTE_JSON_KEY, TOKENROUTE_JSON_ARRAY,
        TOKENROUTE_JSON_INTEGER, TOKENROUTE_JSON_DOUBLE,
        TOKENROUTE_JSON_STRING, TOKENROUTE_JSON_TRUE, TOKENROUTE_JSON_FALSE,
        TOKENROUTE_JSON_NULL, TOKENROUTE_JSON_OBJECT,
        TOKENROUTE_JSON_OBJECT_END, TOKENROUTE_JSON_ARRAY_END,
        TOKENROUTE_JSON_OBJECT_END, TOKENROUTE_JSON_END, TOKENROUTE_JSON_END
    };

    text = " {\"a\" : [ -12 ,-2.5e+3,\"s\\n\", true,false ,null,{ } ] } ";
    tokenroute_json_scan_init(&js, (const unsigned char *) text,
                              strlen(text));

    n = 0;

    for (i = 0; i < (int) (sizeof(want) / sizeof(want[0])); i++) {
        t = tokenroute_json_scan_next(&js);
        n += (t == want[i]);

        if (t == TOKENROUTE_JSON_KEY) {
            ok(js.token - (const unsigned char *) text == 2
               && js.end - js.token == 3 && !js.escaped, "the key's span");
        }

        if (t == TOKENROUTE_JSON_INTEGER) {
            ok(tokenroute_json_integer(js.token, js.end) == -12,
               "integer value");
        }

        if (t == TOKENROUTE_JSON_STRING) {
            ok(js.end - js.token == 5 && js.escaped, "escaped string span");
        }
    }

    ok(n == (int) (sizeof(want) / sizeof(want[0])), "token sequence");

    /* an error stays; skip() only right after '{' or '[' */

    text = "[1,x]";
    tokenroute_json_scan_init(&js, (const unsigned char *) text, 5);

    ok(tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_ARRAY
       && tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_INTEGER
       && tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_ERROR
       && tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_ERROR,
       "errors stick");

    text = "[[1,{\"a\":[]}],2]";
    tokenroute_json_scan_init(&js, (const unsigned char *) text, 16);

    ok(tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_ARRAY
       && tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_ARRAY
       && tokenroute_json_scan_skip(&js) == TOKENROUTE_JSON_ARRAY_END
       && js.token - (const unsigned char *) text == 12
       && tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_INTEGER
       && tokenroute_json_scan_skip(&js) == TOKENROUTE_JSON_ERROR,
       "skip() to the close, and not after a number");

    /* yajl_string_decode()'s results, and the length beyond the buffer */

    len = unescape("\\uD83D\\uDE00\\u0041\\/", out, sizeof(out));
    ok(len == 6 && memcmp(out, "\xf0\x9f\x98\x80" "A/", 6) == 0,
       "surrogate pair decoded");

    len = unescape("a\\uD800b\\uDBFF", out, sizeof(out));
    ok(len == 4 && memcmp(out, "a?b?", 4) == 0, "lone high surrogates");

    len = unescape("\\uD800\\uD800\\u00e9", out, sizeof(out));
    ok(len == 6 && memcmp(out, "\xf0\x90\x80\x80\xc3\xa9", 6) == 0,
       "a high surrogate joined with any \\u, as yajl did");

    len = unescape("\\u0000\\b\\f\\n\\r\\t\\\"\\\\", out, sizeof(out));
    ok(len == 8 && memcmp(out, "\0\b\f\n\r\t\"\\", 8) == 0,
       "one-letter escapes and NUL");

    len = unescape("abcdef\\u20ac", out, 4);
    ok(len == 9 && memcmp(out, "abcd", 4) == 0, "output cut, length full");
}


static size_t
unescape(const char *s, unsigned char *out, size_t size)
{
    return tokenroute_json_unescape((const unsigned char *) s,
                                    (const unsigned char *) s + strlen(s),
                                    out, size);
}


static void
test_rewrites(void)
{
    size_t                        len, n;
    unsigned char                *out;
    rewrite_case_t               *rc;
    tokenroute_rewrite_t          rw;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    for (rc = rewrite_cases; rc->body; rc++) {
        len = strlen(rc->body);

        st = scan(rc->body, len, &req);
        ok(st == TOKENROUTE_REQUEST_OK, "rewrite input scans: %s", rc->body);

        rw.model = rc->model;
        rw.model_len = strlen(rc->model);
        rw.include_usage = rc->include_usage;
        rw.drop_models = rc->drop_models;

        n = tokenroute_request_rewrite_size(len, &req, &rw);

        out = malloc(n);
        if (out == NULL) {
            exit(2);
        }

        len = tokenroute_request_rewrite((const unsigned char *) rc->body,
                                         len, &req, &rw, out);

        ok(len <= n && len == strlen(rc->expect)
           && memcmp(out, rc->expect, len) == 0,
           "rewrite gives %s", show((char *) out, len));

        free(out);
    }
}


/* from a heap copy of exactly len bytes: a read past it is an ASan error */

static tokenroute_request_status_e
scan(const char *body, size_t len, tokenroute_request_t *req)
{
    unsigned char                *copy;
    tokenroute_request_status_e   st;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        exit(2);
    }

    memcpy(copy, body, len);

    st = tokenroute_request_scan(copy, len, req);

    free(copy);

    return st;
}


static tokenroute_request_status_e
scan_str(const char *body, tokenroute_request_t *req)
{
    return scan(body, strlen(body), req);
}


/* printable for a TAP line: control and 8-bit bytes as \xNN, cut at 160 */

static const char *
show(const char *s, size_t len)
{
    char    *p;
    size_t   i;

    static char  buf[4 * 160 + 4];

    p = buf;

    for (i = 0; i < len && i < 160; i++) {
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f) {
            p += sprintf(p, "\\x%02x", (unsigned char) s[i]);

        } else {
            *p++ = s[i];
        }
    }

    strcpy(p, (i < len) ? "..." : "");

    return buf;
}

