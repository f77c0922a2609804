
/*
 * Copyright (C) tokenroute authors
 *
 * Differential tests: the usage reader (src/tokenroute_usage.c and the
 * skimmer, src/tokenroute_skim.c) against the one it replaced, yajl's
 * callback parser (t/unit/ref/usage_ref.c); the SSE splitter against its
 * own former self (t/unit/ref/sse_ref.c).  Usage structs and event flags
 * must be identical, for hand-written adversarial inputs, the bench
 * fixtures and generated ones, whole, split at every offset and fed a
 * byte at a time.  yajl alone is the reference; where the old reader's
 * fast path read an event differently from yajl, that is counted and
 * shown, not failed.  argv[1] is the repository (for bench/mock); the
 * number of generated documents is TOKENROUTE_DIFF_N (default 4000).
 * Prints TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_skim.h>
#include <tokenroute_sse.h>
#include <tokenroute_usage.h>

#include "ref/usage_ref.c"
#include "ref/sse_ref.c"

#include "tap.h"


#define MAX_SHOWN   8
#define FLAGS_LEN   4096


typedef struct {
    char        *data;
    size_t       len;
    size_t       size;
} buf_t;


typedef struct {
    int                  shape;
    int                  ref;           /* 0 new, 1 yajl, 2 old fast path,
                                           3 new without the line hook */
    tokenroute_usage_t  *usage;
    buf_t                flags;
} stream_t;


typedef struct {
    buf_t        out;
} rec_t;


static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void buf_add(buf_t *b, const char *p, size_t n);
static void buf_str(buf_t *b, const char *s);
static void buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *show(const char *p, size_t n);
static const char *show_usage(const tokenroute_usage_t *u);
static int usage_equal(const tokenroute_usage_t *a,
    const tokenroute_usage_t *b);
static void usage_seed(tokenroute_usage_t *u, unsigned seed);
static uint64_t rnd(void);
static unsigned rnd_n(unsigned n);
static int new_event(int shape, const char *ev, const char *data, size_t len,
    tokenroute_usage_t *u);
static int skim_event(int shape, const char *ev, const char *data, size_t len,
    size_t *cuts, int ncuts, tokenroute_usage_t *u);
static int check_event(const char *what, int shape, const char *ev,
    const char *data, size_t len);
static int body_run(int ref, int shape, const char *body, size_t len,
    size_t *cuts, int ncuts, tokenroute_usage_t *u);
static int check_body(const char *what, int shape, const char *body,
    size_t len, int every);
static int stream_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated);
static int stream_run(int ref, int shape, const char *s, size_t len,
    size_t *cuts, int ncuts, stream_t *st, tokenroute_usage_t *u);
static void check_fixture_stream(const char *name, int shape, const char *s,
    size_t len);
static int rec_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated);
static int sse_run(int ref, const char *s, size_t len, size_t max_data,
    size_t *cuts, int ncuts, rec_t *r);
static int check_sse(const char *s, size_t len, size_t max_data);
static int check_long_number(int which);
static int check_inline_edge(size_t n);
static void gen_value(buf_t *b, int depth, int shape);
static void gen_ws(buf_t *b);
static void gen_string(buf_t *b, int key);
static void gen_number(buf_t *b);
static void gen_event(buf_t *b, int shape);
static void gen_mutate(buf_t *b);
static void gen_sse(buf_t *b);
static char *slurp(const char *root, const char *name, size_t *len);
static void test_events(void);
static void test_bodies(void);
static void test_fixtures(const char *root);
static void test_generated(unsigned n);
static void test_sse(unsigned n);
static void gen_envelope(buf_t *b);
static void gen_chunk(buf_t *b, const buf_t *env);
static void test_envelope(unsigned n);
static void gen_usage_chunk(buf_t *b);


static int       shown;
static unsigned  fast_differs;
static unsigned  fast_valid;
static uint64_t  state = 0x9e3779b97f4a7c15ULL;


/* events, for both APIs, with and without an event name */

