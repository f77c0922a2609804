
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the response translators
 * (src/tokenroute_translate_response.c): non-streamed bodies both ways,
 * error bodies, and streams both ways.  JSON is compared semantically
 * (key order and "created" values ignored).  Every stream is fed whole,
 * split in two at every offset and one byte at a time, must give the same
 * bytes each way, and is parsed back into events and compared with the
 * expected ones.  Fixtures write JSON quotes as backquotes.  Prints TAP.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_tree.h>

#include <tokenroute_sse.h>
#include <tokenroute_translate_response.h>

#include "tap.h"


#define OA  TOKENROUTE_SHAPE_OPENAI
#define AN  TOKENROUTE_SHAPE_ANTHROPIC

#define MODEL  "pub/model-1"


typedef struct {
    const char  *name;
    int          from;
    int          to;
    const char  *model;
    int          rc;
    const char  *body;
    const char  *expect;
} resp_case_t;


typedef struct {
    const char  *name;
    int          from;
    int          to;
    int          status;
    const char  *body;
    const char  *expect;
} error_case_t;


typedef struct {
    const char  *name;
    int          from;
    int          to;
    int          include_usage;
    int          complete;
    const char  *input;
    const char  *expect;
} stream_case_t;


typedef struct {
    char        *p;
    size_t       len;
    size_t       size;
    int          calls;
    int          fail_at;
    int          discard;
} sink_t;


typedef struct {
    char        *event;
    char        *data;
} sse_event_t;


typedef struct {
    sse_event_t  *ev;
    int           n;
    int           size;
} event_list_t;


static char *q(const char *s);
static int json_same(const char *got, size_t got_len, const char *expect,
    char *why, size_t why_len);
static int json_equal(yajl_val a, yajl_val b, char *why, size_t why_len);
static int sink_emit(void *ctx, const char *p, size_t len);
static void normalize_created(sink_t *s);
static int run_stream(const stream_case_t *c, const char *in, size_t len,
    size_t cut, int bytewise, sink_t *out);
static int events_parse(const char *p, size_t len, event_list_t *l);
static void events_free(event_list_t *l);
static int events_same(const char *got, size_t got_len, const char *expect,
    char *why, size_t why_len);
static int framing_ok(const char *p, size_t len, int to, char *why,
    size_t why_len);
static void test_resp(const resp_case_t *c);
static void test_created(void);
static void test_deep(void);
static void test_error(const error_case_t *c);
static void test_stream(const stream_case_t *c);
static void test_incremental(void);
static void test_stream_error(void);
static void test_abort(void);
static void test_too_large(void);
static void test_no_malloc(void);
static void test_escape(void);
static void test_tap(void);
static int tap_event(void *ctx, const char *event, size_t event_len,
    const char *data, size_t len, int truncated);




/* non-streamed bodies */

static resp_case_t  resp_cases[] = {

    { "anthropic text to openai", AN, OA, MODEL, 0,
      "{`id`:`msg_01XFD`,`type`:`message`,`role`:`assistant`,"
      "`model`:`claude-sonnet-4-5`,`content`:["
      "{`type`:`thinking`,`thinking`:`hmm`,`signature`:`x`},"
      "{`type`:`text`,`text`:`Hello`},"
      "{`type`:`text`,`text`:`, \\`world\\`\\n`}],"
      "`stop_reason`:`end_turn`,`stop_sequence`:null,"
      "`usage`:{`input_tokens`:10,`cache_creation_input_tokens`:2,"
      "`cache_read_input_tokens`:5,`output_tokens`:7}}",
      "{`id`:`chatcmpl-01XFD`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:`Hello, \\`world\\`\\n`,`refusal`:null},"
      "`logprobs`:null,`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:17,"
      "`completion_tokens`:7,`total_tokens`:24,"
      "`prompt_tokens_details`:{`cached_tokens`:5}}}" },

    /* the writes split by lifetime: prompt_tokens count them all */
    { "anthropic 1-hour cache writes to openai", AN, OA, MODEL, 0,
      "{`id`:`msg_01TTL`,`type`:`message`,`role`:`assistant`,"
      "`content`:[{`type`:`text`,`text`:`Hi`}],`stop_reason`:`end_turn`,"
      "`usage`:{`input_tokens`:10,`cache_creation_input_tokens`:20,"
      "`cache_creation`:{`ephemeral_5m_input_tokens`:20,"
      "`ephemeral_1h_input_tokens`:30},"
      "`cache_read_input_tokens`:5,`output_tokens`:7}}",
      "{`id`:`chatcmpl-01TTL`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:`Hi`,`refusal`:null},"
      "`logprobs`:null,`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:65,"
      "`completion_tokens`:7,`total_tokens`:72,"
      "`prompt_tokens_details`:{`cached_tokens`:5}}}" },

    { "anthropic tool_use to openai", AN, OA, MODEL, 0,
      "{`id`:`msg_2`,`type`:`message`,`role`:`assistant`,`content`:["
      "{`type`:`text`,`text`:`Let me check.`},"
      "{`type`:`tool_use`,`id`:`toolu_1`,`name`:`get_weather`,"
      "`input`:{`city`:`Par\\`is`,`units`:[`c`,1.5e2,true,false,null],"
      "`nested`:{`a`:{}},`e`:[]}},"
      "{`type`:`tool_use`,`id`:`toolu_2`,`name`:`noop`,`input`:{}}],"
      "`stop_reason`:`tool_use`,"
      "`usage`:{`input_tokens`:100,`output_tokens`:30}}",
      "{`id`:`chatcmpl-2`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:`Let me check.`,`tool_calls`:["
      "{`id`:`toolu_1`,`type`:`function`,`function`:{`name`:`get_weather`,"
      "`arguments`:`{\\`city\\`:\\`Par\\\\\\`is\\`,\\`units\\`:[\\`c\\`,1.5e2,"
      "true,false,null],\\`nested\\`:{\\`a\\`:{}},\\`e\\`:[]}`}},"
      "{`id`:`toolu_2`,`type`:`function`,`function`:{`name`:`noop`,"
      "`arguments`:`{}`}}],`refusal`:null},`logprobs`:null,"
      "`finish_reason`:`tool_calls`}],`usage`:{`prompt_tokens`:100,"
      "`completion_tokens`:30,`total_tokens`:130,"
      "`prompt_tokens_details`:{`cached_tokens`:0}}}" },

    { "anthropic tool_use only, no id prefix, max_tokens", AN, OA, MODEL, 0,
      "{`id`:`abc`,`content`:[{`type`:`tool_use`,`id`:`t`,`name`:`n`,"
      "`input`:{`x`:1}}],`stop_reason`:`max_tokens`,`usage`:{}}",
      "{`id`:`chatcmpl-abc`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:null,`tool_calls`:[{`id`:`t`,"
      "`type`:`function`,`function`:{`name`:`n`,`arguments`:`{\\`x\\`:1}`}}],"
      "`refusal`:null},`logprobs`:null,`finish_reason`:`length`}],"
      "`usage`:{`prompt_tokens`:0,`completion_tokens`:0,`total_tokens`:0,"
      "`prompt_tokens_details`:{`cached_tokens`:0}}}" },

    { "anthropic refusal, provider model kept", AN, OA, "", 0,
      "{`id`:`msg_r`,`type`:`message`,`model`:`claude-x`,`content`:[],"
      "`stop_reason`:`refusal`,`usage`:{`input_tokens`:3,"
      "`output_tokens`:0}}",
      "{`id`:`chatcmpl-r`,`object`:`chat.completion`,`created`:0,"
      "`model`:`claude-x`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:null,`refusal`:null},`logprobs`:null,"
      "`finish_reason`:`content_filter`}],`usage`:{`prompt_tokens`:3,"
      "`completion_tokens`:0,`total_tokens`:3,"
      "`prompt_tokens_details`:{`cached_tokens`:0}}}" },

    { "anthropic stop_sequence, pause_turn, unknown map to stop", AN, OA,
      MODEL, 0,
      "{`id`:`msg_s`,`content`:[{`type`:`text`,`text`:``}],"
      "`stop_reason`:`stop_sequence`}",
      "{`id`:`chatcmpl-s`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:``,`refusal`:null},`logprobs`:null,"
      "`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:0,"
      "`completion_tokens`:0,`total_tokens`:0,"
      "`prompt_tokens_details`:{`cached_tokens`:0}}}" },

    { "anthropic pause_turn", AN, OA, MODEL, 0,
      "{`id`:`msg_p`,`content`:[],`stop_reason`:`pause_turn`}",
      "{`id`:`chatcmpl-p`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:null,`refusal`:null},`logprobs`:null,"
      "`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:0,"
      "`completion_tokens`:0,`total_tokens`:0,"
      "`prompt_tokens_details`:{`cached_tokens`:0}}}" },

    { "anthropic unknown stop_reason", AN, OA, MODEL, 0,
      "{`id`:`msg_u`,`content`:[],`stop_reason`:`brand_new`}",
      "{`id`:`chatcmpl-u`,`object`:`chat.completion`,`created`:0,"
      "`model`:`pub/model-1`,`choices`:[{`index`:0,`message`:{"
      "`role`:`assistant`,`content`:null,`refusal`:null},`logprobs`:null,"
      "`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:0,"
      "`completion_tokens`:0,`total_tokens`:0,"
      "`prompt_tokens_details`:{`cached_tokens`:0}}}" },

    { "anthropic: not JSON", AN, OA, MODEL, -1, "<html>oops</html>", NULL },
    { "anthropic: truncated JSON", AN, OA, MODEL, -1,
      "{`id`:`msg_1`,`content`:[", NULL },
    { "anthropic: an array", AN, OA, MODEL, -1, "[]", NULL },
    { "anthropic: an error body", AN, OA, MODEL, -1,
      "{`type`:`error`,`error`:{`type`:`api_error`,`message`:`x`}}", NULL },
    { "anthropic: no content", AN, OA, MODEL, -1,
      "{`id`:`msg_1`,`type`:`message`}", NULL },
    { "anthropic: empty body", AN, OA, MODEL, -1, "", NULL },
    { "same shape is not translated", AN, AN, MODEL, -1,
      "{`id`:`msg_1`,`content`:[]}", NULL },

    { "openai text to anthropic", OA, AN, MODEL, 0,
      "{`id`:`chatcmpl-abc`,`object`:`chat.completion`,`created`:1700000000,"
      "`model`:`gpt-4o`,`system_fingerprint`:`fp_1`,`choices`:[{`index`:0,"
      "`message`:{`role`:`assistant`,`content`:`Hi \\u00e9 there`,"
      "`refusal`:null},`logprobs`:null,`finish_reason`:`stop`}],"
      "`usage`:{`prompt_tokens`:20,`completion_tokens`:5,`total_tokens`:25,"
      "`prompt_tokens_details`:{`cached_tokens`:8},"
      "`completion_tokens_details`:{`reasoning_tokens`:0}}}",
      "{`id`:`msg_chatcmpl-abc`,`type`:`message`,`role`:`assistant`,"
      "`model`:`pub/model-1`,`content`:[{`type`:`text`,"
      "`text`:`Hi \\u00e9 there`}],`stop_reason`:`end_turn`,"
      "`stop_sequence`:null,`usage`:{`input_tokens`:12,`output_tokens`:5,"
      "`cache_read_input_tokens`:8,`cache_creation_input_tokens`:0}}" },

    { "openai tool_calls to anthropic", OA, AN, MODEL, 0,
      "{`id`:`c1`,`choices`:[{`index`:0,`message`:{`role`:`assistant`,"
      "`content`:null,`tool_calls`:["
      "{`id`:`call_1`,`type`:`function`,`function`:{`name`:`f1`,"
      "`arguments`:`{\\`a\\`: [1, 2.50, {\\`b\\`: null}]}`}},"
      "{`id`:`call_2`,`type`:`function`,`function`:{`name`:`f2`,"
      "`arguments`:`{not json`}},"
      "{`id`:`call_3`,`type`:`function`,`function`:{`name`:`f3`,"
      "`arguments`:`[1]`}},"
      "{`type`:`function`,`function`:{`name`:`f4`}}]},"
      "`finish_reason`:`tool_calls`}],`usage`:{`prompt_tokens`:7,"
      "`completion_tokens`:9}}",
      "{`id`:`msg_c1`,`type`:`message`,`role`:`assistant`,"
      "`model`:`pub/model-1`,`content`:["
      "{`type`:`tool_use`,`id`:`call_1`,`name`:`f1`,"
      "`input`:{`a`:[1,2.50,{`b`:null}]}},"
      "{`type`:`tool_use`,`id`:`call_2`,`name`:`f2`,`input`:{}},"
      "{`type`:`tool_use`,`id`:`call_3`,`name`:`f3`,`input`:{}},"
      "{`type`:`tool_use`,`id`:`toolu_tr_3`,`name`:`f4`,`input`:{}}],"
      "`stop_reason`:`tool_use`,`stop_sequence`:null,`usage`:{"
      "`input_tokens`:7,`output_tokens`:9,`cache_read_input_tokens`:0,"
      "`cache_creation_input_tokens`:0}}" },

    { "openai text and a tool call, length", OA, AN, MODEL, 0,
      "{`id`:`c2`,`choices`:[{`index`:0,`message`:{`content`:`Sure.`,"
      "`tool_calls`:[{`id`:`call_9`,`function`:{`name`:`g`,"
      "`arguments`:`{}`}}]},`finish_reason`:`length`}]}",
      "{`id`:`msg_c2`,`type`:`message`,`role`:`assistant`,"
      "`model`:`pub/model-1`,`content`:[{`type`:`text`,`text`:`Sure.`},"
      "{`type`:`tool_use`,`id`:`call_9`,`name`:`g`,`input`:{}}],"
      "`stop_reason`:`max_tokens`,`stop_sequence`:null,`usage`:{"
      "`input_tokens`:0,`output_tokens`:0,`cache_read_input_tokens`:0,"
      "`cache_creation_input_tokens`:0}}" },

    { "openai content_filter, empty content", OA, AN, MODEL, 0,
      "{`id`:`c3`,`choices`:[{`index`:0,`message`:{`content`:``},"
      "`finish_reason`:`content_filter`}]}",
      "{`id`:`msg_c3`,`type`:`message`,`role`:`assistant`,"
      "`model`:`pub/model-1`,`content`:[],`stop_reason`:`refusal`,"
      "`stop_sequence`:null,`usage`:{`input_tokens`:0,`output_tokens`:0,"
      "`cache_read_input_tokens`:0,`cache_creation_input_tokens`:0}}" },

    { "openai refusal text, legacy function_call", OA, AN, MODEL, 0,
      "{`id`:`c4`,`choices`:[{`index`:1,`message`:{`content`:`no`}},"
      "{`index`:0,`message`:{`content`:null,`refusal`:`I can't.`,"
      "`function_call`:{`name`:`h`,`arguments`:`{\\`z\\`:true}`}},"
      "`finish_reason`:`function_call`}]}",
      "{`id`:`msg_c4`,`type`:`message`,`role`:`assistant`,"
      "`model`:`pub/model-1`,`content`:[{`type`:`text`,`text`:`I can't.`},"
      "{`type`:`tool_use`,`id`:`toolu_tr_0`,`name`:`h`,"
      "`input`:{`z`:true}}],`stop_reason`:`tool_use`,`stop_sequence`:null,"
      "`usage`:{`input_tokens`:0,`output_tokens`:0,"
      "`cache_read_input_tokens`:0,`cache_creation_input_tokens`:0}}" },

    { "openai unknown finish_reason, provider model kept", OA, AN, NULL, 0,
      "{`id`:`c5`,`model`:`gpt-x`,`choices`:[{`message`:{`content`:`a`},"
      "`finish_reason`:`weird`}]}",
      "{`id`:`msg_c5`,`type`:`message`,`role`:`assistant`,"
      "`model`:`gpt-x`,`content`:[{`type`:`text`,`text`:`a`}],"
      "`stop_reason`:`end_turn`,`stop_sequence`:null,`usage`:{"
      "`input_tokens`:0,`output_tokens`:0,`cache_read_input_tokens`:0,"
      "`cache_creation_input_tokens`:0}}" },

    { "openai: no choices", OA, AN, MODEL, -1,
      "{`id`:`c`,`choices`:[]}", NULL },
    { "openai: an error body", OA, AN, MODEL, -1,
      "{`error`:{`message`:`x`,`type`:`server_error`}}", NULL },
    { "openai: not JSON", OA, AN, MODEL, -1, "Bad Gateway", NULL },
    { "openai: trailing garbage", OA, AN, MODEL, -1,
      "{`choices`:[{`message`:{}}]} x", NULL },
    { "openai: choice without a message", OA, AN, MODEL, -1,
      "{`choices`:[{`index`:0,`delta`:{}}]}", NULL },

    { NULL, 0, 0, NULL, 0, NULL, NULL }
};


