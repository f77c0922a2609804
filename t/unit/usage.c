
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for token usage extraction and cost (src/tokenroute_usage.c):
 * realistic OpenAI and Anthropic bodies and streams, each fed whole, split
 * in two at every offset and one byte at a time (streams through the SSE
 * splitter, src/tokenroute_sse.c).  Prints TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_sse.h>
#include <tokenroute_usage.h>

#include "tap.h"


/* prices, nano-USD per million tokens */
#define GPT4O_IN         2500000000LL    /* $2.50 */
#define GPT4O_CACHED     1250000000LL    /* $1.25 */
#define GPT4O_OUT       10000000000LL    /* $10 */
#define MINI_IN           150000000LL    /* $0.15 */
#define MINI_CACHED        75000000LL    /* $0.075 */
#define MINI_OUT          600000000LL    /* $0.60 */
#define SONNET_IN        3000000000LL    /* $3 */
#define SONNET_CACHED     300000000LL    /* $0.30 */
#define SONNET_OUT      15000000000LL    /* $15 */

#define FLAGS_LEN        512


typedef struct {
    int64_t      input;
    int64_t      cached;
    int64_t      write;
    int64_t      write_1h;       /* of write */
    int64_t      output;
    int64_t      content;
    int          seen_input;
    int          seen_output;
    int          error;
    const char  *flags;          /* per event, for streams */
    int64_t      in_price;
    int64_t      cached_price;
    int64_t      out_price;
    int64_t      write_price;    /* 0: the default, 1.25 x in_price */
    int64_t      write_1h_price; /* 0: the default, 2 x in_price */
    int64_t      cost;
    int64_t      estimate;
} expect_t;


typedef struct {
    int                  shape;
    tokenroute_usage_t  *usage;
    char                 flags[FLAGS_LEN];
    size_t               len;
} stream_t;


static int usage_equal(const tokenroute_usage_t *a,
    const tokenroute_usage_t *b);
static void check_usage(const char *name, const tokenroute_usage_t *u,
    const expect_t *e);
static int json_run(int shape, const char *body, size_t len, size_t cut,
    int bytewise, tokenroute_usage_t *u);
static void check_json(const char *name, int shape, const char *body,
    int rc_expect, const expect_t *e);
static int stream_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated);
static int stream_run(int shape, const char *s, size_t len, size_t cut,
    int bytewise, tokenroute_usage_t *u, stream_t *st);
static void check_stream(const char *name, int shape, const char *s,
    const expect_t *e);
static char *strip_event_lines(const char *s);
static char *to_crlf(const char *s);
static int ev(int shape, const char *name, const char *data,
    tokenroute_usage_t *u);
static void test_events(void);
static void test_shape(void);
static void test_line(void);
static void test_cost(void);
static void test_clamp(void);
static void test_cache_writes(void);
static void test_price_max(void);
static int64_t cost_at(const tokenroute_usage_t *u, int64_t in,
    int64_t cached, int64_t out);




/* gpt-4o, with a decoy "usage" inside choices */
static const char  openai_body[] =
    "{\n"
    "  \"id\": \"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\n"
    "  \"object\": \"chat.completion\",\n"
    "  \"created\": 1741569952,\n"
    "  \"model\": \"gpt-4o-2024-08-06\",\n"
    "  \"choices\": [\n"
    "    {\n"
    "      \"index\": 0,\n"
    "      \"message\": {\n"
    "        \"role\": \"assistant\",\n"
    "        \"content\": \"Hello! How can I assist you today? \\u00e9\\n\",\n"
    "        \"refusal\": null,\n"
    "        \"annotations\": []\n"
    "      },\n"
    "      \"usage\": {\"prompt_tokens\": 999999},\n"
    "      \"logprobs\": null,\n"
    "      \"finish_reason\": \"stop\"\n"
    "    }\n"
    "  ],\n"
    "  \"usage\": {\n"
    "    \"prompt_tokens\": 2006,\n"
    "    \"completion_tokens\": 300,\n"
    "    \"total_tokens\": 2306,\n"
    "    \"prompt_tokens_details\": {\n"
    "      \"cached_tokens\": 1920,\n"
    "      \"audio_tokens\": 0\n"
    "    },\n"
    "    \"completion_tokens_details\": {\n"
    "      \"reasoning_tokens\": 0,\n"
    "      \"audio_tokens\": 0,\n"
    "      \"accepted_prediction_tokens\": 0,\n"
    "      \"rejected_prediction_tokens\": 0\n"
    "    }\n"
    "  },\n"
    "  \"service_tier\": \"default\",\n"
    "  \"system_fingerprint\": \"fp_fc9f1d7035\"\n"
    "}\n";


static const char  openai_error_body[] =
    "{\n"
    "    \"error\": {\n"
    "        \"message\": \"Rate limit reached for gpt-4o in organization "
    "org-abc on tokens per min (TPM): Limit 30000, Used 29000.\",\n"
    "        \"type\": \"tokens\",\n"
    "        \"param\": null,\n"
    "        \"code\": \"rate_limit_exceeded\"\n"
    "    }\n"
    "}\n";


static const char  anthropic_body[] =
    "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\","
    "\"content\":[{\"type\":\"text\",\"text\":\"Hello! \\\"Quoted\\\"\"},"
    "{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"get_weather\","
    "\"input\":{\"location\":\"Paris\",\"usage\":{\"input_tokens\":7}}}],"
    "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":1500,"
    "\"cache_read_input_tokens\":3000,\"output_tokens\":45,"
    "\"service_tier\":\"standard\"}}";


static const char  anthropic_error_body[] =
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
    "\"message\":\"Overloaded\"},"
    "\"request_id\":\"req_011CSHoEeqs5C35K2UUqR7Fy\"}";


/*
 * gpt-4o-mini with stream_options.include_usage: role chunk, reasoning,
 * content, a tool call's arguments in pieces, the finish chunk, the usage
 * chunk and [DONE].  Generated bytes: "" 0, "Think" 5, "Hello" 5,
 * " w\u00f6rld\n" 8, "" 0, "{\"location\":" 12, "\"Paris\"}" 8: 38.
 */