static const char  *events[] = {

    /* the tests' and the callers' -1 */
    "", "not json", "[DONE]x", " [DONE]", "{", "}", "{}x", "{} {}",
    "{\"usage\":{\"prompt_tokens\":5},\"choices\":[",
    "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}} x",
    "\xEF\xBB\xBF{}", "{\"a\":1,}", "{,}", "[1,]", "{\"a\" 1}", "{\"a\":}",
    "{\"a\":1 \"b\":2}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":-}",
    "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":1e+}",
    "{\"a\":+1}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
    "{\"a\":\"\\u12g4\"}", "{'a':1}", "{\"a\":1}/*c*/", "{\"a\":NaN}",
    "{\"a\":[1}", "{\"a\":{]}", "[}", "{]",

    /* trailing bytes: whitespace, and yajl's unterminated string */
    "{}  ", "{}\n", "{}\t\r\n", "{}\v", "{}\f", "{} \"abc", "{} \"a\\",
    "{} \"a\\u12", "{} \"abc\"", "{} 12", "{} tru", "{} -", "{} \"\x01",
    "{} \"a\\n", "{} \"\\ud800", "{} \"\\ud800\\",

    /* scalars and arrays at the top */
    "1", "-0", "\"usage\"", "true", "null", "[1, {\"usage\": null}]",
    "[]", "[[]]", "{}", " {} ", "\n{\"usage\":null}\n",

    /* OpenAI chunks */
    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\"Hi\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\",\"refusal\":null},\"finish_reason\":null}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}",
    "{\"choices\":[{\"delta\":{\"content\":\"a\\nb\"},"
    "\"finish_reason\":null}]}",
    "{\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\": {}\"}}]}",
    "{\"choices\":[{\"delta\":{\"content\":\"\\u00e9\\ud83d\\ude00\"}}]}",
    "{\"choices\":[{\"delta\":{\"content\":\"\\ud800x\\udc00\\u0000\"}}]}",
    "{\"choices\":[{\"delta\":{\"content\":\"\\ud800\\n\\ud800\\\\\"}}]}",
    "{\"choices\":[{\"delta\":{\"content\":\"\\ud800\\u0041\\/\"}}]}",
    "{\"choices\":[{\"delta\":{\"content\":\"\xc3\xa9\xff\xfe\"}}]}",
    "{\"choices\":[{\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":"
    "0,\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"function\":"
    "{\"arguments\":\"[1]\"}}]},\"finish_reason\":\"length\"},"
    "{\"delta\":{\"content\":\"ab\"},\"finish_reason\":null}]}",
    "{\"choices\":[{\"delta\":{\"reasoning_content\":\"Think\"}}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1200,"
    "\"completion_tokens\":42,\"total_tokens\":1242,"
    "\"prompt_tokens_details\":{\"cached_tokens\":1024}}}",
    "{\"choices\":[],\"usage\":null}",
    "{\"choices\":[{\"delta\":{\"content\":\"!\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"prompt_tokens\":15,\"completion_tokens\":3}}",
    /* usage chunks the chunk shortcut reads, or leaves to the skimmer */
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":-0}}",
    "{\"choices\":[],\"usage\":{\"completion_tokens\":-0}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
    "\"prompt_tokens_details\":{\"cached_tokens\":-0}}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":-3}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":0,\"prompt_tokens\":7}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"prompt_tokens\":null}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":\"7\",\"x\":{\"y\":1}}}",
    "{\"choices\":[],\"usage\":{\"cached_tokens\":4,\"prompt_tokens\":9}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens_details\":{\"x\":{}},"
    "\"prompt_tokens\":9}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens_details\":7,"
    "\"completion_tokens_details\":{\"cached_tokens\":3},"
    "\"prompt_tokens\":9}}",
    "{\"choices\":[],\"usage\":{\"x\":{\"prompt_tokens\":3}}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":{\"cached_tokens\":3}}}",
    "{\"choices\":[],\"usage\":{\"x\":[1],\"prompt_tokens\":9}}",
    "{\"choices\":[],\"usage\":{}}", "{\"choices\":[],\"usage\":{},}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":123456789012345678}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1234567890123456789}}",
    "{\"usage\":{\"prompt_tokens\":3},\"choices\":[],\"usage\":null}",
    "{\"usage\":{\"prompt_tokens\":3},\"choices\":[{}]}",
    "{\"choices\":[],\"choices\":[{}],\"usage\":{}}",
    "{\"choices\":[{\"delta\":{\"content\":\"ab\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":{\"completion_tokens\":2}}",
    "{\"error\":{\"message\":\"x\",\"type\":\"server_error\",\"code\":500}}",
    "{\"error\":true}", "{\"error\":false}", "{\"error\":null}",
    "{\"error\":500}", "{\"error\":1.5}", "{\"error\":\"e\"}",
    "{\"error\":[]}", "{\"error\":-0}",
    "{\"x\":{\"error\":1},\"choices\":[{\"error\":1}]}",
    "{\"usage\":{\"prompt_tokens\":\"12\",\"completion_tokens\":-3},"
    "\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":12.0,\"completion_tokens\":1e3},"
    "\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":12.5,\"completion_tokens\":-0.0},"
    "\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":9223372036854775807},\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":9223372036854775808},\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":-9223372036854775808},\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":-9223372036854775807},\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":99999999999999999999},\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":8999999999999999999.0},\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":9e18,\"completion_tokens\":8.99e18}}",
    "{\"usage\":{\"prompt_tokens\":9007199254740993.0}}",
    "{\"usage\":{\"prompt_tokens\":1e308,\"completion_tokens\":1e-400}}",
    "{\"usage\":{\"prompt_tokens\":1.7976931348623157e308}}",
    "{\"usage\":{\"prompt_tokens\":1.7976931348623159e308}}",
    "{\"usage\":{\"prompt_tokens\":0.99999999999999999999}}",
    "{\"usage\":{\"prompt_tokens\":12.000000000000000000000000001}}",
    "{\"x\":1e400,\"choices\":[]}", "{\"x\":-1e400}", "{\"x\":1e-400}",
    "{\"x\":179769313486231570814527423731704356798070567525844996598917476"
    "80315726078002853876058955863276687817154045895351438246423432132688"
    "94695422232566813853941920002394612297001297098102587810020025047316"
    "32015553620131262659924512208289516930013024125327932849296478426616"
    "29837233856424969478221046911880650396312.0}",
    "{\"x\":17976931348623158079372897140530341507993413271003782693617377"
    "89804449682927647509466490179775872070963302864166928879109465555478"
    "51940402630657488671505820681908902000708383676273854845817711531764"
    "47573027006985557136695962284291481986083493647529271907416844436551"
    "07043427115596995080930428801779041744977919.0}",
    "{\"x\":1e1000000000000000000000}", "{\"x\":0e99999999999}",
    "{\"usage\":{\"prompt_tokens\":1e-999999,\"completion_tokens\":"
    "0.001e999999}}",
    "{\"x\":0.000000000000000000000000000000000000000000000000000001e400}",
    "{\"us\\u0061ge\":{\"prompt_tokens\":3},\"choices\":[]}",
    "{\"usage\":{\"prompt_\\u0074okens\":3},\"\\u0063hoices\":[]}",
    "{\"usage\\u0000\":{\"prompt_tokens\":3},\"choices\":[]}",
    "{ \"usage\" : { \"prompt_tokens\" : 7 , \"completion_tokens\" :\t8 } ,"
    "\n\"choices\" : [ ] }",
    "{\"usage\":{\"prompt_tokens\":5},\"usage\":{\"completion_tokens\":3},"
    "\"choices\":[]}",
    "{\"usage\":{\"prompt_tokens\":5},\"usage\":null,\"choices\":[1]}",
    "{\"choices\":[],\"choices\":[1],\"usage\":{\"prompt_tokens\":5}}",
    "{\"x\":[[[[[[[[[[[[{\"usage\":{\"prompt_tokens\":1}}]]]]]]]]]]]],"
    "\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2}}",

    /* Anthropic events */
    "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":"
    "\"message\",\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":5000,"
    "\"output_tokens\":1}}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"Hello\"}}",
    "{\"type\":\"content_block_delta\",\"index\":12,\"delta\":{\"type\":"
    "\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}",
    "{\"type\":\"content_block_delta\",\"index\":01,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"x\"}}",
    "{\"type\":\"content_block_delta\",\"index\":,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"x\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"a\x01\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"thinking_delta\",\"thinking\":\"hmm\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"x\"}} ",
    "{\"type\":\"content_block_delta\",\"index\":1234567890123456789,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":{\"text\":\"nested\"}}}",
    "{\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"},\"index\":0,"
    "\"type\":\"content_block_delta\"}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":89,\"input_tokens\":40,"
    "\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":7000}}",
    "{\"usage\":{\"output_tokens\":50},\"type\":\"message_delta\"}",
    "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-3}}",
    "{\"type\":\"message_stop\"}", "{\"type\": \"ping\"}",
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
    "{\"type\":\"mystery\",\"usage\":{\"output_tokens\":9}}",
    "{\"type\":\"message\\u005fstop\"}", "{\"type\":\"message_stop\\u0000\"}",
    "{\"type\":\"message_start\",\"type\":\"message_stop\"}",
    "{\"type\":\"message_stop\",\"type\":1}",
    "{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"a\"},"
    "\"delta\":{\"thinking\":\"bc\",\"partial_json\":\"d\"}}",
    "{\"type\":\"message_start\",\"usage\":{\"input_tokens\":3},"
    "\"message\":{\"usage\":{\"output_tokens\":4}}}"
};


/* response bodies */

static const char  *bodies[] = {
    "", "x", "{", "{}", "[]", "1", "{\"usage\":{\"prompt_tokens\":100",
    "{\"usage\":{\"input_tokens\":100,\"output_tok",
    "{\"usage\":{\"output_tokens\":4}, oops}",
    "{\"usage\":{\"output_tokens\":4}} x", "{\"usage\":{\"output_tokens\":4}}",
    "{\"usage\":{\"output_tokens\":4x}}", "{\"usage\":{\"output_tokens\":04}}",
    "{\"usage\":{\"output_tokens\":4", "{\"usage\":{\"output_tokens\":4.",
    "{\"usage\":{\"output_tokens\":4e", "{\"usage\":{\"output_tokens\":-",
    "{\"usage\":{\"prompt_tokens\":99999999999999999999}}",
    "{\"usage\":{\"prompt_tokens\":7,"
    "\"completion_tokens\":99999999999999999999}}",
    "{\"usage\":{\"prompt_tokens\":7},\"x\":1e999}",
    "{\"error\":null,\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":"
    "2},\"completion_tokens\":3.0,\"prompt_tokens\":7}}",
    "{\"error\":\"boom\",\"usage\":null}",
    "{\"error\":false,\"usage\":{\"input_tokens\":1}}",
    "{\"choices\":[{\"usage\":{\"prompt_tokens\":1}}],\"usage\":null}",
    "{\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}",
    "<html>502 Bad Gateway</html>",
    "{\"id\":\"msg\",\"content\":[{\"type\":\"text\",\"text\":\"Hello! \\\""
    "Quoted\\\"\"},{\"type\":\"tool_use\",\"input\":{\"usage\":{"
    "\"input_tokens\":7}}}],\"usage\":{\"input_tokens\":12,"
    "\"cache_creation_input_tokens\":1500,\"cache_read_input_tokens\":3000,"
    "\"output_tokens\":45}}",
    "{\n  \"usage\": {\n    \"prompt_tokens\": 2006,\n    \"completion_tokens"
    "\": 300,\n    \"prompt_tokens_details\": {\n      \"cached_tokens\": "
    "1920\n    }\n  }\n}\n",
    "{\"us\\u0061ge\":{\"prompt_tokens\":3}}",
    "{\"usage\":{\"prompt_tokens\":3},\"usage\":{\"prompt_tokens\":4}}",
    "{\"usage\":{\"prompt_tokens\":3}} \"tail",
    "{\"usage\":{\"prompt_tokens\":3}} \"tail\"",
    "{\"usage\":{\"prompt_tokens\":3}} \"ta\\",
    "{\"error\":{\"message\":\"Rate limit\",\"type\":\"tokens\"}}",
    "{\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":1500,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":500,"
    "\"ephemeral_1h_input_tokens\":1000},\"output_tokens\":45}}",
    "{\"usage\":{\"cache_creation\":{\"ephemeral_1h_input_tokens\":9,"
    "\"ephemeral_5m_input_tokens\":2,\"x\":{\"ephemeral_1h_input_tokens\":"
    "99}},\"cache_creation_input_tokens\":4}}",
    "{\"cache_creation\":{\"ephemeral_1h_input_tokens\":9}}"
};