static error_case_t  error_cases[] = {

    /* Bedrock: {"message": ...}, the kind in x-amzn-ErrorType only */

    { "bedrock 424 ModelErrorException to anthropic", AN, AN, 424,
      "{`message`:`The model produced an error.`}",
      "{`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`The model produced an error.`}}" },

    { "bedrock 424 ModelErrorException to openai", AN, OA, 424,
      "{`message`:`The model produced an error.`}",
      "{`error`:{`message`:`The model produced an error.`,"
      "`type`:`server_error`,`param`:null,`code`:`api_error`}}" },

    { "bedrock 429 ThrottlingException to anthropic", AN, AN, 429,
      "{`message`:`Too many requests, please wait before trying again.`}",
      "{`type`:`error`,`error`:{`type`:`rate_limit_error`,"
      "`message`:`Too many requests, please wait before trying again.`}}" },

    { "anthropic 529 to openai", AN, OA, 529,
      "{`type`:`error`,`error`:{`type`:`overloaded_error`,"
      "`message`:`Overloaded`},`request_id`:`req_1`}",
      "{`error`:{`message`:`Overloaded`,`type`:`server_error`,"
      "`param`:null,`code`:`overloaded_error`}}" },

    { "anthropic 429 to openai", AN, OA, 429,
      "{`type`:`error`,`error`:{`type`:`rate_limit_error`,"
      "`message`:`Number of request tokens has exceeded your rate limit`}}",
      "{`error`:{`message`:`Number of request tokens has exceeded your rate "
      "limit`,`type`:`rate_limit_error`,`param`:null,"
      "`code`:`rate_limit_error`}}" },

    { "anthropic 401 to openai", AN, OA, 401,
      "{`type`:`error`,`error`:{`type`:`authentication_error`,"
      "`message`:`invalid x-api-key`}}",
      "{`error`:{`message`:`invalid x-api-key`,"
      "`type`:`invalid_request_error`,`param`:null,"
      "`code`:`authentication_error`}}" },

    { "anthropic HTML 404 to openai", AN, OA, 404,
      "<html><body><h1>404 Not Found</h1>https://internal.example</body>"
      "</html>",
      "{`error`:{`message`:`The provider did not find the requested "
      "resource`,`type`:`invalid_request_error`,`param`:null,"
      "`code`:`not_found_error`}}" },

    { "openai 401 to anthropic, key and URL redacted", OA, AN, 401,
      "{`error`:{`message`:`Incorrect API key provided: sk-proj-abc123XYZ. "
      "You can find your API key at "
      "https://platform.openai.com/account/api-keys.`,"
      "`type`:`invalid_request_error`,`param`:null,"
      "`code`:`invalid_api_key`}}",
      "{`type`:`error`,`error`:{`type`:`authentication_error`,"
      "`message`:`Incorrect API key provided: [redacted]. You can find your "
      "API key at [url].`}}" },

    { "openai 401 sanitized for openai", OA, OA, 401,
      "{`error`:{`message`:`Incorrect API key provided: sk-proj-****abcd. "
      "See https://platform.openai.com/account/api-keys.`,"
      "`type`:`invalid_request_error`,`param`:`sk-proj-abcdef`,"
      "`code`:`invalid_api_key`}}",
      "{`error`:{`message`:`Incorrect API key provided: [redacted]. See "
      "[url].`,`type`:`invalid_request_error`,`param`:null,"
      "`code`:`invalid_api_key`}}" },

    { "openai 429 insufficient_quota to anthropic", OA, AN, 429,
      "{`error`:{`message`:`You exceeded your current quota`,"
      "`type`:`insufficient_quota`,`param`:null,"
      "`code`:`insufficient_quota`}}",
      "{`type`:`error`,`error`:{`type`:`billing_error`,"
      "`message`:`You exceeded your current quota`}}" },

    { "openai 429 insufficient_quota kept for openai", OA, OA, 429,
      "{`error`:{`message`:`You exceeded your current quota`,"
      "`type`:`insufficient_quota`,`param`:null,`code`:null}}",
      "{`error`:{`message`:`You exceeded your current quota`,"
      "`type`:`insufficient_quota`,`param`:null,"
      "`code`:`insufficient_quota`}}" },

    { "anthropic sanitized for anthropic", AN, AN, 400,
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`Bearer abc.def-ghi rejected by "
      "http://10.0.0.5:8080/v1/messages; key sk-ant-api03-AAAA_bbbb-CCCC "
      "and AIzaSyA1234567890abcdefghij (see HTTPS://Host.Internal/x?key=1)`}"
      ",`request_id`:`req_2`}",
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`[redacted] rejected by [url]; key [redacted] and "
      "[redacted] (see [url])`}}" },

    { "look-alikes are kept", AN, AN, 400,
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`task-force ask-me sk-1 AIzaB bearer\\ttok-en, "
      "Bearer: x \\`quoted\\` \\u0001`}}",
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`task-force ask-me sk-1 AIzaB [redacted], "
      "Bearer: x \\`quoted\\` \\u0001`}}" },

    { "openrouter 402 to anthropic", OA, AN, 402,
      "{`error`:{`code`:402,`message`:`Insufficient credits`,"
      "`metadata`:{`raw`:`sk-or-v1-secret`}}}",
      "{`type`:`error`,`error`:{`type`:`billing_error`,"
      "`message`:`Insufficient credits`}}" },

    { "error as a string, 500 to openai", OA, OA, 500,
      "{`error`:`upstream exploded`}",
      "{`error`:{`message`:`upstream exploded`,`type`:`server_error`,"
      "`param`:null,`code`:`server_error`}}" },

    { "detail, 404 to anthropic", OA, AN, 404,
      "{`detail`:`Not Found`}",
      "{`type`:`error`,`error`:{`type`:`not_found_error`,"
      "`message`:`Not Found`}}" },

    { "gemini array, 400 to anthropic", OA, AN, 400,
      "[{`error`:{`code`:400,`message`:`API key not valid. Please pass a "
      "valid API key.`,`status`:`INVALID_ARGUMENT`}}]",
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`API key not valid. Please pass a valid API key.`}}" },

    { "HTML 502 to anthropic", AN, AN, 502,
      "<html><head><title>502 Bad Gateway</title></head></html>",
      "{`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`The provider's gateway failed`}}" },

    { "HTML 502 to openai", OA, OA, 502,
      "<html><head><title>502 Bad Gateway</title></head></html>",
      "{`error`:{`message`:`The provider's gateway failed`,"
      "`type`:`server_error`,`param`:null,`code`:`server_error`}}" },

    { "empty 413 to anthropic", OA, AN, 413, "",
      "{`type`:`error`,`error`:{`type`:`request_too_large`,"
      "`message`:`The request is too large for the provider`}}" },

    { "empty 403 to anthropic", OA, AN, 403, "",
      "{`type`:`error`,`error`:{`type`:`permission_error`,"
      "`message`:`The provider denied permission`}}" },

    { "418 to anthropic", OA, AN, 418, "{`error`:{`message`:``}}",
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`The provider rejected the request`}}" },

    { "503 to anthropic", OA, AN, 503, "{}",
      "{`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`The provider is unavailable`}}" },

    { "529 to openai", AN, OA, 529, "overloaded",
      "{`error`:{`message`:`The provider is overloaded`,"
      "`type`:`server_error`,`param`:null,`code`:`overloaded_error`}}" },

    { "a provider type that is no slug is mapped", AN, AN, 500,
      "{`type`:`error`,`error`:{`type`:`Bad Thing`,`message`:`m`}}",
      "{`type`:`error`,`error`:{`type`:`api_error`,`message`:`m`}}" },

    { "cross shape maps by status", OA, AN, 400,
      "{`error`:{`message`:`m`,`type`:`server_error`}}",
      "{`type`:`error`,`error`:{`type`:`invalid_request_error`,"
      "`message`:`m`}}" },

    { "a code with a key is redacted", OA, OA, 400,
      "{`error`:{`message`:`m`,`type`:`x`,`code`:`sk-abcdefgh`}}",
      "{`error`:{`message`:`m`,`type`:`x`,`param`:null,"
      "`code`:`[redacted]`}}" },

    { NULL, 0, 0, 0, NULL, NULL }
};