static const char  openai_stream[] =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_06737a9306\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Think\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\\u00f6rld\\n\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\","
    "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"{\\\"location\\\":\"}}]},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":1200,"
    "\"completion_tokens\":42,\"total_tokens\":1242,"
    "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,"
    "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
    "\"rejected_prediction_tokens\":0}}}\n"
    "\n"
    "data: [DONE]\n"
    "\n";


/* an OpenAI-compatible host: usage on the finish chunk, then an error */
static const char  openai_host_stream[] =
    ": OPENROUTER PROCESSING\n"
    "\n"
    "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"Hi there\"},"
    "\"finish_reason\":null}]}\n"
    "\n"
    "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"!\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"prompt_tokens\":15,\"completion_tokens\":3,\"total_tokens\":18}}\n"
    "\n"
    "data: {\"error\":{\"message\":\"Internal error\","
    "\"type\":\"server_error\",\"code\":500}}\n"
    "\n"
    "data: [DONE]\n"
    "\n";


/*
 * claude-sonnet-4: thinking, text, a tool_use block, message_delta with
 * usage, message_stop.  Generated bytes: "Let me see." 11, "Hello" 5,
 * "!\nI'll check \"Paris\"." 21, "" 0, "{\"location\": \"Par" 17,
 * "is\"}" 4: 58; the signature does not count.
 */
static const char  anthropic_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":"
    "{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":5000,"
    "\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n"
    "\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me see.\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"signature_delta\","
    "\"signature\":"
    "\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,"
    "\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"!\\nI'll check \\\"Paris\\\".\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":2,"
    "\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\","
    "\"name\":\"get_weather\",\"input\":{}}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"location\\\": \\\"Par\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"is\\\"}\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";


/*
 * message_delta carrying the input fields too (cumulative: the larger
 * value wins, never the sum), and a stale second message_delta.
 */
static const char  anthropic_stream_input[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
    "\"output_tokens\":1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"},"
    "\"index\":0,\"type\":\"content_block_delta\"}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"input_tokens\":40,"
    "\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":7000,"
    "\"output_tokens\":89,\"server_tool_use\":{\"web_search_requests\":0}}}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"usage\":{\"output_tokens\":50,\"input_tokens\":40},"
    "\"type\":\"message_delta\",\"delta\":{}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";


/*
 * Anthropic's cache writes split by lifetime (prompt caching with a "ttl"
 * of "1h"): cache_creation_input_tokens counts them all, the
 * cache_creation object says how many of them are 5-minute and 1-hour
 * writes.  A decoy cache_creation in a tool's input is not usage.
 */
static const char  anthropic_body_1h[] =
    "{\"id\":\"msg_01Ttl\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5-20250929\","
    "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_01B\","
    "\"name\":\"f\",\"input\":{\"usage\":{\"cache_creation\":"
    "{\"ephemeral_1h_input_tokens\":7}}}}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":1500,"
    "\"cache_read_input_tokens\":3000,\"cache_creation\":"
    "{\"ephemeral_5m_input_tokens\":500,\"ephemeral_1h_input_tokens\":1000},"
    "\"output_tokens\":45,\"service_tier\":\"standard\"}}";


/* the split in message_start, message_delta cumulative with it again */
static const char  anthropic_stream_1h[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_4\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":0,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,"
    "\"ephemeral_1h_input_tokens\":1800},\"output_tokens\":1,"
    "\"service_tier\":\"standard\"}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":0,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,"
    "\"ephemeral_1h_input_tokens\":1800},\"output_tokens\":30}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";


/* no cache writes in message_start: the split comes in message_delta */
static const char  anthropic_stream_1h_late[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_5\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
    "\"output_tokens\":1}}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"}}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"cache_creation\":"
    "{\"ephemeral_1h_input_tokens\":200,\"ephemeral_5m_input_tokens\":100},"
    "\"cache_creation_input_tokens\":300,\"output_tokens\":30}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";


/* overloaded after HTTP 200 */
static const char  anthropic_stream_error[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_3\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
    "\"output_tokens\":1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n"
    "\n"
    "event: error\n"
    "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
    "\"message\":\"Overloaded\"}}\n"
    "\n";


int
main(void)
{
    char      *s;
    expect_t   e;

    /* non-streamed bodies */

    memset(&e, 0, sizeof(expect_t));
    e.input = 2006 - 1920;
    e.cached = 1920;
    e.output = 300;
    e.seen_input = 1;
    e.seen_output = 1;
    e.in_price = GPT4O_IN;
    e.cached_price = GPT4O_CACHED;
    e.out_price = GPT4O_OUT;
    e.cost = 86 * 2500 + 1920 * 1250 + 300 * 10000;
    check_json("OpenAI body", TOKENROUTE_SHAPE_OPENAI, openai_body, 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.error = 1;
    check_json("OpenAI error body", TOKENROUTE_SHAPE_OPENAI, openai_error_body,
               0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 12;
    e.cached = 3000;
    e.write = 1500;
    e.output = 45;
    e.seen_input = 1;
    e.seen_output = 1;
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 12 * 3000 + 3000 * 300 + 1500 * 3750 + 45 * 15000;
    check_json("Anthropic body", TOKENROUTE_SHAPE_ANTHROPIC, anthropic_body, 0,
               &e);

    memset(&e, 0, sizeof(expect_t));
    e.error = 1;
    check_json("Anthropic error body", TOKENROUTE_SHAPE_ANTHROPIC,
               anthropic_error_body, 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 5;
    e.cached = 2;
    e.output = 3;
    e.seen_input = 1;
    e.seen_output = 1;
    check_json("OpenAI body, details first, error null",
               TOKENROUTE_SHAPE_OPENAI,
               "{\"error\":null,\"usage\":{\"prompt_tokens_details\":"
               "{\"cached_tokens\":2},\"completion_tokens\":3.0,"
               "\"prompt_tokens\":7}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.error = 1;
    check_json("an error string", TOKENROUTE_SHAPE_OPENAI,
               "{\"error\":\"boom\",\"usage\":null}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 1;
    e.seen_input = 1;
    check_json("error false", TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"error\":false,\"usage\":{\"input_tokens\":1}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    check_json("usage null", TOKENROUTE_SHAPE_OPENAI,
               "{\"choices\":[{\"usage\":{\"prompt_tokens\":1}}],"
               "\"usage\":null}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    check_json("Anthropic keys in an OpenAI body", TOKENROUTE_SHAPE_OPENAI,
               "{\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 100;
    e.seen_input = 1;
    check_json("a body cut short keeps what was read",
               TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"usage\":{\"input_tokens\":100,\"output_tok", -1, &e);

    memset(&e, 0, sizeof(expect_t));
    e.output = 4;
    e.seen_output = 1;
    check_json("invalid JSON keeps what was read", TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"usage\":{\"output_tokens\":4}, oops}", -1, &e);

    memset(&e, 0, sizeof(expect_t));
    check_json("not JSON", TOKENROUTE_SHAPE_OPENAI,
               "<html>502 Bad Gateway</html>", -1, &e);

    /* streams */

    memset(&e, 0, sizeof(expect_t));
    e.input = 1200 - 1024;
    e.cached = 1024;
    e.output = 42;
    e.content = 38;
    e.seen_input = 1;
    e.seen_output = 1;
    e.flags = "0 0 0 0 0 0 0 8 2 1";
    e.in_price = MINI_IN;
    e.cached_price = MINI_CACHED;
    e.out_price = MINI_OUT;
    e.cost = 176 * 150 + 1024 * 75 + 42 * 600;
    e.estimate = 10;
    check_stream("OpenAI stream", TOKENROUTE_SHAPE_OPENAI, openai_stream, &e);

    s = to_crlf(openai_stream);
    check_stream("OpenAI stream over CRLF", TOKENROUTE_SHAPE_OPENAI, s, &e);
    free(s);

    memset(&e, 0, sizeof(expect_t));
    e.input = 15;
    e.output = 3;
    e.content = 9;
    e.seen_input = 1;
    e.seen_output = 1;
    e.error = 1;
    e.flags = "0 8 4 1";
    e.in_price = MINI_IN;
    e.cached_price = MINI_CACHED;
    e.out_price = MINI_OUT;
    e.cost = 15 * 150 + 3 * 600;
    e.estimate = 3;
    check_stream("OpenAI-compatible stream, usage with choices, then error",
                 TOKENROUTE_SHAPE_OPENAI, openai_host_stream, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 25;
    e.cached = 5000;
    e.write = 2000;
    e.output = 89;
    e.content = 58;
    e.seen_input = 1;
    e.seen_output = 1;
    e.flags = "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 8";
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 25 * 3000 + 5000 * 300 + 2000 * 3750 + 89 * 15000;
    e.estimate = 15;
    check_stream("Anthropic stream", TOKENROUTE_SHAPE_ANTHROPIC,
                 anthropic_stream, &e);

    s = strip_event_lines(anthropic_stream);
    check_stream("Anthropic stream without event lines",
                 TOKENROUTE_SHAPE_ANTHROPIC, s, &e);
    free(s);

    memset(&e, 0, sizeof(expect_t));
    e.input = 40;
    e.cached = 7000;
    e.write = 300;
    e.output = 89;
    e.content = 7;
    e.seen_input = 1;
    e.seen_output = 1;
    e.flags = "0 0 0 0 0 0 8";
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 40 * 3000 + 7000 * 300 + 300 * 3750 + 89 * 15000;
    e.estimate = 2;
    check_stream("Anthropic stream, input usage in message_delta",
                 TOKENROUTE_SHAPE_ANTHROPIC, anthropic_stream_input, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 10;
    e.output = 1;
    e.content = 3;
    e.seen_input = 1;
    e.seen_output = 1;
    e.error = 1;
    e.flags = "0 0 0 4";
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 10 * 3000 + 1 * 15000;
    e.estimate = 1;
    check_stream("Anthropic stream, overloaded_error event",
                 TOKENROUTE_SHAPE_ANTHROPIC, anthropic_stream_error, &e);

    /* cache writes by lifetime: 5-minute at 1.25 x, 1-hour at 2 x */

    memset(&e, 0, sizeof(expect_t));
    e.input = 12;
    e.cached = 3000;
    e.write = 1500;
    e.write_1h = 1000;
    e.output = 45;
    e.seen_input = 1;
    e.seen_output = 1;
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 12 * 3000 + 3000 * 300 + 500 * 3750 + 1000 * 6000
             + 45 * 15000;
    check_json("Anthropic body, 5-minute and 1-hour cache writes",
               TOKENROUTE_SHAPE_ANTHROPIC, anthropic_body_1h, 0, &e);

    e.write_price = 5000000000LL;
    e.write_1h_price = 7000000000LL;
    e.cost = 12 * 3000 + 3000 * 300 + 500 * 5000 + 1000 * 7000
             + 45 * 15000;
    check_json("Anthropic body, cache write prices configured",
               TOKENROUTE_SHAPE_ANTHROPIC, anthropic_body_1h, 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 3;
    e.write = 50;
    e.write_1h = 40;
    e.seen_input = 1;
    e.in_price = SONNET_IN;
    e.cost = 3 * 3000 + 10 * 3750 + 40 * 6000;
    check_json("the split alone, before input_tokens",
               TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"usage\":{\"cache_creation\":{\"ephemeral_1h_input_tokens\":"
               "40,\"ephemeral_5m_input_tokens\":10},\"input_tokens\":3}}",
               0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.write = 100;
    e.write_1h = 40;
    e.seen_input = 1;
    e.in_price = SONNET_IN;
    e.cost = 60 * 3750 + 40 * 6000;
    check_json("writes the split does not account for are 5-minute ones",
               TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"usage\":{\"cache_creation_input_tokens\":100,"
               "\"cache_creation\":{\"ephemeral_5m_input_tokens\":10,"
               "\"ephemeral_1h_input_tokens\":40}}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 1;
    e.write = 7;
    e.seen_input = 1;
    e.in_price = SONNET_IN;
    e.cost = 1 * 3000 + 7 * 3750;
    check_json("an empty split: all 5-minute writes",
               TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"usage\":{\"input_tokens\":1,\"cache_creation_input_tokens\":"
               "7,\"cache_creation\":{}}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 1;
    e.seen_input = 1;
    check_json("a split outside usage is not read",
               TOKENROUTE_SHAPE_ANTHROPIC,
               "{\"cache_creation\":{\"ephemeral_1h_input_tokens\":9},"
               "\"usage\":{\"input_tokens\":1,\"x\":{\"cache_creation\":"
               "{\"ephemeral_1h_input_tokens\":9}}}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 5;
    e.seen_input = 1;
    check_json("a split in an OpenAI body is not read",
               TOKENROUTE_SHAPE_OPENAI,
               "{\"usage\":{\"prompt_tokens\":5,\"cache_creation\":"
               "{\"ephemeral_1h_input_tokens\":9}}}", 0, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 25;
    e.write = 2000;
    e.write_1h = 1800;
    e.output = 30;
    e.content = 7;
    e.seen_input = 1;
    e.seen_output = 1;
    e.flags = "0 0 0 0 0 8";
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 25 * 3000 + 200 * 3750 + 1800 * 6000 + 30 * 15000;
    e.estimate = 2;
    check_stream("Anthropic stream, 1-hour cache writes",
                 TOKENROUTE_SHAPE_ANTHROPIC, anthropic_stream_1h, &e);

    memset(&e, 0, sizeof(expect_t));
    e.input = 25;
    e.write = 300;
    e.write_1h = 200;
    e.output = 30;
    e.content = 7;
    e.seen_input = 1;
    e.seen_output = 1;
    e.flags = "0 0 0 8";
    e.in_price = SONNET_IN;
    e.cached_price = SONNET_CACHED;
    e.out_price = SONNET_OUT;
    e.cost = 25 * 3000 + 100 * 3750 + 200 * 6000 + 30 * 15000;
    e.estimate = 2;
    check_stream("Anthropic stream, the split in message_delta",
                 TOKENROUTE_SHAPE_ANTHROPIC, anthropic_stream_1h_late, &e);

    test_events();
    test_shape();
    test_line();
    test_cost();
    test_clamp();
    test_cache_writes();
    test_price_max();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
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
check_usage(const char *name, const tokenroute_usage_t *u, const expect_t *e)
{
    int64_t              cost;
    tokenroute_prices_t  p;

    ok(u->input_tokens == e->input && u->cached_tokens == e->cached
       && u->cache_write_tokens == e->write
       && u->cache_write_1h_tokens == e->write_1h
       && u->output_tokens == e->output,
       "%s: input %lld, cached %lld, cache write %lld (1h %lld), "
       "output %lld", name,
       (long long) u->input_tokens, (long long) u->cached_tokens,
       (long long) u->cache_write_tokens,
       (long long) u->cache_write_1h_tokens, (long long) u->output_tokens);

    ok(u->seen_input == e->seen_input && u->seen_output == e->seen_output
       && u->error == e->error,
       "%s: seen_input %d, seen_output %d, error %d", name,
       (int) u->seen_input, (int) u->seen_output, (int) u->error);

    ok(u->content_bytes == e->content, "%s: content_bytes %lld", name,
       (long long) u->content_bytes);

    ok(tokenroute_usage_estimate_output(u) == e->estimate,
       "%s: estimated output %lld", name,
       (long long) tokenroute_usage_estimate_output(u));

    p.input = e->in_price;
    p.cached = e->cached_price;
    p.cache_write = e->write_price ? e->write_price : -1;
    p.cache_write_1h = e->write_1h_price ? e->write_1h_price : -1;
    p.output = e->out_price;

    cost = tokenroute_usage_cost(u, &p);

    ok(cost == e->cost, "%s: cost %lld nano-USD (want %lld)", name,
       (long long) cost, (long long) e->cost);
}


/* feeds the body whole (cut == len), in two pieces, or byte by byte */

static int
json_run(int shape, const char *body, size_t len, size_t cut, int bytewise,
    tokenroute_usage_t *u)
{
    int                      rc;
    size_t                   i;
    tokenroute_usage_json_t  uj;

    memset(u, 0, sizeof(tokenroute_usage_t));

    if (tokenroute_usage_json_init(&uj, shape, u) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    rc = 0;

    if (bytewise) {
        for (i = 0; i < len && rc == 0; i++) {
            rc = tokenroute_usage_json_feed(&uj, body + i, 1);
        }

    } else {
        rc = tokenroute_usage_json_feed(&uj, body, cut);

        if (rc == 0) {
            rc = tokenroute_usage_json_feed(&uj, body + cut, len - cut);
        }
    }

    if (rc == 0) {
        rc = tokenroute_usage_json_finish(&uj);
    }

    tokenroute_usage_json_free(&uj);

    return rc;
}


static void
check_json(const char *name, int shape, const char *body, int rc_expect,
    const expect_t *e)
{
    int                 rc, good;
    size_t              len, i;
    tokenroute_usage_t  u, v;

    len = strlen(body);

    rc = json_run(shape, body, len, len, 0, &u);

    ok(rc == rc_expect, "%s: parse result %d", name, rc);
    check_usage(name, &u, e);

    good = 1;

    for (i = 0; i <= len && good; i++) {
        rc = json_run(shape, body, len, i, 0, &v);

        if (rc != rc_expect || !usage_equal(&u, &v)) {
            good = 0;
        }
    }

    ok(good, "%s: the same split in two at every offset%s", name,
       good ? "" : " (not at one)");

    rc = json_run(shape, body, len, 0, 1, &v);

    ok(rc == rc_expect && usage_equal(&u, &v),
       "%s: the same fed one byte at a time", name);
}


static int
stream_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    int        rc;
    stream_t  *st = ctx;

    if (truncated) {
        return -1;
    }

    rc = tokenroute_usage_event(st->shape, event, event_len, data, data_len,
                                st->usage);

    if (st->len + 8 < FLAGS_LEN) {
        st->len += sprintf(st->flags + st->len, "%s%d", st->len ? " " : "",
                           rc);
    }

    return 0;
}


static int
stream_run(int shape, const char *s, size_t len, size_t cut, int bytewise,
    tokenroute_usage_t *u, stream_t *st)
{
    int               rc;
    size_t            i;
    tokenroute_sse_t  sse;

    memset(u, 0, sizeof(tokenroute_usage_t));

    st->shape = shape;
    st->usage = u;
    st->len = 0;
    st->flags[0] = '\0';

    if (tokenroute_sse_init(&sse, 64 * 1024, stream_handler, st) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    if (bytewise) {
        rc = 0;

        for (i = 0; i < len && rc == 0; i++) {
            rc = tokenroute_sse_feed(&sse, s + i, 1);
        }

    } else {
        rc = tokenroute_sse_feed(&sse, s, cut);

        if (rc == 0) {
            rc = tokenroute_sse_feed(&sse, s + cut, len - cut);
        }
    }

    tokenroute_sse_free(&sse);

    return rc;
}


static void
check_stream(const char *name, int shape, const char *s, const expect_t *e)
{
    int                 rc, good;
    size_t              len, i;
    stream_t            st;
    tokenroute_usage_t  u, v;

    len = strlen(s);

    rc = stream_run(shape, s, len, len, 0, &u, &st);

    ok(rc == 0 && strcmp(st.flags, e->flags) == 0,
       "%s: event flags %s", name, st.flags);
    check_usage(name, &u, e);

    good = 1;

    for (i = 0; i <= len && good; i++) {
        rc = stream_run(shape, s, len, i, 0, &v, &st);

        if (rc != 0 || !usage_equal(&u, &v) || strcmp(st.flags, e->flags))
        {
            good = 0;
        }
    }

    ok(good, "%s: the same split in two at every offset (%zu)", name,
       len + 1);

    rc = stream_run(shape, s, len, 0, 1, &v, &st);

    ok(rc == 0 && usage_equal(&u, &v) && strcmp(st.flags, e->flags) == 0,
       "%s: the same fed one byte at a time", name);
}


static char *
strip_event_lines(const char *s)
{
    char        *out, *q;
    const char  *eol;

    out = malloc(strlen(s) + 1);
    if (out == NULL) {
        exit(2);
    }

    q = out;

    while (*s) {
        eol = strchr(s, '\n');
        eol = eol ? eol + 1 : s + strlen(s);

        if (strncmp(s, "event:", 6) != 0) {
            memcpy(q, s, eol - s);
            q += eol - s;
        }

        s = eol;
    }

    *q = '\0';

    return out;
}


static char *
to_crlf(const char *s)
{
    char  *out, *q;

    out = malloc(2 * strlen(s) + 1);
    if (out == NULL) {
        exit(2);
    }

    for (q = out; *s; s++) {
        if (*s == '\n') {
            *q++ = '\r';
        }

        *q++ = *s;
    }

    *q = '\0';

    return out;
}


static int
ev(int shape, const char *name, const char *data, tokenroute_usage_t *u)
{
    return tokenroute_usage_event(shape, name, name ? strlen(name) : 0, data,
                                  strlen(data), u);
}


static void
test_events(void)
{
    int                 rc;
    char               *big, *p;
    size_t              i, n;
    tokenroute_usage_t  u, zero;

    memset(&zero, 0, sizeof(tokenroute_usage_t));

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "[DONE]", &u);
    ok(rc == TOKENROUTE_EVENT_DONE && usage_equal(&u, &zero),
       "event: [DONE]");

    /* the data is looked at before the event's name */
    rc = ev(TOKENROUTE_SHAPE_OPENAI, "error", "[DONE]", &u);
    ok(rc == TOKENROUTE_EVENT_DONE && usage_equal(&u, &zero),
       "event: [DONE] named error");

    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "not json", &u);
    ok(rc == -1 && usage_equal(&u, &zero), "event: not JSON gives -1");

    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL,
            "{\"usage\":{\"prompt_tokens\":5},\"choices\":[", &u);
    ok(rc == -1 && usage_equal(&u, &zero),
       "event: cut JSON gives -1 and leaves usage alone");

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_delta",
            "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}"
            " x", &u);
    ok(rc == -1 && usage_equal(&u, &zero), "event: trailing garbage is -1");

    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "", &u);
    ok(rc == -1 && usage_equal(&u, &zero), "event: empty data gives -1");

    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "{\"choices\":[],\"usage\":null}",
            &u);
    ok(rc == 0 && usage_equal(&u, &zero),
       "event: choices [] with usage null is not usage-only");

    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL,
            "{\"choices\":[{\"delta\":{\"content\":\"x\"},"
            "\"usage\":{\"prompt_tokens\":5},\"finish_reason\":null}],"
            "\"usage\":null}", &u);
    ok(rc == 0 && u.content_bytes == 1 && !u.seen_input,
       "event: a usage inside choices is not the usage");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    ev(TOKENROUTE_SHAPE_OPENAI, NULL,
       "{\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
       "\"completion_tokens\":4,"
       "\"prompt_tokens_details\":{\"cached_tokens\":3}}}", &u);
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL,
            "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
            "\"completion_tokens\":6}}", &u);
    ok(rc == TOKENROUTE_EVENT_USAGE_ONLY && u.input_tokens == 12
       && u.cached_tokens == 0 && u.output_tokens == 6,
       "event: the last OpenAI usage wins");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, "error",
            "{\"message\":\"upstream went away\"}", &u);
    ok(rc == TOKENROUTE_EVENT_ERROR && u.error,
       "event: an \"error\" event name is an error");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "{\"error\":true}", &u);
    ok(rc == TOKENROUTE_EVENT_ERROR && u.error, "event: error true");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "{\"error\":500}", &u);
    ok(rc == TOKENROUTE_EVENT_ERROR && u.error, "event: error 500");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL,
            "{\"error\":null,\"choices\":[{\"delta\":{},"
            "\"finish_reason\":\"stop\"}]}", &u);
    ok(rc == TOKENROUTE_EVENT_FINAL && !u.error, "event: error null");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL,
            "{\"choices\":[{\"delta\":{\"content\":null,"
            "\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\","
            "\"arguments\":\"{}\"}},{\"index\":1,\"function\":"
            "{\"arguments\":\"[1]\"}}]},\"finish_reason\":\"length\"},"
            "{\"delta\":{\"content\":\"ab\"},\"finish_reason\":null}]}",
            &u);
    ok(rc == TOKENROUTE_EVENT_FINAL && u.content_bytes == 7,
       "event: two tool calls and two choices count 7 bytes (%lld)",
       (long long) u.content_bytes);

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "mystery",
            "{\"type\":\"mystery\",\"usage\":{\"output_tokens\":9},"
            "\"delta\":{\"text\":\"abc\"}}", &u);
    ok(rc == 0 && usage_equal(&u, &zero), "event: unknown types are ignored");

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "ping", "{\"type\": \"ping\"}", &u);
    ok(rc == 0 && usage_equal(&u, &zero), "event: ping is ignored");

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "content_block_delta",
            "{\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":"
            "{\"text\":\"nested\"}}}", &u);
    ok(rc == 0 && u.content_bytes == 0,
       "event: only string deltas count");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_delta",
            "{\"type\":\"message_delta\",\"delta\":{},"
            "\"usage\":{\"output_tokens\":-3}}", &u);
    ok(rc == 0 && u.output_tokens == 0 && !u.seen_output,
       "event: a negative count is ignored");

    /* deeper than TOKENROUTE_USAGE_DEPTH, then usage after it */

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL,
            "{\"x\":[[[[[[[[[[[[{\"usage\":{\"prompt_tokens\":1}}"
            "]]]]]]]]]]]],"
            "\"choices\":[],\"usage\":{\"prompt_tokens\":8,"
            "\"completion_tokens\":2}}", &u);
    ok(rc == TOKENROUTE_EVENT_USAGE_ONLY && u.input_tokens == 8
       && u.output_tokens == 2, "event: deep nesting is skipped");

    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, "[1, {\"usage\": null}]", &u);
    ok(rc == 0, "event: JSON that is not an object has no flags");

    /* hundreds of levels skipped, then the usage read at the top level */

    n = 300;
    big = malloc(2 * n + 256);
    if (big == NULL) {
        exit(2);
    }

    p = big;
    p += sprintf(p, "{\"id\":\"a\\n\",\"x\":");
    memset(p, '[', n);
    p += n;
    memset(p, ']', n);
    p += n;
    sprintf(p, ",\"choices\":[],\"usage\":{\"completion_tokens\":3}}");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, big, &u);
    ok(rc == TOKENROUTE_EVENT_USAGE_ONLY && u.output_tokens == 3,
       "event: %zu nested arrays", n);

    free(big);

    /* a 60000-byte delta of escapes, each counted as the byte it stands for */

    n = 30000;
    big = malloc(n * 2 + 256);
    if (big == NULL) {
        exit(2);
    }

    p = big;
    p += sprintf(p, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");

    for (i = 0; i < n; i++) {
        *p++ = '\\';
        *p++ = (i % 2) ? 'n' : 't';
    }

    sprintf(p, "\"},\"finish_reason\":null}],\"usage\":null}");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, big, &u);
    ok(rc == 0 && u.content_bytes == (int64_t) n,
       "event: a %zu-byte delta counts %lld", n, (long long) u.content_bytes);

    free(big);
}