int
main(int argc, char **argv)
{
    char  *env;

    env = getenv("TOKENROUTE_DIFF_N");

    test_events();
    test_bodies();
    test_fixtures(argc > 1 ? argv[1] : ".");
    test_generated(env ? (unsigned) atoi(env) : 4000);
    test_sse(env ? (unsigned) atoi(env) : 4000);
    test_envelope(env ? (unsigned) atoi(env) : 4000);

    diag("events the old fast path read otherwise than yajl: %u, of which "
         "JSON: %u", fast_differs, fast_valid);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


static void
test_events(void)
{
    int     good, shape;
    size_t  i, n;

    n = sizeof(events) / sizeof(events[0]);
    good = 1;

    for (i = 0; i < n; i++) {
        for (shape = TOKENROUTE_SHAPE_OPENAI;
             shape <= TOKENROUTE_SHAPE_ANTHROPIC;
             shape++)
        {
            good &= check_event("event", shape, NULL, events[i],
                                strlen(events[i]));
            good &= check_event("event", shape, "error", events[i],
                                strlen(events[i]));
            good &= check_event("event", shape,
                                (shape == TOKENROUTE_SHAPE_OPENAI)
                                ? "message" : "content_block_delta",
                                events[i], strlen(events[i]));
        }
    }

    ok(good, "%zu hand-written events read as yajl reads them, whole and "
       "split at every offset", n);

    good = 1;

    for (i = 0; i < 4; i++) {
        good &= check_long_number(i);
    }

    ok(good, "numbers of over 800 digits: ties, overflow, long exponents");

    good = 1;

    for (i = 10; i < 80; i++) {
        good &= check_inline_edge(i);
    }

    ok(good, "numbers and nesting around what the skimmer's struct holds "
       "(TOKENROUTE_SKIM_DIG_INLINE digits, TOKENROUTE_SKIM_STACK levels)");
}


/*
 * Around the digits and levels the struct holds (more go to the heap):
 * an integer of n digits, a token count of n significant digits (whole,
 * and not), a fraction, and n levels of nesting around a usage object.
 */

static int
check_inline_edge(size_t n)
{
    int     good, shape;
    buf_t   b;
    size_t  i, k;

    good = 1;

    for (k = 0; k < 5; k++) {
        memset(&b, 0, sizeof(buf_t));

        switch (k) {

        case 0:
            buf_str(&b, "{\"usage\":{\"prompt_tokens\":1");

            for (i = 1; i < n; i++) {
                buf_str(&b, "0");
            }

            buf_printf(&b, "e-%zu,\"completion_tokens\":7},\"choices\":[]}",
                       n - 1);
            break;

        case 1:
            buf_str(&b, "{\"usage\":{\"prompt_tokens\":12.");

            for (i = 2; i < n; i++) {
                buf_str(&b, (i == n - 1) ? "1" : "0");
            }

            buf_str(&b, "},\"choices\":[]}");
            break;

        case 2:
            buf_str(&b, "{\"x\":");

            for (i = 0; i < n; i++) {
                buf_str(&b, (i % 3) ? "7" : "1");
            }

            buf_str(&b, ",\"usage\":{\"completion_tokens\":0.");

            for (i = 0; i < n; i++) {
                buf_str(&b, "0");
            }

            buf_str(&b, "3e");
            buf_printf(&b, "%zu}}", n + 1);
            break;

        case 3:
            buf_str(&b, "[");

            for (i = 0; i < n; i++) {
                buf_str(&b, (i % 2) ? "{\"a\":" : "[");
            }

            buf_str(&b, "{\"usage\":{\"prompt_tokens\":5}}");

            for (i = n; i > 0; i--) {
                buf_str(&b, ((i - 1) % 2) ? "}" : "]");
            }

            buf_str(&b, "]");
            break;

        default:
            buf_str(&b, "{\"usage\":{\"prompt_tokens\":-");

            for (i = 0; i < n; i++) {
                buf_str(&b, "9");
            }

            buf_str(&b, ".5}}");
            break;
        }

        for (shape = TOKENROUTE_SHAPE_OPENAI;
             shape <= TOKENROUTE_SHAPE_ANTHROPIC;
             shape++)
        {
            good &= check_event("inline edge", shape, NULL, b.data, b.len);
            good &= check_body("inline edge", shape, b.data, b.len, 0);
        }

        free(b.data);
    }

    return good;
}


/*
 * Numbers longer than the skimmer keeps (TOKENROUTE_SKIM_DIGITS): a tie
 * between two doubles that a last digit far away breaks, DBL_MAX's
 * rounding boundary followed by more digits, a huge integer part.
 */

static int
check_long_number(int which)
{
    int     good, shape;
    buf_t   b;
    size_t  i;

    memset(&b, 0, sizeof(buf_t));

    switch (which) {

    case 0:
    case 1:
        /* 2^53 + 1 is halfway between two doubles */
        buf_str(&b, "{\"choices\":[],\"usage\":{\"prompt_tokens\":"
                "9007199254740993.");

        for (i = 0; i < 900; i++) {
            buf_str(&b, "0");
        }

        buf_str(&b, which ? "1}}" : "}}");
        break;

    case 2:
        /* 2^1024 - 2^970, then more: infinity */
        buf_str(&b, "{\"x\":17976931348623158079372897140530341507993413271"
                "0037826936173778980444968292764750946649017977587207096330"
                "2864166928879109465555478519404026306574886715058206819089"
                "0200070838367627385484581771153176447573027006985557136695"
                "9622842914819860834936475292719074168444365510704342711559"
                "699508093042880177904174497791.");

        for (i = 0; i < 900; i++) {
            buf_str(&b, "9");
        }

        buf_str(&b, "}");
        break;

    default:
        buf_str(&b, "{\"usage\":{\"prompt_tokens\":1");

        for (i = 0; i < 2000; i++) {
            buf_str(&b, (i % 7) ? "0" : "3");
        }

        buf_str(&b, "e-1990,\"completion_tokens\":0.");

        for (i = 0; i < 1000; i++) {
            buf_str(&b, "0");
        }

        buf_str(&b, "5e1000},\"choices\":[]}");
        break;
    }

    good = 1;

    for (shape = TOKENROUTE_SHAPE_OPENAI; shape <= TOKENROUTE_SHAPE_ANTHROPIC;
         shape++)
    {
        good &= check_event("long number", shape, NULL, b.data, b.len);
        good &= check_body("long number", shape, b.data, b.len, 0);
    }

    free(b.data);

    return good;
}


static void
test_bodies(void)
{
    int     good, shape;
    size_t  i, n;

    n = sizeof(bodies) / sizeof(bodies[0]);
    good = 1;

    for (i = 0; i < n; i++) {
        for (shape = TOKENROUTE_SHAPE_OPENAI;
             shape <= TOKENROUTE_SHAPE_ANTHROPIC;
             shape++)
        {
            good &= check_body("body", shape, bodies[i], strlen(bodies[i]), 1);
        }
    }

    /* and every event as a body */

    n = sizeof(events) / sizeof(events[0]);

    for (i = 0; i < n; i++) {
        for (shape = TOKENROUTE_SHAPE_OPENAI;
             shape <= TOKENROUTE_SHAPE_ANTHROPIC;
             shape++)
        {
            good &= check_body("body", shape, events[i], strlen(events[i]), 1);
        }
    }

    ok(good, "hand-written bodies read as yajl reads them, in two pieces "
       "at every offset and a byte at a time");
}


static void
test_fixtures(const char *root)
{
    int          shape;
    char        *s;
    size_t       len;
    const char  *name;
    size_t       i;

    static const char  *names[] = {
        "openai.sse", "anthropic.sse", "openai.json", "anthropic.json"
    };

    for (i = 0; i < 4; i++) {
        name = names[i];
        shape = (name[0] == 'o') ? TOKENROUTE_SHAPE_OPENAI
                               : TOKENROUTE_SHAPE_ANTHROPIC;

        s = slurp(root, name, &len);

        if (s == NULL) {
            ok(1, "# SKIP bench/mock/%s not found under %s", name, root);
            continue;
        }

        if (strstr(name, ".sse") != NULL) {
            check_fixture_stream(name, shape, s, len);

        } else {
            ok(check_body(name, shape, s, len, 1),
               "bench/mock/%s: as yajl reads it, whole, in two pieces at "
               "every offset, a byte at a time", name);
        }

        free(s);
    }
}


static void
test_generated(unsigned n)
{
    int       shape, good_ev, good_body;
    buf_t     b;
    unsigned  i;

    memset(&b, 0, sizeof(buf_t));

    good_ev = 1;
    good_body = 1;

    for (i = 0; i < n; i++) {
        shape = (i & 1) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;
        b.len = 0;

        switch (rnd_n(4)) {
        case 0:
            gen_value(&b, 0, shape);
            break;
        default:
            gen_event(&b, shape);
            break;
        }

        if (rnd_n(3) == 0) {
            gen_mutate(&b);
        }

        good_ev &= check_event("generated event", shape,
                               rnd_n(8) ? NULL : "error", b.data, b.len);

        good_body &= check_body("generated body", shape, b.data, b.len,
                                b.len < 160);
    }

    ok(good_ev, "%u generated events read as yajl reads them", n);
    ok(good_body, "%u generated bodies read as yajl reads them", n);

    free(b.data);
}


/* the new reader (shortcuts and all), on a copy without a NUL after it */

static int
new_event(int shape, const char *ev, const char *data, size_t len,
    tokenroute_usage_t *u)
{
    int    rc;
    char  *copy;

    copy = malloc(len + 1);
    if (copy == NULL) {
        exit(2);
    }

    memcpy(copy, data, len);

    rc = tokenroute_usage_event(shape, ev, ev ? strlen(ev) : 0, copy, len, u);

    free(copy);

    return rc;
}


/* the skimmer alone (no shortcut), fed in pieces cut at cuts[] */

static int
skim_event(int shape, const char *ev, const char *data, size_t len,
    size_t *cuts, int ncuts, tokenroute_usage_t *u)
{
    int                i, rc;
    size_t             from, to;
    tokenroute_skim_t  sk;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        return TOKENROUTE_EVENT_DONE;
    }

    tokenroute_skim_init(&sk, shape, 1);

    rc = 0;
    from = 0;

    for (i = 0; i <= ncuts && rc == 0; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        rc = tokenroute_skim_feed(&sk, data + from, to - from);
        from = to;
    }

    if (rc == 0) {
        rc = tokenroute_skim_finish(&sk);
    }

    tokenroute_skim_free(&sk);

    if (rc != 0) {
        return -1;
    }

    return tokenroute_usage_skimmed(shape, ev, ev ? strlen(ev) : 0, &sk, u);
}