#define AO_P(id)                                                              \
    "`id`:`chatcmpl-" id "`,`object`:`chat.completion.chunk`,`created`:0,"    \
    "`model`:`pub/model-1`,"

#define AO_CHUNK(id, delta, finish)                                           \
    "data: {" AO_P(id) "`choices`:[{`index`:0,`delta`:" delta                 \
    ",`logprobs`:null,`finish_reason`:" finish "}]}\n\n"

#define AO_ROLE(id)                                                           \
    AO_CHUNK(id, "{`role`:`assistant`,`content`:``}", "null")

#define AO_DONE  "data: [DONE]\n\n"

#define AN_START                                                              \
    "event: message_start\ndata: {`type`:`message_start`,`message`:{"        \
    "`id`:`msg_01abc`,`type`:`message`,`role`:`assistant`,"                   \
    "`model`:`claude-x`,`content`:[],`stop_reason`:null,"                     \
    "`stop_sequence`:null,`usage`:{`input_tokens`:25,"                        \
    "`cache_creation_input_tokens`:3,`cache_read_input_tokens`:10,"           \
    "`output_tokens`:1}}}\n\n"

#define AN_TEXT_START(i)                                                      \
    "event: content_block_start\ndata: {`type`:`content_block_start`,"        \
    "`index`:" i ",`content_block`:{`type`:`text`,`text`:``}}\n\n"

#define AN_TEXT(i, text)                                                      \
    "event: content_block_delta\ndata: {`type`:`content_block_delta`,"        \
    "`index`:" i ",`delta`:{`type`:`text_delta`,`text`:`" text "`}}\n\n"

#define AN_STOP(i)                                                            \
    "event: content_block_stop\ndata: {`type`:`content_block_stop`,"          \
    "`index`:" i "}\n\n"

#define AN_TOOL_START(i, id, name)                                            \
    "event: content_block_start\ndata: {`type`:`content_block_start`,"        \
    "`index`:" i ",`content_block`:{`type`:`tool_use`,`id`:`" id "`,"         \
    "`name`:`" name "`,`input`:{}}}\n\n"

#define AN_JSON(i, pj)                                                        \
    "event: content_block_delta\ndata: {`type`:`content_block_delta`,"        \
    "`index`:" i ",`delta`:{`type`:`input_json_delta`,"                       \
    "`partial_json`:`" pj "`}}\n\n"

#define AN_DELTA(stop, usage)                                                 \
    "event: message_delta\ndata: {`type`:`message_delta`,`delta`:{"           \
    "`stop_reason`:`" stop "`,`stop_sequence`:null},`usage`:" usage "}\n\n"

#define AN_MSG_STOP                                                           \
    "event: message_stop\ndata: {`type`:`message_stop`}\n\n"

#define OA_C(delta, finish)                                                   \
    "data: {`id`:`chatcmpl-xyz`,`object`:`chat.completion.chunk`,"           \
    "`created`:1,`model`:`gpt-4o`,`choices`:[{`index`:0,`delta`:" delta       \
    ",`logprobs`:null,`finish_reason`:" finish "}],`usage`:null}\n\n"

#define OA_USAGE(p, c, cached)                                                \
    "data: {`id`:`chatcmpl-xyz`,`object`:`chat.completion.chunk`,"           \
    "`created`:1,`model`:`gpt-4o`,`choices`:[],`usage`:{`prompt_tokens`:"    \
    p ",`completion_tokens`:" c ",`total_tokens`:0,"                          \
    "`prompt_tokens_details`:{`cached_tokens`:" cached "}}}\n\n"

#define OA_DONE  "data: [DONE]\n\n"

#define OUT_START(id)                                                         \
    "event: message_start\ndata: {`type`:`message_start`,`message`:{"        \
    "`id`:`msg_" id "`,`type`:`message`,`role`:`assistant`,"                  \
    "`model`:`pub/model-1`,`content`:[],`stop_reason`:null,"                  \
    "`stop_sequence`:null,`usage`:{`input_tokens`:0,"                         \
    "`output_tokens`:0}}}\n\n"

#define OUT_END(stop, out, in, cached)                                        \
    "event: message_delta\ndata: {`type`:`message_delta`,`delta`:{"           \
    "`stop_reason`:`" stop "`,`stop_sequence`:null},`usage`:{"                \
    "`output_tokens`:" out ",`input_tokens`:" in ","                          \
    "`cache_read_input_tokens`:" cached "}}\n\n"                              \
    AN_MSG_STOP

#define INTERRUPTED_OA                                                        \
    "data: {`error`:{`message`:`The provider's stream ended early`,"          \
    "`type`:`server_error`,`param`:null,`code`:`stream_interrupted`}}\n\n"   \
    AO_DONE

#define INTERRUPTED_AN                                                        \
    "event: error\ndata: {`type`:`error`,`error`:{`type`:`api_error`,"        \
    "`message`:`The provider's stream ended early`}}\n\n"