static void
test_cost(void)
{
    tokenroute_usage_t  u;

    memset(&u, 0, sizeof(tokenroute_usage_t));
    ok(cost_at(&u, SONNET_IN, SONNET_CACHED, SONNET_OUT) == 0,
       "cost: no tokens cost nothing");

    u.input_tokens = 1;
    ok(cost_at(&u, 1, 0, 0) == 1,
       "cost: a millionth of a nano-USD rounds up to 1");

    u.input_tokens = 1;
    u.cached_tokens = 1;
    u.cache_write_tokens = 1;
    u.output_tokens = 1;
    ok(cost_at(&u, 1, 1, 1) == 4,
       "cost: each part rounds up on its own");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.cache_write_tokens = 1000000;
    ok(cost_at(&u, SONNET_IN, 0, 0) == 3750000000LL,
       "cost: a million cache writes at $3 cost $3.75");

    ok(cost_at(&u, 1, 0, 0) == 2,
       "cost: 1.25 nano-USD of cache writes rounds up to 2");

    u.cache_write_tokens = 800000;
    ok(cost_at(&u, 1, 0, 0) == 1,
       "cost: cache writes round once, not per step (0.8 * 1.25 = 1)");

    u.cache_write_tokens = 3;
    ok(cost_at(&u, 1000001, 0, 0) == 4,
       "cost: 3 cache writes at 1000001 cost 3.75000375, so 4");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = 1000;
    u.cached_tokens = 1000;
    u.output_tokens = 1000;
    ok(cost_at(&u, SONNET_IN, SONNET_CACHED, SONNET_OUT)
       == 3000000 + 300000 + 15000000,
       "cost: input, cached and output at their own prices");

    ok(cost_at(&u, -1, 0, 0) == -1,
       "cost: a negative price is an error");

    u.output_tokens = -1;
    ok(cost_at(&u, 1, 1, 1) == -1,
       "cost: a negative count is an error");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.output_tokens = INT64_MAX / 2;
    u.input_tokens = INT64_MAX / 2;
    ok(cost_at(&u, SONNET_IN, 0, SONNET_OUT) == INT64_MAX,
       "cost: saturates at INT64_MAX");

    u.input_tokens = 0;
    u.output_tokens = 0;
    u.cache_write_tokens = INT64_MAX / 4;
    ok(cost_at(&u, 1, 0, 0) == INT64_MAX,
       "cost: saturates on huge cache writes");

    ok(cost_at(&u, 0, 0, 0) == 0,
       "cost: free cache writes cost nothing however many");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    ok(tokenroute_usage_estimate_output(&u) == 0, "estimate: 0 bytes, 0");

    u.content_bytes = 1;
    ok(tokenroute_usage_estimate_output(&u) == 1, "estimate: 1 byte, 1");

    u.content_bytes = 4;
    ok(tokenroute_usage_estimate_output(&u) == 1, "estimate: 4 bytes, 1");

    u.content_bytes = 5;
    ok(tokenroute_usage_estimate_output(&u) == 2, "estimate: 5 bytes, 2");

    u.content_bytes = INT64_MAX;
    ok(tokenroute_usage_estimate_output(&u) == INT64_MAX / 4 + 1,
       "estimate: no overflow");
}