/*
 * One event: the new reader, and the skimmer alone whole, in two pieces
 * at every offset (short events) or at some, and in three, all against
 * yajl; the old fast path is compared too, and only counted.
 */

static int
check_event(const char *what, int shape, const char *ev, const char *data,
    size_t len)
{
    int                 rc, want, fast, good;
    size_t              i, cuts[2];
    unsigned            seed;
    tokenroute_usage_t  u, w, f;

    seed = (unsigned) rnd();
    good = 1;

    usage_seed(&w, seed);
    want = ref_usage_event(shape, ev, ev ? strlen(ev) : 0, data, len, &w, 0);

    usage_seed(&f, seed);
    fast = ref_usage_event(shape, ev, ev ? strlen(ev) : 0, data, len, &f, 1);

    if (fast != want || !usage_equal(&f, &w)) {
        fast_differs++;

        /* where yajl takes the event, a change the new reader makes */

        if (want >= 0 && fast_valid++ < 4) {
            diag("the old fast path read otherwise than yajl (shape %d, event "
                 "%s): %s", shape, ev ? ev : "none", show(data, len));
            diag("  yajl: %d, %s", want, show_usage(&w));
            diag("  fast: %d, %s", fast, show_usage(&f));
        }
    }

    usage_seed(&u, seed);
    rc = new_event(shape, ev, data, len, &u);

    if (rc != want || !usage_equal(&u, &w)) {
        good = 0;
    }

    for (i = 0; i <= len && good; i++) {

        if (len > 64 && i % 7 != 0 && i != len) {
            continue;
        }

        cuts[0] = i;
        cuts[1] = i + (len - i) / 2;

        usage_seed(&u, seed);
        rc = skim_event(shape, ev, data, len, cuts, 1, &u);

        if (rc != want || !usage_equal(&u, &w)) {
            good = 0;
            break;
        }

        usage_seed(&u, seed);
        rc = skim_event(shape, ev, data, len, cuts, 2, &u);

        if (rc != want || !usage_equal(&u, &w)) {
            good = 0;
        }
    }

    if (!good && shown++ < MAX_SHOWN) {
        diag("%s (shape %d, event %s) differs: %s", what, shape,
             ev ? ev : "none", show(data, len));
        diag("  yajl: %d, %s", want, show_usage(&w));
        diag("  new:  %d, %s", rc, show_usage(&u));
    }

    return good;
}


/*
 * As the body filter does: pieces are fed until one fails; finish only
 * if none did.  Returns whether the body was complete.
 */

static int
body_run(int ref, int shape, const char *body, size_t len, size_t *cuts,
    int ncuts, tokenroute_usage_t *u)
{
    int                      i, rc;
    size_t                   from, to;
    ref_usage_json_t         ruj;
    tokenroute_usage_json_t  uj;

    memset(u, 0, sizeof(tokenroute_usage_t));

    if (ref) {
        if (ref_usage_json_init(&ruj, shape, u) != 0) {
            exit(2);
        }

    } else if (tokenroute_usage_json_init(&uj, shape, u) != 0) {
        exit(2);
    }

    rc = 0;
    from = 0;

    for (i = 0; i <= ncuts && rc == 0; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        rc = ref ? ref_usage_json_feed(&ruj, body + from, to - from)
                 : tokenroute_usage_json_feed(&uj, body + from, to - from);

        from = to;
    }

    if (rc == 0) {
        rc = ref ? ref_usage_json_finish(&ruj)
                 : tokenroute_usage_json_finish(&uj);
    }

    if (ref) {
        ref_usage_json_free(&ruj);

    } else {
        tokenroute_usage_json_free(&uj);
    }

    return rc == 0;
}


static int
check_body(const char *what, int shape, const char *body, size_t len,
    int every)
{
    int                 want, got, good;
    size_t              i, j, *cuts;
    tokenroute_usage_t  u, w;

    want = body_run(1, shape, body, len, NULL, 0, &w);
    got = body_run(0, shape, body, len, NULL, 0, &u);

    good = (got == want && usage_equal(&u, &w));

    for (i = 0; i <= len && good; i++) {

        if (!every && i % 11 != 0) {
            continue;
        }

        got = body_run(0, shape, body, len, &i, 1, &u);
        good = (got == want && usage_equal(&u, &w));
    }

    if (good && (every || len < 4096)) {
        cuts = malloc((len + 1) * sizeof(size_t));
        if (cuts == NULL) {
            exit(2);
        }

        for (j = 0; j < len; j++) {
            cuts[j] = j;
        }

        got = body_run(0, shape, body, len, cuts, (int) len, &u);
        good = (got == want && usage_equal(&u, &w));

        free(cuts);
    }

    if (!good && shown++ < MAX_SHOWN) {
        diag("%s (shape %d) differs: %s", what, shape, show(body, len));
        diag("  yajl: complete %d, %s", want, show_usage(&w));
        diag("  new:  complete %d, %s", got, show_usage(&u));
    }

    return good;
}