static stream_case_t  stream_cases[] = {

    { "anthropic text to openai, with usage", AN, OA, 1, 1,
      AN_START
      AN_TEXT_START("0")
      "event: ping\ndata: {`type`: `ping`}\n\n"
      AN_TEXT("0", "Hello")
      AN_TEXT("0", " \\`w\\\\orld\\`\\n\\u00e9")
      AN_STOP("0")
      AN_DELTA("end_turn", "{`output_tokens`:15}")
      AN_MSG_STOP,

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`Hello`}", "null")
      AO_CHUNK("01abc", "{`content`:` \\`w\\\\orld\\`\\n\\u00e9`}", "null")
      AO_CHUNK("01abc", "{}", "`stop`")
      "data: {" AO_P("01abc") "`choices`:[],`usage`:{`prompt_tokens`:38,"
      "`completion_tokens`:15,`total_tokens`:53,"
      "`prompt_tokens_details`:{`cached_tokens`:10}}}\n\n"
      AO_DONE },

    /* the writes split by lifetime, in message_delta: counted */
    { "anthropic 1-hour cache writes to openai, with usage", AN, OA, 1, 1,
      AN_START
      AN_TEXT_START("0")
      AN_TEXT("0", "Hello")
      AN_STOP("0")
      AN_DELTA("end_turn", "{`output_tokens`:15,`cache_creation`:"
               "{`ephemeral_5m_input_tokens`:3,"
               "`ephemeral_1h_input_tokens`:40}}")
      AN_MSG_STOP,

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`Hello`}", "null")
      AO_CHUNK("01abc", "{}", "`stop`")
      "data: {" AO_P("01abc") "`choices`:[],`usage`:{`prompt_tokens`:78,"
      "`completion_tokens`:15,`total_tokens`:93,"
      "`prompt_tokens_details`:{`cached_tokens`:10}}}\n\n"
      AO_DONE },

    { "anthropic text to openai, no usage, CRLF", AN, OA, 0, 1,
      "event: message_start\r\ndata: {`type`:`message_start`,`message`:"
      "{`id`:`msg_01abc`,`usage`:{`input_tokens`:5}}}\r\n\r\n"
      "event: content_block_start\r\ndata: {`type`:`content_block_start`,"
      "`index`:0,`content_block`:{`type`:`text`,`text`:``}}\r\n\r\n"
      ": a comment\r\n"
      "event: content_block_delta\r\ndata: {`type`:`content_block_delta`,"
      "`index`:0,`delta`:{`type`:`text_delta`,`text`:`Hi`}}\r\n\r\n"
      "event: content_block_stop\r\ndata: {`type`:`content_block_stop`,"
      "`index`:0}\r\n\r\n"
      "event: message_delta\r\ndata: {`type`:`message_delta`,`delta`:"
      "{`stop_reason`:`max_tokens`},`usage`:{`output_tokens`:2}}\r\n\r\n"
      "event: message_stop\r\ndata: {`type`:`message_stop`}\r\n\r\n",

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`Hi`}", "null")
      AO_CHUNK("01abc", "{}", "`length`")
      AO_DONE },

    { "anthropic thinking, text and two tools to openai", AN, OA, 0, 1,
      AN_START
      "event: content_block_start\ndata: {`type`:`content_block_start`,"
      "`index`:0,`content_block`:{`type`:`thinking`,`thinking`:``}}\n\n"
      "event: content_block_delta\ndata: {`type`:`content_block_delta`,"
      "`index`:0,`delta`:{`type`:`thinking_delta`,`thinking`:`hmm`}}\n\n"
      "event: content_block_delta\ndata: {`type`:`content_block_delta`,"
      "`index`:0,`delta`:{`type`:`signature_delta`,`signature`:`s`}}\n\n"
      AN_STOP("0")
      AN_TEXT_START("1")
      AN_TEXT("1", "Checking")
      AN_STOP("1")
      AN_TOOL_START("2", "toolu_A", "get_weather")
      AN_JSON("2", "")
      AN_JSON("2", "{\\`city\\`")
      AN_JSON("2", ": \\`Par")
      AN_JSON("2", "is\\`}")
      AN_STOP("2")
      AN_TOOL_START("3", "toolu_B", "get_time")
      AN_JSON("3", "{\\`tz\\`:")
      AN_JSON("3", "\\`UTC\\`}")
      AN_STOP("3")
      AN_DELTA("tool_use", "{`output_tokens`:40}")
      AN_MSG_STOP,

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`Checking`}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:0,`id`:`toolu_A`,"
               "`type`:`function`,`function`:{`name`:`get_weather`,"
               "`arguments`:``}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:0,`function`:"
               "{`arguments`:`{\\`city\\``}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:0,`function`:"
               "{`arguments`:`: \\`Par`}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:0,`function`:"
               "{`arguments`:`is\\`}`}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:1,`id`:`toolu_B`,"
               "`type`:`function`,`function`:{`name`:`get_time`,"
               "`arguments`:``}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:1,`function`:"
               "{`arguments`:`{\\`tz\\`:`}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:1,`function`:"
               "{`arguments`:`\\`UTC\\`}`}}]}", "null")
      AO_CHUNK("01abc", "{}", "`tool_calls`")
      AO_DONE },

    { "anthropic cumulative usage, max per field", AN, OA, 1, 1,
      AN_START
      AN_TEXT_START("0")
      AN_TEXT("0", "x")
      "event: message_delta\ndata: {`type`:`message_delta`,`delta`:"
      "{`stop_reason`:null},`usage`:{`output_tokens`:4}}\n\n"
      "event: message_delta\ndata: {`type`:`message_delta`,`delta`:"
      "{`stop_reason`:`stop_sequence`,`stop_sequence`:`END`},`usage`:{"
      "`input_tokens`:30,`cache_read_input_tokens`:2,"
      "`output_tokens`:9}}\n\n"
      "event: message_delta\ndata: {`type`:`message_delta`,`delta`:"
      "{`stop_reason`:`end_turn`},`usage`:{`output_tokens`:8}}\n\n"
      AN_MSG_STOP,

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`x`}", "null")
      AO_CHUNK("01abc", "{}", "`stop`")
      "data: {" AO_P("01abc") "`choices`:[],`usage`:{`prompt_tokens`:43,"
      "`completion_tokens`:9,`total_tokens`:52,"
      "`prompt_tokens_details`:{`cached_tokens`:10}}}\n\n"
      AO_DONE },

    { "anthropic error event to openai", AN, OA, 1, 1,
      AN_START
      AN_TEXT_START("0")
      AN_TEXT("0", "partial")
      "event: error\ndata: {`type`:`error`,`error`:{"
      "`type`:`overloaded_error`,`message`:`Overloaded`}}\n\n"
      AN_TEXT("0", "ignored")
      AN_MSG_STOP,

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`partial`}", "null")
      "data: {`error`:{`message`:`Overloaded`,`type`:`server_error`,"
      "`param`:null,`code`:`overloaded_error`}}\n\n"
      AO_DONE },

    { "anthropic malformed event ends the stream with an error", AN, OA,
      0, 1,
      AN_START
      AN_TEXT_START("0")
      AN_TEXT("0", "Hel")
      "data: not json\n\n"
      AN_TEXT("0", "lo"),

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`Hel`}", "null")
      "data: {`error`:{`message`:`The provider sent a malformed stream "
      "event`,`type`:`server_error`,`param`:null,`code`:`server_error`}}\n\n"
      AO_DONE },

    { "openai malformed event ends the stream with an error", OA, AN, 0, 1,
      "data: {`id`:`c1`,`choices`:[{`index`:0,`delta`:{`role`:`assistant`,"
      "`content`:`Hel`}}]}\n\n"
      "data: {broken\n\n"
      "data: [DONE]\n\n",

      "event: message_start\ndata: {`type`:`message_start`,`message`:{"
      "`id`:`msg_c1`,`type`:`message`,`role`:`assistant`,`model`:"
      "`pub/model-1`,`content`:[],`stop_reason`:null,`stop_sequence`:null,"
      "`usage`:{`input_tokens`:0,`output_tokens`:0}}}\n\n"
      "event: content_block_start\ndata: {`type`:`content_block_start`,"
      "`index`:0,`content_block`:{`type`:`text`,`text`:``}}\n\n"
      "event: content_block_delta\ndata: {`type`:`content_block_delta`,"
      "`index`:0,`delta`:{`type`:`text_delta`,`text`:`Hel`}}\n\n"
      "event: error\ndata: {`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`The provider sent a malformed stream event`}}\n\n" },

    { "anthropic stream ends early", AN, OA, 1, 0,
      AN_START
      AN_TEXT_START("0")
      AN_TEXT("0", "Hel")
      "event: content_block_delta\ndata: {`type`:`content_bl",

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`Hel`}", "null")
      INTERRUPTED_OA },

    { "anthropic ends cleanly without message_stop", AN, OA, 0, 1,
      AN_START
      AN_TEXT("0", "a")
      AN_DELTA("end_turn", "{`output_tokens`:1}"),

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`a`}", "null")
      AO_CHUNK("01abc", "{}", "`stop`")
      AO_DONE },

    { "anthropic ends cleanly before message_delta", AN, OA, 0, 1,
      AN_START
      AN_TEXT("0", "a"),

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`content`:`a`}", "null")
      INTERRUPTED_OA },

    { "anthropic last event without its blank line", AN, OA, 0, 0,
      AN_START
      AN_DELTA("end_turn", "{`output_tokens`:1}")
      "event: message_stop\ndata: {`type`:`message_stop`}",

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{}", "`stop`")
      AO_DONE },

    { "anthropic unknown events are skipped", AN, OA, 0, 1,
      "event: something_new\ndata: {`type`:`something_new`,`x`:1}\n\n"
      "event: message_start\ndata: {`message`:{`id`:`msg_9`}}\n\n"
      "data: {`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:``}}\n\n"
      "data: {`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`citations_delta`,`citation`:{}}}\n\n"
      AN_TEXT("0", "ok")
      AN_MSG_STOP,

      AO_ROLE("9")
      AO_CHUNK("9", "{`content`:`ok`}", "null")
      AO_CHUNK("9", "{}", "`stop`")
      AO_DONE },

    { "anthropic server tool blocks are dropped", AN, OA, 0, 1,
      AN_START
      "event: content_block_start\ndata: {`type`:`content_block_start`,"
      "`index`:0,`content_block`:{`type`:`server_tool_use`,`id`:`srvtoolu_1`,"
      "`name`:`web_search`,`input`:{}}}\n\n"
      AN_JSON("0", "{\\`query\\`:\\`x\\`}")
      AN_STOP("0")
      "event: content_block_start\ndata: {`type`:`content_block_start`,"
      "`index`:1,`content_block`:{`type`:`web_search_tool_result`,"
      "`tool_use_id`:`srvtoolu_1`,`content`:[]}}\n\n"
      AN_STOP("1")
      AN_TOOL_START("2", "toolu_C", "f")
      AN_JSON("2", "{}")
      AN_STOP("2")
      "event: content_block_start\ndata: {`type`:`content_block_start`,"
      "`index`:3,`content_block`:{`type`:`server_tool_use`,`id`:`srvtoolu_2`,"
      "`name`:`web_search`,`input`:{}}}\n\n"
      AN_JSON("3", "{}")
      AN_STOP("3")
      AN_DELTA("tool_use", "{`output_tokens`:3}")
      AN_MSG_STOP,

      AO_ROLE("01abc")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:0,`id`:`toolu_C`,"
               "`type`:`function`,`function`:{`name`:`f`,"
               "`arguments`:``}}]}", "null")
      AO_CHUNK("01abc", "{`tool_calls`:[{`index`:0,`function`:"
               "{`arguments`:`{}`}}]}", "null")
      AO_CHUNK("01abc", "{}", "`tool_calls`")
      AO_DONE },

    { "openai text to anthropic", OA, AN, 1, 1,
      OA_C("{`role`:`assistant`,`content`:``,`refusal`:null}", "null")
      ": keep-alive\n\n"
      OA_C("{`content`:`Hel`}", "null")
      OA_C("{`content`:`lo \\u00e9\\n\\`q\\``}", "null")
      OA_C("{}", "`stop`")
      OA_USAGE("30", "4", "12")
      OA_DONE,

      OUT_START("chatcmpl-xyz")
      AN_TEXT_START("0")
      AN_TEXT("0", "Hel")
      AN_TEXT("0", "lo \\u00e9\\n\\`q\\`")
      AN_STOP("0")
      OUT_END("end_turn", "4", "18", "12") },

    /*
     * Azure OpenAI: a first chunk of prompt filter results alone, with
     * an empty id, "choices": [], then content_filter_results in each
     * choice: the message's id is the real chunks'
     */
    { "azure stream to anthropic, prompt filter chunk first", OA, AN, 1, 1,
      "data: {`choices`:[],`created`:0,`id`:``,`model`:``,`object`:``,"
      "`prompt_filter_results`:[{`prompt_index`:0,"
      "`content_filter_results`:{`hate`:{`filtered`:false,"
      "`severity`:`safe`}}}]}\n\n"
      "data: {`choices`:[{`content_filter_results`:{},`delta`:{`content`:``,"
      "`role`:`assistant`},`finish_reason`:null,`index`:0}],"
      "`id`:`chatcmpl-xyz`}\n\n"
      "data: {`choices`:[{`content_filter_results`:{`hate`:{"
      "`filtered`:false,`severity`:`safe`}},`delta`:{`content`:`Hel`},"
      "`finish_reason`:null,`index`:0}],`id`:`chatcmpl-xyz`}\n\n"
      OA_C("{}", "`stop`")
      OA_USAGE("30", "4", "12")
      OA_DONE,

      OUT_START("chatcmpl-xyz")
      AN_TEXT_START("0")
      AN_TEXT("0", "Hel")
      AN_STOP("0")
      OUT_END("end_turn", "4", "18", "12") },

    { "openai text and two tools to anthropic, CRLF", OA, AN, 0, 1,
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{`role`:`assistant`,"
      "`content`:`Sure`}}]}\r\n\r\n"
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{"
      "`index`:0,`id`:`call_1`,`type`:`function`,`function`:{`name`:`f1`,"
      "`arguments`:``}}]}}]}\r\n\r\n"
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{"
      "`index`:0,`function`:{`arguments`:`{\\`a\\``}}]}}]}\r\n\r\n"
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{"
      "`index`:0,`function`:{`arguments`:`:1}`}}]}}]}\r\n\r\n"
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{"
      "`index`:1,`id`:`call_2`,`type`:`function`,`function`:{`name`:`f2`,"
      "`arguments`:`{\\`b\\`:`}}]}}]}\r\n\r\n"
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{"
      "`index`:1,`function`:{`arguments`:`2}`}}]}}]}\r\n\r\n"
      "data: {`id`:`c9`,`choices`:[{`index`:0,`delta`:{},"
      "`finish_reason`:`tool_calls`}],`usage`:{`prompt_tokens`:11,"
      "`completion_tokens`:22}}\r\n\r\n"
      "data: [DONE]\r\n\r\n",

      OUT_START("c9")
      AN_TEXT_START("0")
      AN_TEXT("0", "Sure")
      AN_STOP("0")
      AN_TOOL_START("1", "call_1", "f1")
      AN_JSON("1", "{\\`a\\`")
      AN_JSON("1", ":1}")
      AN_STOP("1")
      AN_TOOL_START("2", "call_2", "f2")
      AN_JSON("2", "{\\`b\\`:")
      AN_JSON("2", "2}")
      AN_STOP("2")
      OUT_END("tool_use", "22", "11", "0") },

    { "openai tool calls all at index 0 (gemini), length", OA, AN, 0, 1,
      "data: {`id`:`g`,`choices`:[{`delta`:{`tool_calls`:[{`index`:0,"
      "`id`:`a1`,`function`:{`name`:`x`,`arguments`:`{}`}}]}}]}\n\n"
      "data: {`id`:`g`,`choices`:[{`delta`:{`tool_calls`:[{`index`:0,"
      "`id`:`a2`,`function`:{`name`:`y`,`arguments`:`{\\`k\\`:1}`}},"
      "{`id`:`a3`,`function`:{`name`:`z`}}]}}]}\n\n"
      "data: {`id`:`g`,`choices`:[{`delta`:{},`finish_reason`:`length`}]}"
      "\n\n"
      OA_DONE,

      OUT_START("g")
      AN_TOOL_START("0", "a1", "x")
      AN_JSON("0", "{}")
      AN_STOP("0")
      AN_TOOL_START("1", "a2", "y")
      AN_JSON("1", "{\\`k\\`:1}")
      AN_STOP("1")
      AN_TOOL_START("2", "a3", "z")
      AN_STOP("2")
      OUT_END("max_tokens", "0", "0", "0") },

    { "openai error chunk to anthropic", OA, AN, 1, 1,
      OA_C("{`role`:`assistant`,`content`:`a`}", "null")
      "data: {`error`:{`message`:`Rate limited, retry at "
      "https://x.example/z.`,`type`:`rate_limit_error`,"
      "`code`:`rate_limit_exceeded`}}\n\n"
      OA_DONE,

      OUT_START("chatcmpl-xyz")
      AN_TEXT_START("0")
      AN_TEXT("0", "a")
      "event: error\ndata: {`type`:`error`,`error`:{"
      "`type`:`rate_limit_error`,`message`:`Rate limited, retry at "
      "[url].`}}\n\n" },

    { "openrouter numeric error code to anthropic", OA, AN, 0, 1,
      ": OPENROUTER PROCESSING\n\n"
      "data: {`id`:`gen-1`,`error`:{`code`:502,"
      "`message`:`Provider returned error`},`choices`:[]}\n\n",

      "event: error\ndata: {`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`Provider returned error`}}\n\n" },

    { "openai stream ends early", OA, AN, 1, 0,
      OA_C("{`content`:`Hel`}", "null")
      "data: {`id`:`chatcmpl-xyz`,`choices`:[{`index`:0,`delta`:{`cont",

      OUT_START("chatcmpl-xyz")
      AN_TEXT_START("0")
      AN_TEXT("0", "Hel")
      INTERRUPTED_AN },

    { "openai without [DONE], ended cleanly", OA, AN, 0, 1,
      OA_C("{`content`:`a`}", "`stop`")
      OA_USAGE("5", "1", "0")
      "data: {`id`:`chatcmpl-xyz`,`choices`:[{`index`:1,"
      "`delta`:{`content`:`other choice`}}]}",

      OUT_START("chatcmpl-xyz")
      AN_TEXT_START("0")
      AN_TEXT("0", "a")
      AN_STOP("0")
      OUT_END("end_turn", "1", "5", "0") },

    { "openai only [DONE]", OA, AN, 0, 1,
      OA_DONE,

      OUT_START("")
      OUT_END("end_turn", "0", "0", "0") },

    { "openai content_filter with refusal text", OA, AN, 0, 1,
      OA_C("{`refusal`:`No.`}", "null")
      OA_C("{}", "`content_filter`")
      OA_DONE,

      OUT_START("chatcmpl-xyz")
      AN_TEXT_START("0")
      AN_TEXT("0", "No.")
      AN_STOP("0")
      OUT_END("refusal", "0", "0", "0") },

    { "anthropic relayed, error sanitized", AN, AN, 0, 1,
      AN_START
      AN_TEXT("0", "x")
      "event: error\ndata: {`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`boom at http://10.1.2.3/x`}}\n\n",

      AN_START
      AN_TEXT("0", "x")
      "event: error\ndata: {`type`:`error`,`error`:{`type`:`api_error`,"
      "`message`:`boom at [url]`}}\n\n" },

    { "anthropic relayed, ends early", AN, AN, 0, 0,
      AN_START
      AN_TEXT("0", "x")
      "event: content_block_delta\ndata: {",

      AN_START
      AN_TEXT("0", "x")
      INTERRUPTED_AN },

    { "anthropic relayed to its end", AN, AN, 0, 0,
      AN_START
      AN_MSG_STOP,

      AN_START
      AN_MSG_STOP },

    { "openai relayed, multi-line data", OA, OA, 0, 1,
      "data: {`a`:\ndata: 1}\n\n"
      OA_DONE,

      "data: {`a`:\ndata: 1}\n\n"
      OA_DONE },

    { "openai relayed, error sanitized", OA, OA, 0, 1,
      "data: {`error`:{`message`:`key sk-abcdefghij bad`,"
      "`type`:`invalid_request_error`,`code`:null}}\n\n",

      "data: {`error`:{`message`:`key [redacted] bad`,"
      "`type`:`invalid_request_error`,`param`:null,"
      "`code`:`invalid_request_error`}}\n\n"
      AO_DONE },

    { "openai relayed, ends early", OA, OA, 0, 0,
      OA_C("{`content`:`a`}", "null"),

      OA_C("{`content`:`a`}", "null")
      INTERRUPTED_OA },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


int
main(void)
{
    resp_case_t    *rc;
    error_case_t   *ec;
    stream_case_t  *sc;

    for (rc = resp_cases; rc->name; rc++) {
        test_resp(rc);
    }

    test_created();
    test_deep();

    for (ec = error_cases; ec->name; ec++) {
        test_error(ec);
    }

    for (sc = stream_cases; sc->name; sc++) {
        test_stream(sc);
    }

    test_incremental();
    test_stream_error();
    test_too_large();
    test_abort();
    test_no_malloc();
    test_escape();
    test_tap();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


/* error text as JSON string content: escaped, invalid UTF-8 replaced */

static void
test_escape(void)
{
    int             rc;
    size_t          i, n, len;
    unsigned char  *out;
    unsigned char   buf[256];

    static const struct {
        const char  *name;
        const char  *in;
        const char  *out;
    } cases[] = {
        { "plain", "plain text", "plain text" },
        { "quotes, backslash, controls", "a\"b\\c\n\r\t\x01\x1f",
          "a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f" },
        { "valid 2, 3, 4 byte UTF-8", "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
          "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        { "\\xff\\xfe", "bad\xff\xfe-model",
          "bad\xef\xbf\xbd\xef\xbf\xbd-model" },
        { "a lead byte before ASCII", "\xc3(",
          "\xef\xbf\xbd(" },
        { "truncated at the end", "x\xe2\x82",
          "x\xef\xbf\xbd\xef\xbf\xbd" },
        { "overlong", "\xc0\xaf\xe0\x80\xaf",
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
          "\xef\xbf\xbd" },
        { "a surrogate", "\xed\xa0\x80",
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
        { "above U+10FFFF", "\xf4\x90\x80\x80",
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
        { "a lone continuation byte", "a\x80" "b", "a\xef\xbf\xbd" "b" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = strlen(cases[i].in);

        len = tokenroute_json_escape_utf8(NULL,
                                          (const unsigned char *) cases[i].in,
                                          n);
        memset(buf, 0, sizeof(buf));
        (void) tokenroute_json_escape_utf8(buf,
                                           (const unsigned char *) cases[i].in,
                                           n);

        ok(len == strlen(cases[i].out) && strcmp((char *) buf, cases[i].out)
           == 0, "escape: %s", cases[i].name);
    }

    /* NUL inside the text */
    len = tokenroute_json_escape_utf8(buf, (const unsigned char *) "a\0b", 3);
    ok(len == 8 && memcmp(buf, "a\\u0000b", 8) == 0, "escape: NUL");

    /* a provider's message with invalid UTF-8, longer than one piece */

    {
        char  body[2048], *p;

        p = body + sprintf(body, "{\"error\":{\"message\":\"");

        for (i = 0; i < 300; i++) {
            *p++ = 'a';
        }

        p = p + sprintf(p, "\xe2\x82\xac \xff sk-abcdefgh \"}}");
        *p = '\0';

        out = NULL;
        rc = tokenroute_translate_error(AN, OA, 400,
                                        (unsigned char *) body, strlen(body),
                                        &out, &len);

        ok(rc == 0 && strstr((char *) out, "\xe2\x82\xac \xef\xbf\xbd "
                             "[redacted] ") != NULL
           && strchr((char *) out, '\xff') == NULL,
           "error: a provider message with invalid UTF-8");

        free(out);
    }

    ok(tokenroute_error_client_status(OA, 529) == 503,
       "status: 529 is 503 to an OpenAI client");
    ok(tokenroute_error_client_status(AN, 529) == 529,
       "status: 529 stays 529 to an Anthropic client");
    ok(tokenroute_error_client_status(OA, 500) == 500
       && tokenroute_error_client_status(OA, 429) == 429,
       "status: others unchanged");
}


static void
test_resp(const resp_case_t *c)
{
    int             rc, same;
    char           *body, *expect, why[512];
    size_t          out_len, model_len;
    unsigned char  *out;

    body = q(c->body);
    expect = c->expect ? q(c->expect) : NULL;

    out = NULL;
    out_len = 0;
    model_len = c->model ? strlen(c->model) : 0;

    rc = tokenroute_translate_response(c->from, c->to,
                                       (unsigned char *) body, strlen(body),
                                       c->model, model_len, &out, &out_len);

    if (c->rc != 0) {
        ok(rc == c->rc, "response: %s: returns %d (got %d)", c->name, c->rc,
           rc);

    } else {
        why[0] = '\0';
        same = (rc == 0) && json_same((char *) out, out_len, expect, why,
                                      sizeof(why));

        ok(same, "response: %s", c->name);

        if (!same) {
            printf("#   rc %d: %s\n#   got:    %.*s\n#   expect: %s\n", rc,
                   why, (int) out_len, out ? (char *) out : "", expect);
        }

        ok(rc == 0 && out[out_len] == '\0'
           && strlen((char *) out) == out_len,
           "response: %s: NUL-terminated, no NUL inside", c->name);
    }

    free(out);
    free(body);
    free(expect);
}


static void
test_created(void)
{
    int             rc;
    char           *body, *p;
    size_t          out_len;
    time_t          t0, t1;
    long            long       created;
    unsigned char  *out;

    body = q("{`id`:`msg_1`,`content`:[]}");

    t0 = time(NULL);
    rc = tokenroute_translate_response(AN, OA, (unsigned char *) body,
                                       strlen(body), "m", 1, &out, &out_len);
    t1 = time(NULL);

    created = -1;

    if (rc == 0) {
        p = strstr((char *) out, "\"created\":");

        if (p != NULL) {
            created = strtoll(p + 10, NULL, 10);
        }

        free(out);
    }

    ok(created >= (long long) t0 && created <= (long long) t1,
       "response: created is now (%lld)", created);

    free(body);
}


/* a tool input nested 100000 deep is written without recursion */

static void
test_deep(void)
{
    int             rc;
    char           *body, *p;
    size_t          i, n, out_len;
    unsigned char  *out;

    n = 100000;

    body = malloc(2 * n + 200);
    if (body == NULL) {
        exit(2);
    }

    p = body + sprintf(body, "{\"id\":\"msg_d\",\"content\":[{\"type\":"
                       "\"tool_use\",\"id\":\"t\",\"name\":\"n\","
                       "\"input\":{\"a\":");

    for (i = 0; i < n; i++) {
        *p++ = '[';
    }

    for (i = 0; i < n; i++) {
        *p++ = ']';
    }

    strcpy(p, "}}]}");

    out = NULL;
    out_len = 0;

    rc = tokenroute_translate_response(AN, OA, (unsigned char *) body,
                                       strlen(body), "m", 1, &out,
                                       &out_len);

    p = (rc == 0) ? strstr((char *) out, "\"arguments\":\"{\\\"a\\\":[[[")
                  : NULL;

    ok(p != NULL && strspn(p + 20, "[") == n && strspn(p + 20 + n, "]") == n,
       "response: a tool input nested %zu deep", n);

    free(out);
    free(body);
}


static void
test_error(const error_case_t *c)
{
    int             rc, same;
    char           *body, *expect, why[512];
    size_t          out_len;
    unsigned char  *out;

    body = q(c->body);
    expect = q(c->expect);

    out = NULL;
    out_len = 0;

    rc = tokenroute_translate_error(c->from, c->to, c->status,
                                    (unsigned char *) body, strlen(body),
                                    &out, &out_len);

    why[0] = '\0';
    same = (rc == 0) && json_same((char *) out, out_len, expect, why,
                                  sizeof(why));

    ok(same, "error: %s", c->name);

    if (!same) {
        printf("#   rc %d: %s\n#   got:    %.*s\n#   expect: %s\n", rc, why,
               (int) out_len, out ? (char *) out : "", expect);
    }

    free(out);
    free(body);
    free(expect);
}


static void
test_stream(const stream_case_t *c)
{
    int      rc, good;
    char    *in, *expect, why[512];
    size_t   len, i;
    sink_t   whole, part;

    in = q(c->input);
    expect = q(c->expect);
    len = strlen(in);

    memset(&whole, 0, sizeof(sink_t));
    memset(&part, 0, sizeof(sink_t));

    rc = run_stream(c, in, len, len, 0, &whole);

    why[0] = '\0';
    good = (rc == 0) && events_same(whole.p, whole.len, expect, why,
                                    sizeof(why));

    ok(good, "stream: %s: events", c->name);

    if (!good) {
        printf("#   rc %d: %s\n#   got:\n%.*s\n#   expect:\n%s\n", rc, why,
               (int) whole.len, whole.p ? whole.p : "", expect);
    }

    why[0] = '\0';
    good = framing_ok(whole.p, whole.len, c->to, why, sizeof(why));

    ok(good, "stream: %s: framing%s%s", c->name, good ? "" : ": ", why);

    good = 1;

    for (i = 0; i <= len && good; i++) {
        rc = run_stream(c, in, len, i, 0, &part);

        if (rc != 0 || part.len != whole.len
            || memcmp(part.p, whole.p, whole.len) != 0)
        {
            good = 0;
        }
    }

    ok(good, "stream: %s: split in two at every offset%s", c->name,
       good ? "" : " (differs)");

    if (!good) {
        printf("#   at %zu got:\n%.*s\n", i - 1, (int) part.len,
               part.p ? part.p : "");
    }

    rc = run_stream(c, in, len, 0, 1, &part);

    ok(rc == 0 && part.len == whole.len
       && memcmp(part.p, whole.p, whole.len) == 0,
       "stream: %s: fed one byte at a time", c->name);

    free(whole.p);
    free(part.p);
    free(in);
    free(expect);
}


/*
 * Translated bytes come out as each event completes: nothing while an
 * event lacks its closing blank line, then its translation at once.
 */

typedef struct {
    const char  *event;
    int          output;
} inc_event_t;


static void
test_incremental(void)
{
    int                   i, k, good, calls;
    char                 *ev;
    size_t                len;
    sink_t                s;
    tokenroute_stream_t   st;
    static const int      from[2] = { AN, OA };
    static inc_event_t    events[2][8] = {
        { { AN_START, 1 }, { AN_TEXT_START("0"), 0 },
          { AN_TEXT("0", "a"), 1 }, { AN_TEXT("0", "b"), 1 },
          { AN_STOP("0"), 0 }, { AN_DELTA("end_turn", "{}"), 1 },
          { AN_MSG_STOP, 1 }, { NULL, 0 } },
        { { OA_C("{`content`:`a`}", "null"), 1 },
          { OA_C("{`content`:`b`}", "null"), 1 },
          { OA_C("{}", "`stop`"), 1 }, { OA_DONE, 1 }, { NULL, 0 } }
    };

    for (k = 0; k < 2; k++) {
        memset(&s, 0, sizeof(sink_t));

        good = tokenroute_stream_init(&st, from[k], from[1 - k], MODEL,
                                      strlen(MODEL), 0, sink_emit, &s)
               == 0;

        for (i = 0; good && events[k][i].event != NULL; i++) {
            ev = q(events[k][i].event);
            len = strlen(ev);
            calls = s.calls;

            if (tokenroute_stream_feed(&st, ev, len - 1) != 0
                || s.calls != calls)
            {
                good = 0;
            }

            if (tokenroute_stream_feed(&st, ev + len - 1, 1) != 0
                || (s.calls > calls) != events[k][i].output)
            {
                good = 0;
            }

            free(ev);
        }

        tokenroute_stream_free(&st);

        ok(good, "stream %s: output as each event completes",
           k == 0 ? "anthropic to openai" : "openai to anthropic");

        free(s.p);
    }
}


static void
test_stream_error(void)
{
    int                   rc, rc2;
    char                 *in, *expect, why[512];
    size_t                len;
    sink_t                s;
    tokenroute_stream_t   st;

    /* openai client */

    in = q(AN_START AN_TEXT("0", "a"));
    expect = q(AO_ROLE("01abc") AO_CHUNK("01abc", "{`content`:`a`}", "null")
               "data: {`error`:{`message`:`Budget \\`x\\` exceeded`,"
               "`type`:`server_error`,`param`:null,"
               "`code`:`server_error`}}\n\n" AO_DONE);

    memset(&s, 0, sizeof(sink_t));

    rc = tokenroute_stream_init(&st, AN, OA, MODEL, strlen(MODEL), 1,
                                sink_emit, &s);
    rc |= tokenroute_stream_feed(&st, in, strlen(in));
    rc |= tokenroute_stream_error(&st, "Budget \"x\" exceeded");
    rc2 = tokenroute_stream_feed(&st, in, strlen(in));
    rc2 |= tokenroute_stream_error(&st, "again");
    rc2 |= tokenroute_stream_finish(&st, 0);
    tokenroute_stream_free(&st);

    normalize_created(&s);

    why[0] = '\0';
    ok(rc == 0 && rc2 == 0
       && events_same(s.p, s.len, expect, why, sizeof(why)),
       "stream_error: openai client, then nothing more %s", why);

    free(s.p);
    free(in);
    free(expect);

    /* anthropic client */

    in = q(OA_C("{`content`:`a`}", "null"));
    expect = q(OUT_START("chatcmpl-xyz") AN_TEXT_START("0") AN_TEXT("0", "a")
               "event: error\ndata: {`type`:`error`,`error`:{"
               "`type`:`api_error`,`message`:`Budget exceeded`}}\n\n");

    memset(&s, 0, sizeof(sink_t));

    rc = tokenroute_stream_init(&st, OA, AN, MODEL, strlen(MODEL), 0,
                                sink_emit, &s);
    rc |= tokenroute_stream_feed(&st, in, strlen(in));
    rc |= tokenroute_stream_error(&st, "Budget exceeded");
    rc |= tokenroute_stream_finish(&st, 1);
    tokenroute_stream_free(&st);

    why[0] = '\0';
    ok(rc == 0 && events_same(s.p, s.len, expect, why, sizeof(why)),
       "stream_error: anthropic client %s", why);

    free(s.p);
    free(in);
    free(expect);

    /* nothing after a finished stream */

    in = q(OA_C("{`content`:`a`}", "null") OA_DONE);

    memset(&s, 0, sizeof(sink_t));

    rc = tokenroute_stream_init(&st, OA, AN, MODEL, strlen(MODEL), 0,
                                sink_emit, &s);
    rc |= tokenroute_stream_feed(&st, in, strlen(in));

    len = s.len;

    rc |= tokenroute_stream_error(&st, "late");
    rc |= tokenroute_stream_finish(&st, 0);
    tokenroute_stream_free(&st);

    ok(rc == 0 && s.len == len && len > 0,
       "stream_error and finish after the end emit nothing");

    free(s.p);
    free(in);

    /* unknown shapes */

    ok(tokenroute_stream_init(&st, 3, AN, "m", 1, 0, sink_emit, &s) == -1,
       "stream_init refuses an unknown shape");
}


/*
 * An event longer than TOKENROUTE_STREAM_MAX_EVENT cannot be translated:
 * the stream ends with an error event, never silently without it.
 */

static void
test_too_large(void)
{
    int                   k, rc;
    char                 *big;
    size_t                n, len;
    sink_t                s;
    tokenroute_stream_t   st;

    static const char  head[] =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
    static const char  tail[] = "\"},\"finish_reason\":null}]}\n\n";
    static const char  ant[] =
        "event: content_block_delta\ndata: {\"type\":"
        "\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
        "\"text_delta\",\"text\":\"";
    static const char  ant_tail[] = "\"}}\n\n";

    n = TOKENROUTE_STREAM_MAX_EVENT + 16;

    big = malloc(sizeof(ant) + n + sizeof(tail));
    if (big == NULL) {
        ok(0, "too large: out of memory");
        return;
    }

    for (k = 0; k < 2; k++) {
        len = 0;

        if (k == 0) {
            memcpy(big, head, sizeof(head) - 1);
            len = sizeof(head) - 1;

        } else {
            memcpy(big, ant, sizeof(ant) - 1);
            len = sizeof(ant) - 1;
        }

        memset(big + len, 'b', n);
        len += n;

        if (k == 0) {
            memcpy(big + len, tail, sizeof(tail) - 1);
            len += sizeof(tail) - 1;

        } else {
            memcpy(big + len, ant_tail, sizeof(ant_tail) - 1);
            len += sizeof(ant_tail) - 1;
        }

        memset(&s, 0, sizeof(sink_t));

        rc = tokenroute_stream_init(&st, k == 0 ? OA : AN, k == 0 ? AN : OA,
                                    MODEL, strlen(MODEL), 0, sink_emit, &s);
        rc |= tokenroute_stream_feed(&st, big, len);
        rc |= tokenroute_stream_finish(&st, 1);
        tokenroute_stream_free(&st);

        ok(rc == 0 && s.p != NULL
           && strstr(s.p, k == 0 ? "event: error\n" : "{\"error\":") != NULL
           && strstr(s.p, "too large") != NULL,
           "too large: a %s event past the limit ends the %s stream with an "
           "error event", k == 0 ? "openai" : "anthropic",
           k == 0 ? "anthropic" : "openai");

        free(s.p);
    }

    free(big);
}


static void
test_abort(void)
{
    int                   rc1, rc2, rc3;
    char                 *in;
    size_t                start;
    sink_t                s;
    tokenroute_stream_t   st;

    in = q(AN_START AN_TEXT("0", "a") AN_TEXT("0", "b") AN_MSG_STOP);
    start = strstr(in, "event: content_block_delta") - in;

    memset(&s, 0, sizeof(sink_t));
    s.fail_at = 2;

    /* the events of one feed are emitted at once: the start, then more */

    rc1 = tokenroute_stream_init(&st, AN, OA, MODEL, strlen(MODEL), 0,
                                 sink_emit, &s);
    rc1 |= tokenroute_stream_feed(&st, in, 5);
    rc1 |= tokenroute_stream_feed(&st, in + 5, start - 5);
    rc2 = tokenroute_stream_feed(&st, in + start, strlen(in) - start);
    rc3 = tokenroute_stream_feed(&st, "x", 1);
    rc3 += tokenroute_stream_finish(&st, 1);
    tokenroute_stream_free(&st);

    ok(rc1 == 0 && rc2 == -1 && rc3 == -2 && s.calls == 2,
       "an aborting emit stops the stream (%d %d %d, %d calls)", rc1, rc2,
       rc3, s.calls);

    free(s.p);
    free(in);
}


/*
 * malloc() calls are counted, except under AddressSanitizer, which has
 * its own malloc().
 */

#if defined(__SANITIZE_ADDRESS__)

static void
test_no_malloc(void)
{
    printf("ok %d # SKIP malloc is not counted under ASan\n", ++tests);
    printf("ok %d # SKIP malloc is not counted under ASan\n", ++tests);
}

#else

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static long  mallocs;


void *
malloc(size_t size)
{
    mallocs++;
    return __libc_malloc(size);
}


void *
calloc(size_t n, size_t size)
{
    mallocs++;
    return __libc_calloc(n, size);
}


void *
realloc(void *p, size_t size)
{
    mallocs++;
    return __libc_realloc(p, size);
}


void
free(void *p)
{
    __libc_free(p);
}


static void
test_no_malloc(void)
{
    int                  i, k, rc;
    long                 before, warmup;
    char                *ev[3], *big;
    size_t               len[3], n;
    sink_t               s;
    void                *volatile        probe;
    tokenroute_stream_t  st;
    static const char    *warm[2] = {
        AN_START AN_TEXT_START("0"),
        OA_C("{`role`:`assistant`}", "null")
    };
    static const char    *events[2][2] = {
        { AN_TEXT("0", "some text \\u00e9 with \\`escapes\\`\\n"),
          AN_TEXT("0", "more") },
        { OA_C("{`content`:`text \\u00e9 \\`q\\`\\n`}", "null"),
          "data: {`id`:`x`,`choices`:[{`index`:0,`delta`:{`tool_calls`:[{"
          "`index`:0,`function`:{`arguments`:`{\\`a\\`:[1,2,3]`}}]}}]}\n\n" }
    };

    /* through libc: valgrind takes over the calls from other objects */

    before = mallocs;
    probe = strdup("x");
    free(probe);

    if (mallocs == before) {
        printf("ok %d # SKIP malloc is not counted here\n", ++tests);
        printf("ok %d # SKIP malloc is not counted here\n", ++tests);
        return;
    }

    /* a 24K text of escapes: yajl decodes it in a buffer beyond the arena */

    n = 24 * 1024;

    big = malloc(n * 2 + 1);
    if (big == NULL) {
        exit(2);
    }

    for (i = 0; i < (int) n; i++) {
        big[2 * i] = '\\';
        big[2 * i + 1] = 'n';
    }

    big[2 * n] = '\0';

    for (k = 0; k < 2; k++) {
        memset(&s, 0, sizeof(sink_t));
        s.discard = 1;

        ev[0] = q(warm[k]);
        rc = tokenroute_stream_init(&st, k == 0 ? AN : OA, k == 0 ? OA : AN,
                                    MODEL, strlen(MODEL), 1, sink_emit, &s);
        rc |= tokenroute_stream_feed(&st, ev[0], strlen(ev[0]));
        free(ev[0]);

        ev[0] = q(events[k][0]);
        ev[1] = q(events[k][1]);
        ev[2] = malloc(2 * n + 200);

        if (ev[2] == NULL) {
            exit(2);
        }

        if (k == 0) {
            sprintf(ev[2], "data: {\"type\":\"content_block_delta\","
                    "\"index\":0,\"delta\":{\"type\":\"text_delta\","
                    "\"text\":\"%s\"}}\n\n", big);

        } else {
            sprintf(ev[2], "data: {\"choices\":[{\"index\":0,\"delta\":"
                    "{\"content\":\"%s\"}}]}\n\n", big);
        }

        for (i = 0; i < 3; i++) {
            len[i] = strlen(ev[i]);
        }

        before = mallocs;

        for (i = 0; i < 100; i++) {
            rc |= tokenroute_stream_feed(&st, ev[i % 3], len[i % 3]);
        }

        warmup = mallocs - before;
        before = mallocs;

        for (i = 0; i < 10000; i++) {
            rc |= tokenroute_stream_feed(&st, ev[i % 3], len[i % 3]);
        }

        ok(rc == 0 && mallocs == before && warmup > 0 && s.calls >= 10100,
           "stream %s: no malloc for 10000 events after %ld in warm-up (%ld)",
           k == 0 ? "anthropic to openai" : "openai to anthropic", warmup,
           mallocs - before);

        tokenroute_stream_free(&st);

        free(ev[0]);
        free(ev[1]);
        free(ev[2]);
        free(s.p);
    }

    free(big);
}

#endif


/* helpers */



/* the fixture with its backquotes turned into double quotes */

static char *
q(const char *s)
{
    char    *p;
    size_t   i, len;

    len = strlen(s);

    p = malloc(len + 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    for (i = 0; i <= len; i++) {
        p[i] = (s[i] == '`') ? '"' : s[i];
    }

    return p;
}


static int
json_same(const char *got, size_t got_len, const char *expect, char *why,
    size_t why_len)
{
    int        rc;
    char      *g, err[256];
    yajl_val   a, b;

    g = malloc(got_len + 1);
    if (g == NULL) {
        exit(2);
    }

    memcpy(g, got, got_len);
    g[got_len] = '\0';

    a = yajl_tree_parse(g, err, sizeof(err));
    if (a == NULL) {
        snprintf(why, why_len, "output is not JSON: %s", err);
        free(g);
        return 0;
    }

    b = yajl_tree_parse(expect, err, sizeof(err));
    if (b == NULL) {
        snprintf(why, why_len, "the fixture is not JSON: %s", err);
        yajl_tree_free(a);
        free(g);
        return 0;
    }

    rc = json_equal(a, b, why, why_len);

    yajl_tree_free(a);
    yajl_tree_free(b);
    free(g);

    return rc;
}


/* key order and the values of "created" do not matter */

static int
json_equal(yajl_val a, yajl_val b, char *why, size_t why_len)
{
    size_t       i, k;
    const char  *key;

    if (a->type != b->type) {
        snprintf(why, why_len, "types differ");
        return 0;
    }

    switch (a->type) {

    case yajl_t_string:
        if (strcmp(a->u.string, b->u.string) != 0) {
            snprintf(why, why_len, "\"%s\" != \"%s\"", a->u.string,
                     b->u.string);
            return 0;
        }

        return 1;

    case yajl_t_number:
        if (strcmp(a->u.number.r, b->u.number.r) != 0) {
            snprintf(why, why_len, "%s != %s", a->u.number.r,
                     b->u.number.r);
            return 0;
        }

        return 1;

    case yajl_t_object:
        if (a->u.object.len != b->u.object.len) {
            snprintf(why, why_len, "objects of %zu and %zu keys",
                     a->u.object.len, b->u.object.len);
            return 0;
        }

        for (i = 0; i < a->u.object.len; i++) {
            key = a->u.object.keys[i];

            for (k = 0; k < b->u.object.len; k++) {
                if (strcmp(key, b->u.object.keys[k]) == 0) {
                    break;
                }
            }

            if (k == b->u.object.len) {
                snprintf(why, why_len, "unexpected key \"%s\"", key);
                return 0;
            }

            if (strcmp(key, "created") == 0
                && a->u.object.values[i]->type == yajl_t_number
                && b->u.object.values[k]->type == yajl_t_number)
            {
                continue;
            }

            if (!json_equal(a->u.object.values[i], b->u.object.values[k],
                            why, why_len))
            {
                return 0;
            }
        }

        return 1;

    case yajl_t_array:
        if (a->u.array.len != b->u.array.len) {
            snprintf(why, why_len, "arrays of %zu and %zu values",
                     a->u.array.len, b->u.array.len);
            return 0;
        }

        for (i = 0; i < a->u.array.len; i++) {
            if (!json_equal(a->u.array.values[i], b->u.array.values[i], why,
                            why_len))
            {
                return 0;
            }
        }

        return 1;

    default:
        return 1;
    }
}


static int
sink_emit(void *ctx, const char *p, size_t len)
{
    sink_t  *s = ctx;

    s->calls++;

    if (s->fail_at && s->calls >= s->fail_at) {
        return -1;
    }

    if (s->discard) {
        s->len += len;
        return 0;
    }

    if (s->len + len + 1 > s->size) {
        s->size = (s->len + len + 1) * 2;
        s->p = realloc(s->p, s->size);

        if (s->p == NULL) {
            exit(2);
        }
    }

    memcpy(s->p + s->len, p, len);
    s->len += len;
    s->p[s->len] = '\0';

    return 0;
}


/* "created":<digits> becomes "created":0: time may tick between runs */

static void
normalize_created(sink_t *s)
{
    char    *p, *d, *e;
    size_t   n;

    if (s->p == NULL) {
        return;
    }

    for (p = strstr(s->p, "\"created\":"); p != NULL;
         p = strstr(p + 1, "\"created\":"))
    {
        d = p + 10;

        for (e = d; *e >= '0' && *e <= '9'; e++) {
            /* void */
        }

        if (e == d) {
            continue;
        }

        *d = '0';
        n = s->len - (e - s->p);
        memmove(d + 1, e, n + 1);
        s->len -= e - d - 1;
    }
}


/* fed in two pieces at cut, or one byte at a time */

static int
run_stream(const stream_case_t *c, const char *in, size_t len, size_t cut,
    int bytewise, sink_t *out)
{
    int                   rc;
    size_t                i;
    tokenroute_stream_t   st;

    out->len = 0;
    out->calls = 0;

    if (out->p != NULL) {
        out->p[0] = '\0';
    }

    if (tokenroute_stream_init(&st, c->from, c->to, MODEL, strlen(MODEL),
                               c->include_usage, sink_emit, out)
        != 0)
    {
        return -1;
    }

    rc = 0;

    if (bytewise) {
        for (i = 0; i < len && rc == 0; i++) {
            rc = tokenroute_stream_feed(&st, in + i, 1);
        }

    } else {
        rc = tokenroute_stream_feed(&st, in, cut);

        if (rc == 0) {
            rc = tokenroute_stream_feed(&st, in + cut, len - cut);
        }
    }

    if (rc == 0) {
        rc = tokenroute_stream_finish(&st, c->complete);
    }

    tokenroute_stream_free(&st);

    normalize_created(out);

    return rc;
}


static int
events_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    event_list_t  *l = ctx;
    sse_event_t   *ev;

    (void) truncated;

    if (l->n == l->size) {
        l->size = l->size ? l->size * 2 : 16;
        l->ev = realloc(l->ev, l->size * sizeof(sse_event_t));

        if (l->ev == NULL) {
            exit(2);
        }
    }

    ev = &l->ev[l->n++];

    ev->event = strndup(event ? event : "", event_len);
    ev->data = strndup(data, data_len);

    if (ev->event == NULL || ev->data == NULL) {
        exit(2);
    }

    return 0;
}


static int
events_parse(const char *p, size_t len, event_list_t *l)
{
    int                rc;
    tokenroute_sse_t   sse;

    memset(l, 0, sizeof(event_list_t));

    if (tokenroute_sse_init(&sse, 1 << 20, events_handler, l) != 0) {
        return -1;
    }

    rc = tokenroute_sse_feed(&sse, p ? p : "", p ? len : 0);

    tokenroute_sse_free(&sse);

    return rc;
}


static void
events_free(event_list_t *l)
{
    int  i;

    for (i = 0; i < l->n; i++) {
        free(l->ev[i].event);
        free(l->ev[i].data);
    }

    free(l->ev);
}


static int
events_same(const char *got, size_t got_len, const char *expect, char *why,
    size_t why_len)
{
    int            i, rc;
    char           sub[400];
    event_list_t   a, b;

    if (events_parse(got, got_len, &a) != 0
        || events_parse(expect, strlen(expect), &b) != 0)
    {
        snprintf(why, why_len, "cannot split into events");
        return 0;
    }

    rc = 1;

    if (a.n != b.n) {
        snprintf(why, why_len, "%d events, expected %d", a.n, b.n);
        rc = 0;
    }

    for (i = 0; rc && i < a.n; i++) {

        if (strcmp(a.ev[i].event, b.ev[i].event) != 0) {
            snprintf(why, why_len, "event %d is \"%s\", expected \"%s\"", i,
                     a.ev[i].event, b.ev[i].event);
            rc = 0;
            break;
        }

        if (strcmp(b.ev[i].data, "[DONE]") == 0
            || strcmp(a.ev[i].data, "[DONE]") == 0
            || b.ev[i].data[0] != '{')
        {
            if (strcmp(a.ev[i].data, b.ev[i].data) != 0) {
                snprintf(why, why_len, "event %d data \"%.100s\"", i,
                         a.ev[i].data);
                rc = 0;
            }

            continue;
        }

        sub[0] = '\0';

        if (!json_same(a.ev[i].data, strlen(a.ev[i].data), b.ev[i].data, sub,
                       sizeof(sub)))
        {
            snprintf(why, why_len, "event %d: %.300s", i, sub);
            rc = 0;
        }
    }

    events_free(&a);
    events_free(&b);

    return rc;
}


/*
 * OpenAI clients get only "data: <one line>\n\n"; Anthropic clients get
 * "event: <type>\ndata: <one line>\n\n" with the type of the data.
 */

static int
framing_ok(const char *p, size_t len, int to, char *why, size_t why_len)
{
    char        *nl, *type, name[64];
    size_t       n;
    const char  *last;

    last = p + len;

    while (p != NULL && p < last) {

        if (to == AN) {
            if (strncmp(p, "event: ", 7) != 0) {
                snprintf(why, why_len, "no event line at \"%.40s\"", p);
                return 0;
            }

            nl = memchr(p, '\n', last - p);
            if (nl == NULL) {
                snprintf(why, why_len, "unterminated event line");
                return 0;
            }

            n = nl - p - 7;

            if (n >= sizeof(name)) {
                snprintf(why, why_len, "long event name");
                return 0;
            }

            memcpy(name, p + 7, n);
            name[n] = '\0';

            p = nl + 1;
        }

        if (last - p < 6 || strncmp(p, "data: ", 6) != 0) {
            snprintf(why, why_len, "no data line at \"%.40s\"", p);
            return 0;
        }

        if (to == AN) {
            type = strstr(p, "\"type\":\"");
            nl = memchr(p, '\n', last - p);

            if (type == NULL || nl == NULL || type > nl
                || strncmp(type + 8, name, strlen(name)) != 0
                || type[8 + strlen(name)] != '"')
            {
                snprintf(why, why_len, "event %s has another type", name);
                return 0;
            }
        }

        /* a relayed event may have several data lines */

        for ( ;; ) {
            nl = memchr(p, '\n', last - p);

            if (nl == NULL || nl + 1 >= last) {
                snprintf(why, why_len, "data not followed by a blank line");
                return 0;
            }

            if (nl[1] == '\n') {
                break;
            }

            p = nl + 1;

            if (last - p < 6 || strncmp(p, "data: ", 6) != 0) {
                snprintf(why, why_len, "no data line at \"%.40s\"", p);
                return 0;
            }
        }

        p = nl + 2;
    }

    return 1;
}


/*
 * The tap: every event of the provider's stream, as the SSE parser gives
 * it, before its translation, also after the end and when too large, so
 * that a caller can read the provider's events without parsing the SSE a
 * second time.
 */

static int
tap_event(void *ctx, const char *event, size_t event_len, const char *data,
    size_t len, int truncated)
{
    sink_t  *s = ctx;
    char     head[64];
    int      n;

    n = snprintf(head, sizeof(head), "[%d ", truncated);
    (void) sink_emit(s, head, n);

    /* an event without "event:" comes as (NULL, 0) */
    if (event_len != 0) {
        (void) sink_emit(s, event, event_len);
    }

    (void) sink_emit(s, "|", 1);

    if (len != 0) {
        (void) sink_emit(s, data, len);
    }

    (void) sink_emit(s, "]", 1);

    return 0;
}


static void
test_tap(void)
{
    int                   rc;
    char                 *in, *expect_tap;
    size_t                n;
    sink_t                s, t, plain;
    tokenroute_stream_t   st;

    in = q(AN_START AN_TEXT("0", "a") "data: [DONE]\n\n"
           "event: ping\ndata: {`type`:`ping`}\n\n");

    expect_tap = q("[0 message_start|{`type`:`message_start`,`message`:{"
                   "`id`:`msg_01abc`,");

    /* the translation is the same with a tap as without */

    memset(&plain, 0, sizeof(sink_t));

    rc = tokenroute_stream_init(&st, AN, OA, MODEL, strlen(MODEL), 1,
                                sink_emit, &plain);
    rc |= tokenroute_stream_feed(&st, in, strlen(in));
    rc |= tokenroute_stream_finish(&st, 1);
    tokenroute_stream_free(&st);

    memset(&s, 0, sizeof(sink_t));
    memset(&t, 0, sizeof(sink_t));

    rc |= tokenroute_stream_init(&st, AN, OA, MODEL, strlen(MODEL), 1,
                                 sink_emit, &s);
    st.tap = tap_event;
    st.tap_ctx = &t;

    rc |= tokenroute_stream_feed(&st, in, strlen(in));
    rc |= tokenroute_stream_finish(&st, 1);
    tokenroute_stream_free(&st);

    normalize_created(&plain);
    normalize_created(&s);

    ok(rc == 0 && s.len == plain.len && memcmp(s.p, plain.p, s.len) == 0,
       "tap: the translation unchanged");

    ok(t.len > strlen(expect_tap)
       && memcmp(t.p, expect_tap, strlen(expect_tap)) == 0,
       "tap: the provider's first event as it came: %.*s",
       (int) (t.len < 120 ? t.len : 120), t.p ? t.p : "");

    ok(t.p != NULL && strstr(t.p, "[0 content_block_delta|") != NULL
       && strstr(t.p, "|[DONE]]") != NULL
       && strstr(t.p, "[0 ping|{\"type\":\"ping\"}]") != NULL,
       "tap: every event, also after [DONE]");

    free(s.p);
    free(t.p);

    /* fed after the client's stream has ended: still tapped, not sent */

    free(in);
    in = q(AN_START AN_TEXT_START("0") AN_TEXT("0", "a") AN_STOP("0")
           AN_DELTA("end_turn", "{`output_tokens`:7}") AN_MSG_STOP);

    memset(&s, 0, sizeof(sink_t));
    memset(&t, 0, sizeof(sink_t));

    rc = tokenroute_stream_init(&st, AN, OA, MODEL, strlen(MODEL), 1,
                                sink_emit, &s);
    st.tap = tap_event;
    st.tap_ctx = &t;

    rc |= tokenroute_stream_feed(&st, in, strlen(in));

    n = s.len;

    rc |= tokenroute_stream_feed(&st, "event: ping\ndata: {}\n\n", 22);
    rc |= tokenroute_stream_finish(&st, 1);
    tokenroute_stream_free(&st);

    ok(rc == 0 && n > 0 && s.len == n
       && t.p != NULL && strstr(t.p, "[0 ping|{}]") != NULL,
       "tap: an event fed after the end is tapped, nothing more is sent");

    free(s.p);
    free(t.p);
    free(plain.p);
    free(in);
    free(expect_tap);
}