/*
 * A stream's content chunks measured against the envelope learned from
 * the first: the same answers as reading each chunk, and the envelope is
 * used only where the chunk is the same bytes around a plain text.
 */

#define SHAPE_HEAD                                                            \
    "{\"id\":\"chatcmpl-S1\",\"object\":\"chat.completion.chunk\","          \
    "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"               \
    "\"delta\":{\"content\":\""
#define SHAPE_TAIL                                                            \
    "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"

static void
test_shape(void)
{
    int                 i, rc;
    tokenroute_usage_t  u, r;

    static const struct {
        const char  *data;
        int          flags;
        int64_t      bytes;     /* content bytes this event adds */
    } evs[] = {
        /* the role comes in the first chunk only */
        { "{\"id\":\"chatcmpl-S1\",\"object\":\"chat.completion.chunk\","
          "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
          "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}", 0, 0 },
        { SHAPE_HEAD "Hello" SHAPE_TAIL, 0, 5 },
        { SHAPE_HEAD " wor" SHAPE_TAIL, 0, 4 },
        { SHAPE_HEAD "" SHAPE_TAIL, 0, 0 },
        /* an escape: read, and counted as the reader counts it */
        { SHAPE_HEAD "a\\\"b" SHAPE_TAIL, 0, -1 },
        /* a text that would fool a match that did not check for quotes
         * (not JSON: it must be read, and refused) */
        { SHAPE_HEAD "x\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
          "\"usage\":null,\"y\":\"" SHAPE_TAIL, -1, 0 },
        /* another envelope (a second choice index): read */
        { "{\"id\":\"chatcmpl-S1\",\"object\":\"chat.completion.chunk\","
          "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":1,"
          "\"delta\":{\"content\":\"zz\"},\"logprobs\":null,"
          "\"finish_reason\":null}],\"usage\":null}", 0, 2 },
        /* a control byte in the text: not JSON, not measured */
        { SHAPE_HEAD "a\001b" SHAPE_TAIL, -1, 0 },
        { SHAPE_HEAD "!" "\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
          "\"usage\":null}", TOKENROUTE_EVENT_FINAL, 1 },
        { "{\"id\":\"chatcmpl-S1\",\"object\":\"chat.completion.chunk\","
          "\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":"
          "{\"prompt_tokens\":7,\"completion_tokens\":3}}",
          TOKENROUTE_EVENT_USAGE_ONLY, 0 },
    };

    memset(&u, 0, sizeof(tokenroute_usage_t));

    for (i = 0; i < (int) (sizeof(evs) / sizeof(evs[0])); i++) {

        /* what reading this event alone gives */
        memset(&r, 0, sizeof(tokenroute_usage_t));
        rc = ev(TOKENROUTE_SHAPE_OPENAI, NULL, evs[i].data, &r);
        ok(rc == evs[i].flags, "shape %d: reading alone gives flags %d (%d)",
           i, evs[i].flags, rc);

        if (evs[i].bytes >= 0) {
            ok(r.content_bytes == evs[i].bytes,
               "shape %d: reading alone counts %lld bytes (%lld)", i,
               (long long) evs[i].bytes, (long long) r.content_bytes);
        }

        r.content_bytes = u.content_bytes + r.content_bytes;

        ok(ev(TOKENROUTE_SHAPE_OPENAI, NULL, evs[i].data, &u) == evs[i].flags,
           "shape %d: in the stream, the same flags", i);
        ok(u.content_bytes == r.content_bytes,
           "shape %d: in the stream, the same bytes", i);

        if (i == 1) {
            ok(u.shape.head_len == sizeof(SHAPE_HEAD) - 1
               && u.shape.tail_len == sizeof(SHAPE_TAIL) - 1,
               "shape: learned again from the first chunk without a role");
        }

    }

    /*
     * White box: an envelope forged around a "role" (never learned, as a
     * role is no content) is believed, where reading counts nothing; so
     * the envelope is what measures a matching chunk.
     */

#define SHAPE_ROLE_HEAD                                                       \
    "{\"id\":\"chatcmpl-S1\",\"object\":\"chat.completion.chunk\","          \
    "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"               \
    "\"delta\":{\"role\":\""

    memset(&r, 0, sizeof(tokenroute_usage_t));
    ok(ev(TOKENROUTE_SHAPE_OPENAI, NULL, SHAPE_ROLE_HEAD "xyz" SHAPE_TAIL, &r)
       == 0 && r.content_bytes == 0 && r.shape.head_len == 0,
       "shape: a role is no content, and teaches nothing");

    memcpy(r.shape.head, SHAPE_ROLE_HEAD, sizeof(SHAPE_ROLE_HEAD) - 1);
    r.shape.head_len = sizeof(SHAPE_ROLE_HEAD) - 1;
    memcpy(r.shape.tail, SHAPE_TAIL, sizeof(SHAPE_TAIL) - 1);
    r.shape.tail_len = sizeof(SHAPE_TAIL) - 1;

    ok(ev(TOKENROUTE_SHAPE_OPENAI, NULL, SHAPE_ROLE_HEAD "xyz" SHAPE_TAIL, &r)
       == 0 && r.content_bytes == 3,
       "shape: a chunk matching the envelope is measured by it");
    ok(ev(TOKENROUTE_SHAPE_OPENAI, NULL, SHAPE_ROLE_HEAD "x\\ty" SHAPE_TAIL, &r)
       == 0 && r.content_bytes == 3,
       "shape: but not one whose text has an escape");

    ok(u.seen_input && u.input_tokens == 7 && u.output_tokens == 3,
       "shape: the usage chunk still read");
}