static int
stream_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    int        rc;
    stream_t  *st = ctx;

    if (truncated) {
        return 0;
    }

    if (st->ref == 1 || st->ref == 2) {
        rc = ref_usage_event(st->shape, event, event_len, data, data_len,
                             st->usage, st->ref == 2);

    } else {
        rc = tokenroute_usage_event(st->shape, event, event_len, data,
                                    data_len, st->usage);
    }

    buf_printf(&st->flags, " %d", rc);

    return 0;
}


/* as the response filter has it (filter.c) */

static const char *
stream_line(void *ctx, const char *p, const char *last)
{
    stream_t  *st = ctx;

    return tokenroute_usage_line(st->usage, p, last);
}


static int
stream_run(int ref, int shape, const char *s, size_t len, size_t *cuts,
    int ncuts, stream_t *st, tokenroute_usage_t *u)
{
    int               i, rc, new;
    size_t            from, to;
    tokenroute_sse_t  sse;

    new = (ref == 0 || ref == 3);

    memset(u, 0, sizeof(tokenroute_usage_t));

    st->shape = shape;
    st->ref = ref;
    st->usage = u;
    st->flags.len = 0;

    if ((!new ? ref_sse_init(&sse, 64 * 1024, stream_handler, st)
             : tokenroute_sse_init(&sse, 64 * 1024, stream_handler, st))
        != 0)
    {
        exit(2);
    }

    /* as the response filter reads a stream: the data not copied */

    if (new) {
        tokenroute_sse_lend(&sse);
    }

    if (ref == 0 && shape == TOKENROUTE_SHAPE_OPENAI) {
        tokenroute_sse_line_end(&sse, stream_line);
    }

    rc = 0;
    from = 0;

    for (i = 0; i <= ncuts && rc == 0; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        /* as the filter does before each piece */
        u->line = NULL;

        rc = !new ? ref_sse_feed(&sse, s + from, to - from)
                 : tokenroute_sse_feed(&sse, s + from, to - from);

        from = to;
    }

    if (!new) {
        ref_sse_free(&sse);

    } else {
        tokenroute_sse_free(&sse);
    }

    buf_add(&st->flags, "", 1);

    return rc;
}


static void
check_fixture_stream(const char *name, int shape, const char *s, size_t len)
{
    int                 good;
    size_t              i;
    stream_t            a, b;
    tokenroute_usage_t  u, w, f;

    memset(&a, 0, sizeof(stream_t));
    memset(&b, 0, sizeof(stream_t));

    stream_run(2, shape, s, len, NULL, 0, &b, &f);
    stream_run(1, shape, s, len, NULL, 0, &b, &w);
    stream_run(0, shape, s, len, NULL, 0, &a, &u);

    ok(usage_equal(&f, &w), "bench/mock/%s: the old fast path and yajl "
       "agree (%s)", name, show_usage(&w));

    good = usage_equal(&u, &w) && strcmp(a.flags.data, b.flags.data) == 0;

    ok(good, "bench/mock/%s: the same usage and flags as yajl:%s", name,
       a.flags.data);

    for (i = 0; i <= len && good; i++) {
        stream_run(0, shape, s, len, &i, 1, &a, &u);
        good = usage_equal(&u, &w) && strcmp(a.flags.data, b.flags.data) == 0;
    }

    ok(good, "bench/mock/%s: the same split in two at every offset%s", name,
       good ? "" : " (not at one)");

    free(a.flags.data);
    free(b.flags.data);
}


/* the SSE splitter against its former self */

static int
rec_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    rec_t  *r = ctx;

    if (data[data_len] != '\0'
        || (event != NULL && (event[event_len] != '\0' || event_len == 0)))
    {
        buf_str(&r->out, "<not NUL-terminated>");
    }

    buf_str(&r->out, "{");
    buf_add(&r->out, event ? event : "", event_len);
    buf_str(&r->out, "}[");
    buf_add(&r->out, data, data_len);
    buf_str(&r->out, truncated ? "]!\n" : "]\n");

    return 0;
}


static int
sse_run(int ref, const char *s, size_t len, size_t max_data, size_t *cuts,
    int ncuts, rec_t *r)
{
    int               i, rc;
    size_t            from, to;
    tokenroute_sse_t  sse;

    r->out.len = 0;

    if ((ref ? ref_sse_init(&sse, max_data, rec_handler, r)
             : tokenroute_sse_init(&sse, max_data, rec_handler, r))
        != 0)
    {
        exit(2);
    }

    rc = 0;
    from = 0;

    for (i = 0; i <= ncuts && rc == 0; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        rc = ref ? ref_sse_feed(&sse, s + from, to - from)
                 : tokenroute_sse_feed(&sse, s + from, to - from);

        if (rc == 0) {
            buf_printf(&r->out, "<%zu>",
                       ref ? ref_sse_pending(&sse)
                           : tokenroute_sse_pending(&sse));
        }

        from = to;
    }

    if (ref) {
        ref_sse_free(&sse);

    } else {
        tokenroute_sse_free(&sse);
    }

    buf_add(&r->out, "", 1);

    return rc;
}


static int
check_sse(const char *s, size_t len, size_t max_data)
{
    int       good;
    size_t    i, cuts[3];
    rec_t     a, b;

    memset(&a, 0, sizeof(rec_t));
    memset(&b, 0, sizeof(rec_t));

    good = 1;

    for (i = 0; i <= len && good; i++) {
        cuts[0] = i;
        cuts[1] = i + rnd_n((unsigned) (len - i + 1));
        cuts[2] = cuts[1] + rnd_n((unsigned) (len - cuts[1] + 1));

        sse_run(1, s, len, max_data, cuts, 3, &b);
        sse_run(0, s, len, max_data, cuts, 3, &a);

        good = (strcmp(a.out.data, b.out.data) == 0);
    }

    if (!good && shown++ < MAX_SHOWN) {
        diag("SSE stream differs: %s", show(s, len));
        diag("  old: %s", show(b.out.data, strlen(b.out.data)));
        diag("  new: %s", show(a.out.data, strlen(a.out.data)));
    }

    free(a.out.data);
    free(b.out.data);

    return good;
}


static void
test_sse(unsigned n)
{
    int       good;
    buf_t     b;
    unsigned  i;

    memset(&b, 0, sizeof(buf_t));

    good = 1;

    for (i = 0; i < n / 4 && good; i++) {
        b.len = 0;
        gen_sse(&b);

        good = check_sse(b.data, b.len, rnd_n(4) ? 4096 : 1 + rnd_n(40));
    }

    ok(good, "%u generated SSE streams split as before, in three pieces at "
       "random offsets, events and pending bytes alike", n / 4);

    free(b.data);
}


/* generators */

static const char  *keys[] = {
    "usage", "error", "choices", "delta", "content", "reasoning_content",
    "tool_calls", "function", "arguments", "finish_reason", "type",
    "message", "text", "partial_json", "thinking", "prompt_tokens",
    "completion_tokens", "prompt_tokens_details", "cached_tokens",
    "input_tokens", "output_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "cache_creation",
    "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens", "index", "id",
    "model", "role",
    "logprobs", "us\\u0061ge", "\\u0075sage", "usage\\u0000",
    "c\\u0068oices", "finish_rea\\u0073on", "ty\\u0070e", "tex\\u0074",
    "content ", "Usage", "", "total_tokens", "x"
};

static const char  *strings[] = {
    "content_block_delta", "message_delta", "message_start", "message_stop",
    "error", "text_delta", "stop", "", "a", "Hello, world",
    "message\\u005fstart", "content_block_delt\\u0061", "a\\nb",
    "\\\"usage\\\": {\\\"prompt_tokens\\\": 9}", "\\u00e9", "\\ud83d\\ude00",
    "\\ud800", "\\udc00", "\\ud800\\u0041", "\\u0000", "\\ud800x",
    "\\ud800\\n", "\\/\\b\\f\\r\\t\\\\", "\xc3\xa9\xe2\x82\xac", "\xff",
    "{\\\"a\\\":[1,2]}", "}]},{\"", "0123456789abcdef0123456789abcdef"
};

static const char  *numbers[] = {
    "0", "-0", "1", "7", "12", "12.0", "12.5", "1e3", "1E3", "1e+3", "1e-3",
    "1.5e1", "-5", "-5.0", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775807", "99999999999999999999",
    "9e18", "8999999999999999999", "9000000000000000000.0",
    "8.999999999999999e18", "1e308", "1.7976931348623157e308",
    "1.7976931348623159e308", "1e309", "1e400", "-1e400", "1e-400",
    "4.9e-324", "0.0000001", "123456789012345678", "1234567890123456789",
    "12345678901234567890", "0.1", "100", "2.0e0", "0.5e1", "1e0000003",
    "0e5", "-0.0", "9007199254740993", "9007199254740993.0",
    "0.99999999999999994", "0.99999999999999995"
};


static void
gen_ws(buf_t *b)
{
    static const char  ws[] = " \t\n\r\v\f";

    if (rnd_n(6) == 0) {
        buf_add(b, &ws[rnd_n(rnd_n(5) ? 4 : 6)], 1);
    }
}


static void
gen_string(buf_t *b, int key)
{
    unsigned     i, n;
    const char  *s;

    buf_str(b, "\"");

    if (rnd_n(5) != 0) {
        s = key ? keys[rnd_n(sizeof(keys) / sizeof(keys[0]))]
                : strings[rnd_n(sizeof(strings) / sizeof(strings[0]))];
        buf_str(b, s);

    } else {
        n = rnd_n(40);

        for (i = 0; i < n; i++) {
            switch (rnd_n(12)) {
            case 0:
                buf_str(b, "\\n");
                break;
            case 1:
                buf_str(b, "\\u00");
                buf_printf(b, "%02x", rnd_n(256));
                break;
            case 2:
                buf_printf(b, "\\u%04x", rnd_n(65536));
                break;
            default:
                buf_printf(b, "%c", 'a' + rnd_n(26));
                break;
            }
        }
    }

    buf_str(b, "\"");
}


static void
gen_number(buf_t *b)
{
    unsigned  i, n;

    if (rnd_n(4) != 0) {
        buf_str(b, numbers[rnd_n(sizeof(numbers) / sizeof(numbers[0]))]);
        return;
    }

    /* long ones, near the limits */

    if (rnd_n(2)) {
        buf_str(b, "-");
    }

    n = 1 + rnd_n(rnd_n(4) ? 22 : 400);
    buf_printf(b, "%u", 1 + rnd_n(9));

    for (i = 1; i < n; i++) {
        buf_printf(b, "%u", rnd_n(10));
    }

    if (rnd_n(3) == 0) {
        buf_str(b, ".");

        for (i = rnd_n(30) + 1; i > 0; i--) {
            buf_printf(b, "%u", rnd_n(10));
        }
    }

    if (rnd_n(3) == 0) {
        buf_printf(b, "e%s%d", rnd_n(2) ? "-" : "", (int) rnd_n(330));
    }
}


static void
gen_value(buf_t *b, int depth, int shape)
{
    unsigned  i, n;

    gen_ws(b);

    switch (depth > 5 ? 2 + rnd_n(3) : rnd_n(7)) {

    case 0:
    case 1:
        buf_str(b, "{");
        n = rnd_n(5);

        for (i = 0; i < n; i++) {
            if (i > 0) {
                buf_str(b, ",");
            }

            gen_ws(b);
            gen_string(b, 1);
            gen_ws(b);
            buf_str(b, ":");
            gen_value(b, depth + 1, shape);
        }

        gen_ws(b);
        buf_str(b, "}");
        break;

    case 2:
        gen_string(b, 0);
        break;

    case 3:
        gen_number(b);
        break;

    case 4:
        buf_str(b, (rnd_n(3) == 0) ? "null" : rnd_n(2) ? "true" : "false");
        break;

    default:
        buf_str(b, "[");
        n = rnd_n(4);

        for (i = 0; i < n; i++) {
            if (i > 0) {
                buf_str(b, ",");
            }

            gen_value(b, depth + 1, shape);
        }

        gen_ws(b);
        buf_str(b, "]");
        break;
    }

    gen_ws(b);
}


/* events shaped as the providers send them, with random parts */