/* the charge never exceeds the reservation's bounds, nothing overflows */

static void
test_clamp(void)
{
    int                 rc;
    int64_t             big;
    tokenroute_usage_t  u;

    big = 8000000000000000000LL;

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = 10;
    u.output_tokens = 20;
    rc = tokenroute_usage_clamp(&u, 100, 20);
    ok(rc == 0 && u.input_tokens == 10 && u.output_tokens == 20,
       "clamp: within bounds, unchanged");

    u.output_tokens = 1000000000000LL;
    rc = tokenroute_usage_clamp(&u, 100, 20);
    ok(rc == 1 && u.output_tokens == 20 && u.input_tokens == 10,
       "clamp: 10^12 output tokens on a cap of 20 become 20");

    ok(cost_at(&u, 0, 0, 1000000000000LL) == 20000000,
       "clamp: then cost 20 tokens at $1000/Mtok, 20000000 nano-USD");

    /* uncached first, then cache writes, then cache reads */
    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = 60;
    u.cache_write_tokens = 30;
    u.cached_tokens = 30;
    rc = tokenroute_usage_clamp(&u, 100, 5);
    ok(rc == 1 && u.input_tokens == 60 && u.cache_write_tokens == 30
       && u.cached_tokens == 10, "clamp: input 120 to 100, cache reads cut");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = big;
    u.cached_tokens = big;
    u.cache_write_tokens = big;
    u.output_tokens = big;

    ok(tokenroute_usage_input(&u) == INT64_MAX,
       "input: 3 x 8e18 saturates at INT64_MAX, no overflow");

    rc = tokenroute_usage_clamp(&u, 87, 20);
    ok(rc == 1 && u.input_tokens == 87 && u.cache_write_tokens == 0
       && u.cached_tokens == 0 && u.output_tokens == 20,
       "clamp: fields of 8e18 summing past 2^63 become 87 and 20");
    ok(tokenroute_usage_input(&u) == 87, "input: then 87");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = INT64_MAX;
    u.cached_tokens = INT64_MAX;
    u.cache_write_tokens = INT64_MAX;
    u.output_tokens = INT64_MAX;
    rc = tokenroute_usage_clamp(&u, INT64_MAX, INT64_MAX);
    ok(rc == 1 && u.input_tokens == INT64_MAX && u.cache_write_tokens == 0
       && u.cached_tokens == 0 && u.output_tokens == INT64_MAX,
       "clamp: INT64_MAX bounds hold INT64_MAX fields without overflow");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = -5;
    u.output_tokens = -1;
    rc = tokenroute_usage_clamp(&u, 10, 10);
    ok(rc == 1 && u.input_tokens == 0 && u.output_tokens == 0,
       "clamp: negative counts become 0");

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = 3;
    u.output_tokens = 3;
    rc = tokenroute_usage_clamp(&u, -1, -1);
    ok(rc == 1 && u.input_tokens == 0 && u.output_tokens == 0,
       "clamp: negative bounds are 0");
}