static void
gen_event(buf_t *b, int shape)
{
    unsigned  i, n;

    if (shape == TOKENROUTE_SHAPE_OPENAI) {
        buf_str(b, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\""
                ",\"created\":1735689600,\"model\":\"gpt-4o-mini\",");

        if (rnd_n(4) == 0) {
            gen_string(b, 1);
            buf_str(b, ":");
            gen_value(b, 3, shape);
            buf_str(b, ",");
        }

        buf_str(b, "\"choices\":[");
        n = rnd_n(5) ? 1 : rnd_n(3);

        for (i = 0; i < n; i++) {
            buf_str(b, i ? ",{" : "{");
            buf_str(b, "\"index\":0,\"delta\":{");

            switch (rnd_n(5)) {
            case 0:
                buf_str(b, "\"role\":\"assistant\",\"content\":\"\"");
                break;
            case 1:
                buf_str(b, "\"tool_calls\":[{\"index\":0,\"function\":"
                        "{\"arguments\":");
                gen_string(b, 0);
                buf_str(b, "}}]");
                break;
            case 2:
                break;
            default:
                buf_str(b, rnd_n(4) ? "\"content\":"
                                    : "\"reasoning_content\":");
                if (rnd_n(6)) {
                    gen_string(b, 0);
                } else {
                    gen_value(b, 4, shape);
                }
                break;
            }

            buf_str(b, "},\"logprobs\":null,\"finish_reason\":");

            if (rnd_n(4)) {
                buf_str(b, "null");
            } else {
                gen_value(b, 4, shape);
            }

            buf_str(b, "}");
        }

        buf_str(b, "],\"usage\":");

        if (rnd_n(4)) {
            buf_str(b, "null");

        } else {
            buf_str(b, "{\"prompt_tokens\":");
            gen_number(b);
            buf_str(b, ",\"completion_tokens\":");
            gen_number(b);
            buf_str(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
            gen_number(b);
            buf_str(b, "}}");
        }

        if (rnd_n(8) == 0) {
            buf_str(b, ",\"error\":");
            gen_value(b, 3, shape);
        }

        buf_str(b, "}");
        return;
    }

    switch (rnd_n(5)) {

    case 0:
        buf_str(b, "{\"type\":\"content_block_delta\",\"index\":");
        gen_number(b);
        buf_str(b, rnd_n(2) ? ",\"delta\":{\"type\":\"text_delta\",\"text\":"
                            : ",\"delta\":{\"type\":\"input_json_delta\","
                              "\"partial_json\":");
        gen_string(b, 0);
        buf_str(b, "}}");
        break;

    case 1:
        buf_str(b, "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
                "\"usage\":{\"input_tokens\":");
        gen_number(b);
        buf_str(b, ",\"cache_read_input_tokens\":");
        gen_number(b);

        if (rnd_n(2)) {
            buf_str(b, ",\"cache_creation\":{\"ephemeral_5m_input_tokens\":");
            gen_number(b);
            buf_str(b, ",\"ephemeral_1h_input_tokens\":");
            gen_number(b);
            buf_str(b, "}");
        }

        buf_str(b, ",\"output_tokens\":");
        gen_number(b);
        buf_str(b, "}}}");
        break;

    case 2:
        buf_str(b, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                "\"end_turn\"},\"usage\":{\"output_tokens\":");
        gen_number(b);

        if (rnd_n(2)) {
            buf_str(b, ",\"input_tokens\":");
            gen_number(b);
            buf_str(b, ",\"cache_creation_input_tokens\":");
            gen_number(b);
        }

        if (rnd_n(2)) {
            buf_str(b, ",\"cache_creation\":{\"ephemeral_1h_input_tokens\":");
            gen_number(b);
            buf_str(b, "}");
        }

        buf_str(b, "}}");
        break;

    case 3:
        buf_str(b, "{\"type\":");
        gen_string(b, 0);
        buf_str(b, ",");
        gen_string(b, 1);
        buf_str(b, ":");
        gen_value(b, 2, shape);
        buf_str(b, "}");
        break;

    default:
        buf_str(b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                "{\"type\":\"text_delta\",\"text\":\"");
        n = rnd_n(30);

        for (i = 0; i < n; i++) {
            buf_printf(b, "%c", ' ' + rnd_n(95));
        }

        buf_str(b, "\"}}");
        break;
    }
}


static void
gen_mutate(buf_t *b)
{
    size_t  at;

    static const char  bytes[] = "\"\\{}[],: a0e.-\x01\xff\n";

    if (b->len == 0) {
        return;
    }

    at = rnd_n((unsigned) b->len);

    switch (rnd_n(4)) {

    case 0:
        b->len = at;
        break;

    case 1:
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
        break;

    case 2:
        b->data[at] = bytes[rnd_n(sizeof(bytes) - 1)];
        break;

    default:
        buf_add(b, "", 1);
        memmove(b->data + at + 1, b->data + at, b->len - at - 1);
        b->data[at] = bytes[rnd_n(sizeof(bytes) - 1)];
        break;
    }
}


static void
gen_sse(buf_t *b)
{
    unsigned  i, j, k, n;

    static const char  *eol[] = { "\n", "\n", "\n", "\r\n", "\r" };
    static const char  *fields[] = {
        "data:", "data: ", "data:  ", "event:", "event: ", ":", ": keep",
        "id: 1", "retry: 9", "data", "event", "dat:", "datax: ", "DATA: ",
        " data: ", "eventx:", "\xEF\xBB\xBF"
    };

    n = 1 + rnd_n(8);

    for (i = 0; i < n; i++) {

        for (j = rnd_n(4); j > 0; j--) {
            buf_str(b, fields[rnd_n(sizeof(fields) / sizeof(fields[0]))]);

            switch (rnd_n(5)) {
            case 0:
                break;
            case 1:
                buf_str(b, "{\"type\":\"x\"}");
                break;
            case 4:
                /* past the splitter's first windows looked through for CR */
                for (k = 200 + rnd_n(1500); k > 0; k--) {
                    buf_str(b, "a");
                }

                break;
            case 2:
                buf_str(b, "message_start-a-very-long-event-name-longer-than"
                        "-sixty-four-bytes-in-all");
                break;
            default:
                buf_printf(b, "v%u", rnd_n(100));
                break;
            }

            buf_str(b, eol[rnd_n(5)]);
        }

        buf_str(b, eol[rnd_n(5)]);
    }
}


/* helpers */

static void
usage_seed(tokenroute_usage_t *u, unsigned seed)
{
    /* a usage struct already holding some counts, or none */

    memset(u, 0, sizeof(tokenroute_usage_t));

    if (seed & 1) {
        u->input_tokens = seed % 50;
        u->cached_tokens = seed % 7;
        u->cache_write_tokens = seed % 13;
        u->cache_write_1h_tokens = seed % 5;
        u->output_tokens = (seed >> 3) % 60;
        u->content_bytes = seed % 100;
        u->seen_input = 1;
        u->seen_output = (seed >> 1) & 1;
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


static const char *
show_usage(const tokenroute_usage_t *u)
{
    static char  s[256];

    snprintf(s, sizeof(s), "in %lld cached %lld write %lld (1h %lld) "
             "out %lld content %lld seen %d/%d error %d",
             (long long) u->input_tokens, (long long) u->cached_tokens,
             (long long) u->cache_write_tokens,
             (long long) u->cache_write_1h_tokens, (long long) u->output_tokens,
             (long long) u->content_bytes, (int) u->seen_input,
             (int) u->seen_output, (int) u->error);

    return s;
}


static const char *
show(const char *p, size_t n)
{
    size_t       i;
    static char  s[1200];
    size_t       k;

    k = 0;

    for (i = 0; i < n && k + 8 < sizeof(s); i++) {
        if ((unsigned char) p[i] >= 0x20 && (unsigned char) p[i] < 0x7f) {
            s[k++] = p[i];

        } else {
            k += snprintf(s + k, sizeof(s) - k, "\\x%02x",
                          (unsigned char) p[i]);
        }
    }

    s[k] = '\0';

    return s;
}


static char *
slurp(const char *root, const char *name, size_t *len)
{
    long   n;
    char  *b, path[1024];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/bench/mock/%s", root, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);

    b = malloc(n + 1);
    if (b == NULL || fread(b, 1, n, f) != (size_t) n) {
        exit(2);
    }

    fclose(f);
    *len = n;

    return b;
}


static void
buf_add(buf_t *b, const char *p, size_t n)
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
}


static void
buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}


static void
buf_printf(buf_t *b, const char *fmt, ...)
{
    char     s[64];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(s, sizeof(s), fmt, ap);
    va_end(ap);

    buf_str(b, s);
}


static uint64_t
rnd(void)
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;

    return state * 0x2545F4914F6CDD1DULL;
}


static unsigned
rnd_n(unsigned n)
{
    return (n == 0) ? 0 : (unsigned) (rnd() % n);
}


static void
diag(const char *fmt, ...)
{
    va_list  ap;

    printf("# ");

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);

    printf("\n");
}



/*
 * Streams of OpenAI chunks that share their first members, as a
 * provider's do: the reader skips those bytes in the chunks that follow
 * a learned one (tokenroute_skim_chunk_from()); it must read every
 * chunk as yajl does all the same, whatever follows the shared bytes,
 * valid or not, and whatever the shared bytes are.
 */

static void
test_envelope(unsigned n)
{
    int                 good, rc0, rc1;
    buf_t               env, ch, s;
    size_t              cut[2];
    unsigned            i, j, k, events;
    stream_t            a, b;
    tokenroute_usage_t  u, w;

    memset(&env, 0, sizeof(buf_t));
    memset(&ch, 0, sizeof(buf_t));
    memset(&s, 0, sizeof(buf_t));
    memset(&a, 0, sizeof(stream_t));
    memset(&b, 0, sizeof(stream_t));

    good = 1;

    for (i = 0; i < n / 4 && good; i++) {
        env.len = 0;
        gen_envelope(&env);

        s.len = 0;
        events = 2 + rnd_n(10);

        for (j = 0; j < events; j++) {
            ch.len = 0;
            gen_chunk(&ch, &env);

            if (rnd_n(8) == 0) {
                gen_mutate(&ch);
            }

            switch (rnd_n(16)) {
            case 0:
                buf_str(&s, "event: error\n");
                break;
            case 1:
                buf_str(&s, "data: {\"a\":\n");
                break;
            case 2:
                buf_str(&s, ": keep-alive\n");
                break;
            case 3:
                /* empty data, where the line hook looks for the head */
                buf_str(&s, rnd_n(2) ? "data: \n\n" : "data:\n\n");
                break;
            }

            buf_str(&s, rnd_n(4) ? "data: " : "data:");
            buf_add(&s, ch.data, ch.len);

            switch (rnd_n(12)) {
            case 0:
                buf_str(&s, "\r\n\r\n");
                break;
            case 1:
                buf_str(&s, "\r\r");
                break;
            case 2:
                buf_str(&s, "\ndata: 1\n\n");
                break;
            case 3:
                buf_str(&s, "\n\r\n");
                break;
            default:
                buf_str(&s, "\n\n");
                break;
            }
        }

        if (rnd_n(2)) {
            buf_str(&s, "data: [DONE]\n\n");
        }

        for (k = 0; k < 3 && good; k++) {
            cut[0] = rnd_n((unsigned) s.len + 1);
            cut[1] = cut[0] + rnd_n((unsigned) (s.len - cut[0]) + 1);

            rc1 = stream_run(1, TOKENROUTE_SHAPE_OPENAI, s.data, s.len,
                             cut, k, &b, &w);
            rc0 = stream_run(0, TOKENROUTE_SHAPE_OPENAI, s.data, s.len,
                             cut, k, &a, &u);

            good = rc0 == rc1 && usage_equal(&u, &w)
                   && strcmp(a.flags.data, b.flags.data) == 0;

            if (good) {
                rc0 = stream_run(3, TOKENROUTE_SHAPE_OPENAI, s.data, s.len,
                                 cut, k, &a, &u);

                good = rc0 == rc1 && usage_equal(&u, &w)
                       && strcmp(a.flags.data, b.flags.data) == 0;
            }

            if (!good) {
                diag("stream %s", show(s.data, s.len));
                diag("flags %s, yajl %s", a.flags.data, b.flags.data);
                diag("usage %s", show_usage(&u));
                diag("yajl  %s", show_usage(&w));
            }
        }
    }

    ok(good, "%u generated streams of chunks sharing their first members "
       "read as yajl reads them, whole and split", n / 4);

    free(env.data);
    free(ch.data);
    free(s.data);
    free(a.flags.data);
    free(b.flags.data);
}