static int64_t
cost_at(const tokenroute_usage_t *u, int64_t in, int64_t cached, int64_t out)
{
    tokenroute_prices_t  p;

    p.input = in;
    p.cached = cached;
    p.cache_write = -1;
    p.cache_write_1h = -1;
    p.output = out;

    return tokenroute_usage_cost(u, &p);
}


/* events one at a time: the split kept across message_start and _delta */

static void
test_cache_writes(void)
{
    int                  rc;
    tokenroute_usage_t   u;
    tokenroute_prices_t  p;

    memset(&u, 0, sizeof(tokenroute_usage_t));

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_start",
            "{\"type\":\"message_start\",\"message\":{\"usage\":"
            "{\"input_tokens\":5,\"cache_creation_input_tokens\":90,"
            "\"cache_creation\":{\"ephemeral_5m_input_tokens\":30,"
            "\"ephemeral_1h_input_tokens\":60}}}}", &u);
    ok(rc == 0 && u.cache_write_tokens == 90 && u.cache_write_1h_tokens == 60,
       "writes: message_start's split, 90 of which 60 for an hour");

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_delta",
            "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3,"
            "\"cache_creation_input_tokens\":90}}", &u);
    ok(rc == 0 && u.cache_write_tokens == 90 && u.cache_write_1h_tokens == 60,
       "writes: a message_delta without the split keeps it");

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_delta",
            "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3,"
            "\"cache_creation\":{\"ephemeral_5m_input_tokens\":10,"
            "\"ephemeral_1h_input_tokens\":20}}}", &u);
    ok(rc == 0 && u.cache_write_tokens == 90 && u.cache_write_1h_tokens == 60,
       "writes: a stale split in message_delta lowers nothing");

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_delta",
            "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3,"
            "\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
            "\"ephemeral_1h_input_tokens\":100}}}", &u);
    ok(rc == 0 && u.cache_write_tokens == 100
       && u.cache_write_1h_tokens == 100,
       "writes: a larger split in message_delta wins, total included");

    memset(&u, 0, sizeof(tokenroute_usage_t));

    rc = ev(TOKENROUTE_SHAPE_ANTHROPIC, "message_start",
            "{\"type\":\"message_start\",\"message\":{\"usage\":"
            "{\"cache_creation\":{\"ephemeral_5m_input_tokens\":"
            "9223372036854775807,\"ephemeral_1h_input_tokens\":"
            "9223372036854775807}}}}", &u);
    ok(rc == 0 && u.cache_write_tokens == INT64_MAX
       && u.cache_write_1h_tokens == INT64_MAX,
       "writes: a split summing past 2^63 saturates, no overflow");

    /* cost: the 5-minute writes are the total less the 1-hour ones */

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.cache_write_tokens = 1000000;
    u.cache_write_1h_tokens = 1000000;
    ok(cost_at(&u, SONNET_IN, 0, 0) == 6000000000LL,
       "cost: a million 1-hour writes at $3 cost $6");

    u.cache_write_1h_tokens = 250000;
    ok(cost_at(&u, SONNET_IN, 0, 0) == 750000LL * 3750 + 250000LL * 6000,
       "cost: 750000 5-minute and 250000 1-hour writes");

    u.cache_write_1h_tokens = 1;
    ok(cost_at(&u, 1, 0, 0) == 2 + 1,
       "cost: each kind of write rounds up on its own");

    p.input = SONNET_IN;
    p.cached = 0;
    p.cache_write = 1000000000LL;
    p.cache_write_1h = -1;
    p.output = 0;
    u.cache_write_1h_tokens = 250000;
    ok(tokenroute_usage_cost(&u, &p) == 750000LL * 1000 + 250000LL * 6000,
       "cost: cache_write_price prices the 5-minute writes only");

    p.cache_write = -1;
    p.cache_write_1h = 0;
    ok(tokenroute_usage_cost(&u, &p) == 750000LL * 3750,
       "cost: a free 1-hour write price, the 5-minute ones at 1.25 x");

    p.cache_write = 0;
    ok(tokenroute_usage_cost(&u, &p) == 0, "cost: free writes cost nothing");

    u.cache_write_1h_tokens = 2000000;
    p.cache_write = -1;
    p.cache_write_1h = -1;
    ok(tokenroute_usage_cost(&u, &p) == 12000000000LL,
       "cost: more 1-hour writes than writes (never read so): those");

    u.cache_write_1h_tokens = -1;
    ok(tokenroute_usage_cost(&u, &p) == -1,
       "cost: a negative 1-hour count is an error");

    u.cache_write_1h_tokens = INT64_MAX / 2 + 1;
    u.cache_write_tokens = INT64_MAX;
    ok(tokenroute_usage_cost(&u, &p) == INT64_MAX,
       "cost: saturates on huge 1-hour writes");

    p.cache_write = -2;
    u.cache_write_1h_tokens = 0;
    u.cache_write_tokens = 1;
    ok(tokenroute_usage_cost(&u, &p) == -1,
       "cost: a write price below -1 is an error");

    /* clamped: the 1-hour writes never above the writes */

    memset(&u, 0, sizeof(tokenroute_usage_t));
    u.input_tokens = 30;
    u.cache_write_tokens = 100;
    u.cache_write_1h_tokens = 20;
    rc = tokenroute_usage_clamp(&u, 60, 5);
    ok(rc == 1 && u.input_tokens == 30 && u.cache_write_tokens == 30
       && u.cache_write_1h_tokens == 20,
       "clamp: writes 100 to 30, the 20 1-hour ones kept");

    u.cache_write_tokens = 100;
    u.cache_write_1h_tokens = 80;
    rc = tokenroute_usage_clamp(&u, 60, 5);
    ok(rc == 1 && u.cache_write_tokens == 30 && u.cache_write_1h_tokens == 30,
       "clamp: writes 100 to 30, the 1-hour ones too");

    u.cache_write_tokens = 10;
    u.cache_write_1h_tokens = 10;
    rc = tokenroute_usage_clamp(&u, 60, 5);
    ok(rc == 0 && u.cache_write_tokens == 10 && u.cache_write_1h_tokens == 10,
       "clamp: within bounds, unchanged");

    u.cache_write_1h_tokens = -3;
    rc = tokenroute_usage_clamp(&u, 60, 5);
    ok(rc == 1 && u.cache_write_1h_tokens == 0,
       "clamp: a negative 1-hour count becomes 0");
}


/* the price the reservation puts on each input token */

static void
test_price_max(void)
{
    tokenroute_prices_t  p;

    p.input = SONNET_IN;
    p.cached = SONNET_CACHED;
    p.cache_write = -1;
    p.cache_write_1h = -1;
    p.output = SONNET_OUT;

    ok(tokenroute_usage_input_price_max(&p, 1) == 6000000000LL,
       "price max: with cache writes, the 1-hour rate, 2 x input");
    ok(tokenroute_usage_input_price_max(&p, 0) == SONNET_IN,
       "price max: without, the input price");

    p.input = 1;
    p.cached = 0;
    ok(tokenroute_usage_input_price_max(&p, 1) == 2,
       "price max: 1.25 and 2 x 1 nano-USD: 2");

    p.input = 3;
    p.cached = 9;
    ok(tokenroute_usage_input_price_max(&p, 1) == 9
       && tokenroute_usage_input_price_max(&p, 0) == 9,
       "price max: a cache read dearer than the rest");

    p.cached = 0;
    p.cache_write = 10000000000LL;
    ok(tokenroute_usage_input_price_max(&p, 1) == 10000000000LL
       && tokenroute_usage_input_price_max(&p, 0) == 3,
       "price max: a configured 5-minute write price above 2 x input");

    p.cache_write = 5;
    p.cache_write_1h = 4;
    ok(tokenroute_usage_input_price_max(&p, 1) == 5,
       "price max: configured write prices, the dearer");

    p.cache_write = 1;
    p.cache_write_1h = 1;
    ok(tokenroute_usage_input_price_max(&p, 1) == 3,
       "price max: writes configured below the input price: the input");

    p.input = INT64_MAX / 2 + 1;
    p.cache_write = -1;
    p.cache_write_1h = -1;
    ok(tokenroute_usage_input_price_max(&p, 1) == INT64_MAX,
       "price max: 2 x input saturates, no overflow");

    p.input = INT64_MAX;
    ok(tokenroute_usage_input_price_max(&p, 1) == INT64_MAX,
       "price max: 1.25 x INT64_MAX saturates");
}