/* "{" and members, mostly plain, each with its comma */

static void
gen_envelope(buf_t *b)
{
    unsigned  i, members;

    static const char  *plain[] = {
        "\"id\":\"chatcmpl-B0000000000000002\"",
        "\"object\":\"chat.completion.chunk\"", "\"created\":1735689600",
        "\"model\":\"gpt-4o-mini-2024-07-18\"", "\"service_tier\":\"default\"",
        "\"system_fingerprint\":\"fp_0001\"", "\"system_fingerprint\":null",
        "\"obfuscation\":\"a\"", "\"x\":true", "\"y\":false", "\"z\":-0",
        "\"n\":123456789012345678", "\"\":\"\""
    };

    static const char  *other[] = {
        "\"usage\":null", "\"created\":12.5", "\"x\":[1]", "\"x\":{}",
        "\"id\":\"a\\u0062\"", "\"error\":null", "\"id\" :\"a\"",
        "\"n\":1234567890123456789", "\"choices\":[]", "\"x\":nul",
        "\"id\":\"a\x01\"", "\"x\":1e3", "\"x\":01"
    };

    buf_str(b, "{");

    members = rnd_n(7);

    for (i = 0; i < members; i++) {
        if (rnd_n(10) == 0) {
            buf_str(b, other[rnd_n(sizeof(other) / sizeof(other[0]))]);

        } else {
            buf_str(b, plain[rnd_n(sizeof(plain) / sizeof(plain[0]))]);
        }

        buf_str(b, ",");
    }
}


/* a chunk of the stream: the envelope, then what varies */

static void
gen_chunk(buf_t *b, const buf_t *env)
{
    static const char  *texts[] = {
        "", "Sure", " are three", "a\\nb", "\\u00e9", "\\\"", "\xc3\xa9",
        "0123456789abcdef0123456789abcdef"
    };

    static const char  *rests[] = {
        "}", "\"choices\":[]}", "\"error\":{\"message\":\"x\"}}",
        "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[]}}]}",
        "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":null}]}",
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},"
        "{\"index\":1,\"delta\":{\"content\":\"bc\"}}],\"usage\":null}",
        " \"choices\":[]}", "\"choices\":[],}", "\"usage\":{}}", ""
    };

    if (rnd_n(16) == 0) {
        /* not the envelope: learned again, or read whole */
        gen_event(b, TOKENROUTE_SHAPE_OPENAI);
        return;
    }

    buf_add(b, env->data, env->len);

    switch (rnd_n(8)) {

    case 0:
        buf_str(b, "\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                "\"assistant\",\"content\":\"\",\"refusal\":null},"
                "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
        break;

    case 1:
        buf_str(b, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                "\"finish_reason\":\"stop\"}],\"usage\":null}");
        break;

    case 2:
        gen_usage_chunk(b);
        break;

    case 3:
        buf_str(b, rests[rnd_n(sizeof(rests) / sizeof(rests[0]))]);
        break;

    case 4:
        gen_value(b, 1, TOKENROUTE_SHAPE_OPENAI);
        break;

    default:
        buf_printf(b, "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                   "\"%s\"},\"logprobs\":null,\"finish_reason\":null}],"
                   "\"usage\":null}",
                   texts[rnd_n(sizeof(texts) / sizeof(texts[0]))]);
        break;
    }
}


/*
 * The rest of a usage chunk: OpenAI's own shape with its numbers drawn
 * from numbers[] (or a member changed), or its parts shuffled, for the
 * chunk shortcut and its exact-shape path to meet every way out.
 */

static void
gen_usage_chunk(buf_t *b)
{
    char         c;
    unsigned     i, j, n;
    const char  *num[9];

    static const char  *parts[] = {
        "\"usage\":{\"prompt_tokens\":", ",\"completion_tokens\":",
        ",\"total_tokens\":", ",\"prompt_tokens_details\":{\"cached_tokens\":",
        ",\"audio_tokens\":",
        "},\"completion_tokens_details\":{\"reasoning_tokens\":",
        ",\"audio_tokens\":", ",\"accepted_prediction_tokens\":",
        ",\"rejected_prediction_tokens\":"
    };

    static const char  *keys[] = {
        "prompt_tokens", "completion_tokens", "total_tokens",
        "cached_tokens", "audio_tokens", "reasoning_tokens",
        "accepted_prediction_tokens", "rejected_prediction_tokens",
        "prompt_tokens_details", "completion_tokens_details", "usage",
        "choices", "error", "x", ""
    };

    static const char  *values[] = {
        "0", "7", "-1", "-0", "1.0", "1e2", "\"5\"", "null", "true", "{}",
        "[]", "[1]", "{\"cached_tokens\":3}", "{\"a\":{}}", "01",
        "123456789012345678", "1234567890123456789"
    };

    static const char  *choices[] = {
        "\"choices\":[],", "", "\"choices\":[{\"index\":0,\"delta\":{},"
        "\"finish_reason\":\"stop\"}],", "\"choices\":[{}],",
        "\"choices\":null,", "\"choices\":[],\"choices\":[],"
    };

    for (i = 0; i < 9; i++) {
        num[i] = rnd_n(4) ? "12"
                 : numbers[rnd_n(sizeof(numbers) / sizeof(numbers[0]))];
    }

    buf_str(b, rnd_n(4) ? "\"choices\":[],"
                        : choices[rnd_n(sizeof(choices) / sizeof(choices[0]))]);

    if (rnd_n(3)) {
        /* buf_printf() would cut it at 63 bytes */
        for (i = 0; i < 9; i++) {
            buf_str(b, parts[i]);
            buf_str(b, num[i]);
        }

        buf_str(b, "}}");

        if (rnd_n(4) == 0) {
            /* one byte changed, dropped or doubled in the usage */
            n = (unsigned) b->len - 1 - rnd_n(200);

            switch (rnd_n(3)) {
            case 0:
                b->data[n] = "{}[],:\" 0a-"[rnd_n(11)];
                break;
            case 1:
                memmove(b->data + n, b->data + n + 1, b->len - n - 1);
                b->len--;
                break;
            default:
                c = b->data[n];
                buf_add(b, &c, 1);
                memmove(b->data + n + 1, b->data + n, b->len - n - 1);
                break;
            }
        }

    } else {
        /* members drawn at random, nested at most twice */
        buf_str(b, "\"usage\":{");
        n = rnd_n(6);

        for (i = 0; i < n; i++) {
            buf_str(b, i ? ",\"" : "\"");
            buf_str(b, keys[rnd_n(sizeof(keys) / sizeof(keys[0]))]);
            buf_str(b, "\":");

            if (rnd_n(4) == 0) {
                for (j = 0; j < 2; j++) {
                    buf_str(b, j ? ",\"" : "{\"");
                    buf_str(b, keys[rnd_n(sizeof(keys) / sizeof(keys[0]))]);
                    buf_str(b, "\":");
                    buf_str(b,
                            values[rnd_n(sizeof(values) / sizeof(values[0]))]);
                }

                buf_str(b, "}");

            } else {
                buf_str(b, values[rnd_n(sizeof(values) / sizeof(values[0]))]);
            }
        }

        buf_str(b, "}");
    }

    buf_str(b, rnd_n(8) ? "}" : ",\"choices\":[]}");
}