/*
 * White box: the splitter's line hook (tokenroute_usage_line()) and the
 * envelope's first members (shape.pre_len), on chunks of SHAPE_HEAD.
 */

static void
test_line(void)
{
    size_t              n;
    const char         *p, *lf;
    tokenroute_usage_t  u;

    static const char  chunk[] = SHAPE_HEAD "Hi" SHAPE_TAIL;
    static const char  line[] = SHAPE_HEAD "Hey" SHAPE_TAIL "\n\n";
    static const char  cr[] = SHAPE_HEAD "Hey" SHAPE_TAIL "\r\n";
    static const char  esc[] = SHAPE_HEAD "H\\ty" SHAPE_TAIL "\n";
    static const char  empty[] = "\n\ndata: " SHAPE_HEAD "Hey" SHAPE_TAIL "\n";

    memset(&u, 0, sizeof(tokenroute_usage_t));

    ok(tokenroute_usage_line(&u, line, line + sizeof(line) - 1) == NULL
       && u.line == NULL, "line: nothing learned, nothing found");

    ok(ev(TOKENROUTE_SHAPE_OPENAI, NULL, chunk, &u) == 0
       && u.shape.head_len == sizeof(SHAPE_HEAD) - 1,
       "line: the envelope learned");

    /* "{" and id, object, created, model: all before "choices" */
    p = strstr(SHAPE_HEAD, "\"choices\"");
    ok(p != NULL && u.shape.pre_len == (size_t) (p - SHAPE_HEAD),
       "line: the first members are known (%u bytes)",
       (unsigned) u.shape.pre_len);

    n = sizeof(SHAPE_HEAD) - 1 + 3 + sizeof(SHAPE_TAIL) - 1;

    lf = tokenroute_usage_line(&u, line, line + sizeof(line) - 1);
    ok(lf == line + n && u.line == line && u.line_len == n && u.line_n == 3,
       "line: a content chunk's LF found, its text measured");

    lf = tokenroute_usage_line(&u, line, line + n);
    /* the head matched: noted, for the event not to compare it again */
    ok(lf == NULL && u.line == line && u.line_len == SIZE_MAX,
       "line: not without its LF in the piece");

    lf = tokenroute_usage_line(&u, cr, cr + sizeof(cr) - 1);
    ok(lf == NULL && u.line == cr && u.line_len == SIZE_MAX,
       "line: not before a CR");

    lf = tokenroute_usage_line(&u, esc, esc + sizeof(esc) - 1);
    ok(lf == NULL && u.line == esc && u.line_n == 2,
       "line: not with an escape in the text, noted");

    u.content_bytes = 0;

    ok(tokenroute_usage_event(TOKENROUTE_SHAPE_OPENAI, NULL, 0, esc,
                              sizeof(esc) - 2, &u)
       == 0 && u.content_bytes == 3 && u.line == NULL,
       "line: the escaped text read by the skimmer, decoded");

    /* "data: \n\n" then the next event: the hook looks at the LF */
    lf = tokenroute_usage_line(&u, empty, empty + sizeof(empty) - 1);

    ok(lf == NULL
       && tokenroute_usage_event(TOKENROUTE_SHAPE_OPENAI, NULL, 0, empty, 0,
                                 &u)
          == -1,
       "line: empty data is not JSON, hook or not");

    u.content_bytes = 0;
    lf = tokenroute_usage_line(&u, line, line + sizeof(line) - 1);

    ok(tokenroute_usage_event(TOKENROUTE_SHAPE_OPENAI, "error", 5, line, n,
                              &u)
       == (TOKENROUTE_EVENT_ERROR) && u.line == NULL && u.error,
       "line: an error event's data is read the long way");

    u.content_bytes = 0;
    lf = tokenroute_usage_line(&u, line, line + sizeof(line) - 1);

    ok(tokenroute_usage_event(TOKENROUTE_SHAPE_OPENAI, NULL, 0, line, n - 1,
                              &u)
       == -1 && u.line == NULL,
       "line: other data (shorter) is read, not taken for the line");

    lf = tokenroute_usage_line(&u, line, line + sizeof(line) - 1);

    ok(tokenroute_usage_event(TOKENROUTE_SHAPE_OPENAI, NULL, 0, line, n, &u)
       == 0 && u.content_bytes == 3 && u.line == NULL,
       "line: the line's event counted once, by what the hook found");
}
