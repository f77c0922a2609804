
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the translated stream's fast path
 * (src/tokenroute_translate_stream_scan.c): an Anthropic stream turned
 * into OpenAI chunks with the fast path and with every event through the
 * JSON tree (tree_only) must give the same bytes to the client, event
 * for event, and the same usage, read as the filter reads it (its tap,
 * ngx_http_tokenroute_tap(): the translator's tap_bytes counted when set,
 * else tokenroute_usage_event()), with the same flags.  Inputs: the bench
 * fixture, hand-written events (escapes, duplicates, reordered or extra
 * members, odd types and numbers, broken JSON), and generated streams of
 * them mutated byte by byte.  TOKENROUTE_DIFF_N sets how many generated
 * streams (default 3000).  argv[1] is the repository (for bench/mock).
 * Prints TAP.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_translate_response.h>
#include <tokenroute_translate_stream_tap.h>
#include <tokenroute_usage.h>

#include "tap.h"


#define AN          TOKENROUTE_SHAPE_ANTHROPIC
#define OA          TOKENROUTE_SHAPE_OPENAI
#define MODEL       "claude-test"
#define MAX_SHOWN   6


typedef struct {
    char                *p;
    size_t               len;
    size_t               size;
} sink_t;


/* one side: the client's bytes, the usage as the filter reads it */
typedef struct {
    sink_t               out;
    sink_t               flags;     /* each event's flags, in order */
    tokenroute_usage_t   usage;
    unsigned             hints;     /* events the usage reader was told */
    unsigned             fast;      /* 1: the fast side */
    tokenroute_stream_t *st;
} side_t;


static int sink_emit(void *ctx, const char *p, size_t len);
static int tap(void *ctx, const char *event, size_t event_len,
    const char *data, size_t len, int truncated);
static int run(const char *in, size_t len, int include_usage, int complete,
    size_t piece, unsigned *hints, int *tree_used);
static void add_event(sink_t *s, const char *event, const char *data);
static uint32_t rnd(void);
static void mutate(sink_t *s);


static uint32_t  seed = 20261206;
static int       shown;


/* Anthropic events: [event name, data]; ` stands for " */
static const char  *events[][2] = {
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_01X`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude`,`content`:[],"
      "`stop_reason`:null,`usage`:{`input_tokens`:231,"
      "`cache_creation_input_tokens`:5,`cache_read_input_tokens`:7,"
      "`output_tokens`:1}}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:0,"
      "`content_block`:{`type`:`text`,`text`:``}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:1,"
      "`content_block`:{`type`:`tool_use`,`id`:`toolu_1`,`name`:`get`,"
      "`input`:{}}}" },
    { "ping", "{`type`:`ping`}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`Hello there`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`a\\`quote\\` and\\n\\u00e9"
      "\\ud83d\\ude00 \\\\ \\/`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:``}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:1,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`{\\`a\\`: 1`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:1,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`x`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`thinking_delta`,`thinking`:`hmm \\t`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`signature_delta`,`signature`:`abc`}}" },
    /* the odd ones */
    { "content_block_delta", "{`index`:0,`type`:`content_block_delta`,"
      "`delta`:{`text`:`rev`,`type`:`text_delta`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`one`,`text`:`two`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`a`,`thinking`:`b`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`a`},`delta`:{`type`:`x`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:1.0,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`y`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:`1`,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`y`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`z`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,"
      "`index`:123456789012345678901,"
      "`delta`:{`type`:`text_delta`,`text`:`big`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,"
      "`index`:1234567890123456789,"
      "`delta`:{`type`:`text_delta`,`text`:`long`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:[`text_delta`]}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:7,`text`:`n`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:7}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`t\\u0065xt`:`esc key`}}" },
    { "content_block_delta", "{`t\\u0079pe`:`content_block_delta`,"
      "`index`:0,`delta`:{`type`:`text_delta`,`text`:`esc`}}" },
    { "content_block_delta", "{`type`:`content_block_\\u0064elta`,"
      "`index`:0,`delta`:{`type`:`text_delta`,`text`:`esc type`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text\\u005fdelta`,`text`:`esc dtype`}}" },
    { "content_block_delta", " { `type` : `content_block_delta` , "
      "`index` : 0 , `delta` : { `type` : `text_delta` , `text` : `sp` } "
      "} " },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`x`},`usage`:"
      "{`output_tokens`:99}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`error`:{`type`:`e`},`delta`:{`type`:`text_delta`,`text`:`e`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`x`,`extra`:[1,{`a`:[]}]}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`nul \\u0000 byte`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`lone \\ud800 x`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`\xc3\xa9 raw \xff`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`trailing`}} x" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`open`}} `" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`cut`" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`v`}}\v" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`num`,`n`:1e999}}" },
    { "content_block_delta", "[`content_block_delta`]" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:2,"
      "`content_block`:{`type`:`tool_use`,`id`:`toolu_\\u0031`,"
      "`name`:`n`}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:2,"
      "`content_block`:{`type`:`tool_use`,`id`:7,`name`:[`x`],"
      "`name`:`late`,`input`:{}}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:1.0,"
      "`content_block`:{`type`:`tool_use`,`id`:`t1`,`name`:`f`}}" },
    { "content_block_start", "{`content_block`:{`type`:`text`,"
      "`type`:`tool_use`,`id`:`t2`},`type`:`content_block_start`,"
      "`index`:`1`}" },
    { "content_block_start", "{`type`:`content_block_start`,"
      "`content_block`:{`name`:`g`,`id`:`t3`,`type`:`tool_use`}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:0,"
      "`content_block`:[`tool_use`]}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:0,"
      "`content_block`:{`type`:`thinking`,`thinking`:``}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:3,"
      "`content_block`:{`type`:`server_tool_use`,`id`:`s`,`name`:`w`},"
      "`content_block`:{`type`:`tool_use`}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:1,"
      "`content_block`:{`type`:`tool_\\u0075se`,`id`:`t4`,`name`:`e`}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:1,"
      "`content_block`:{`type`:`tool_use`,`id`:`t5`,`n\\u0061me`:`e`}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_2`,"
      "`usage`:{`input_tokens`:10,`cache_creation_input_tokens`:5,"
      "`cache_creation`:{`ephemeral_5m_input_tokens`:3,"
      "`ephemeral_1h_input_tokens`:4},`output_tokens`:2}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`nomsg`,"
      "`usage`:{`input_tokens`:10,`input_tokens`:20,"
      "`cache_creation`:{`ephemeral_5m_input_tokens`:-3,"
      "`ephemeral_1h_input_tokens`:4},`cache_creation`:{"
      "`ephemeral_5m_input_tokens`:300}}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_3`,"
      "`usage`:{`input_tokens`:1e2,`output_tokens`:2}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_\\u0034`,"
      "`usage`:{`input_tokens`:7}}}" },
    { "message_start", "{`message`:{`id`:5,`usage`:[1,2],`id`:`msg_x`},"
      "`type`:`message_start`,`usage`:{`input_tokens`:99}}" },
    { "message_start", "{`type`:`message_start`,`message`:`str`}" },
    { "message_start", "{`type`:`message_start`,`message`:{`usage`:"
      "{`input_tokens`:{`a`:1},`output_tokens`:[3],"
      "`cache_read_input_tokens`:`12`,`cache_creation_input_tokens`:-8}},"
      "`message`:{`id`:`msg_second`}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_big`,"
      "`usage`:{`input_tokens`:9223372036854775807,"
      "`cache_creation`:{`ephemeral_1h_input_tokens`:2305843009213693951,"
      "`ephemeral_1h_input_tokens`:1,`x`:{}},"
      "`cache_creation_input_tokens`:2305843009213693952}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_c`,"
      "`usage`:{`cache_creation`:[1],`cache_creation_input_tokens`:6,"
      "`cache_read_input_tokens`:4,`output_tokens`:1e0}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_k`,"
      "`usage`:{`inp\\u0075t_tokens`:5}}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`max_tokens`},`usage`:{`output_tokens`:50,`input_tokens`:300}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`tool_use`,`stop_reason`:`end_turn`},`usage`:{`output_tokens`:1.5}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`max\\u005ftokens`},`usage`:{`output_tokens`:3}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:null},"
      "`usage`:`none`,`usage`:{`output_tokens`:77}}" },
    { "message_delta", "{`usage`:{`output_tokens`:60},`delta`:[1],"
      "`type`:`message_delta`,`delta`:{`stop_reason`:`stop_sequence`}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`text`:`t`,"
      "`stop_reason`:`refusal`,`x`:[{}]},`usage`:{`output_tokens`:-1}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`pause_turn`},`usage`:{`output_tokens`:5,`cache_creation`:"
      "{`ephemeral_5m_input_tokens`:9}}}" },
    { "", "{`type`:`message_delta`,`delta`:{`stop_reason`:`end_turn`}}" },
    { "message_delta", "{`delta`:{`stop_reason`:`end_turn`},"
      "`usage`:{`output_tokens`:8}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:01,"
      "`delta`:{`type`:`text_delta`,`text`:`zero`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:10,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`ten`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,"
      "`index`:123456789012345678,"
      "`delta`:{`type`:`text_delta`,`text`:`18`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`ctl \x01 byte`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`end \\`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`a`}},`x`:`b`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`a`,`b`:`c`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`a\\`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`\\u12`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`x`},`error`:{`type`:`e`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:2.0,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`two`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:2,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`two`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:1,"
      "`index`:2,`delta`:{`type`:`input_json_delta`,`partial_json`:`i`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`t`},`type`:`ping`}" },
    { "error", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`named error`}}" },
    { "content_block_delta", "{`delta`:{`type`:`text_delta`,`text`:`t`}}" },
    { "message_stop", "{`delta`:{`type`:`text_delta`,`text`:`t`}}" },
    { "content_block_delta", "{`type`:null,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`null type`}}" },
    { "content_block_delta", "{`type`:`content_block_stop`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`other type`}}" },
    { "content_block_delta", "{`type`:`ping`,`type`:`content_block_delta`}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:-0,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:`neg`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:1,"
      "`delta`:{`type`:`input_json_delta`,`partial_json`:``}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`thinking_delta`,`thinking`:`a`,`signature`:`s`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`thinking`:`mismatch`}}" },
    { "content_block_delta", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{}}" },
    { "content_block_delta", "{}" },
    { "content_block_delta", "not json" },
    { "", "{`type`:`content_block_delta`,`index`:0,"
      "`delta`:{`type`:`text_delta`,`text`:`no event name`}}" },
    { "ping", "{`type`:`ping`} " },
    { "ping", "{`type`:`message_stop`}" },
    { "message_stop", "{`type`:`ping`}" },
    { "error", "{`type`:`ping`}" },
    { "content_block_stop", "{`type`:`content_block_stop`,`index`:12}" },
    { "content_block_stop", "{`type`:`content_block_stop`,`index`:012}" },
    { "content_block_stop", "{`type`:`content_block_stop`,`index`:-1}" },
    { "content_block_stop", "{`type`:`content_block_stop`,`index`:}" },
    { "content_block_stop", "{`type`:`content_block_stop`,"
      "`index`:1234567890123456789}" },
    { "content_block_stop", "{`type`:`content_block_stop`,`index`:0}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:3,"
      "`content_block`:{`type`:`text`,`text`:``}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:10,`cache_creation_input_tokens`:20,"
      "`cache_read_input_tokens`:30,`output_tokens`:1}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:10,`cache_creation_input_tokens`:20,"
      "`cache_read_input_tokens`:30,`output_tokens`:1,"
      "`service_tier`:`standard`}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:10,`cache_creation_input_tokens`:20,"
      "`cache_read_input_tokens`:30,`cache_creation`:"
      "{`ephemeral_5m_input_tokens`:5,`ephemeral_1h_input_tokens`:15},"
      "`output_tokens`:1,`service_tier`:`standard`}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg\\u0041`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:10,`cache_creation_input_tokens`:0,"
      "`cache_read_input_tokens`:0,`output_tokens`:1}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_\xc3\xa9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:10,`cache_creation_input_tokens`:0,"
      "`cache_read_input_tokens`:0,`output_tokens`:1}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:010,`cache_creation_input_tokens`:0,"
      "`cache_read_input_tokens`:0,`output_tokens`:1}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:1234567890123456789,`cache_creation_input_tokens`:0,"
      "`cache_read_input_tokens`:0,`output_tokens`:1}}}" },
    { "message_start", "{`type`:`message_start`,`message`:{`id`:`msg_9`,"
      "`type`:`message`,`role`:`assistant`,`model`:`claude-x`,"
      "`content`:[],`stop_reason`:null,`stop_sequence`:null,`usage`:"
      "{`input_tokens`:5,`cache_creation_input_tokens`:0,"
      "`cache_read_input_tokens`:0,`output_tokens`:1,"
      "`service_tier`:`priority`}}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:03,"
      "`content_block`:{`type`:`text`,`text`:``}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:0,"
      "`content_block`:{`type`:`text`,`text`:`x`}}" },
    { "content_block_start", "{`type`:`content_block_start`,`index`:0,"
      "`content_block`:{`type`:`thinking`,`thinking`:``}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`max_tokens`,`stop_sequence`:null},`usage`:{`output_tokens`:0}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`end_turn`,`stop_sequence`:null},`usage`:{`output_tokens`:042}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`end_turn`,`stop_sequence`:null},`usage`:{`output_tokens`:"
      "1234567890123456789}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`end_turn`,`stop_sequence`:null},`usage`:{`output_tokens`:"
      "123456789012345678}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`end\\u005fturn`,`stop_sequence`:null},`usage`:{`output_tokens`:7}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`stop_sequence`,`stop_sequence`:`x`},`usage`:{`output_tokens`:7}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "``,`stop_sequence`:null},`usage`:{`output_tokens`:7}}" },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`end_turn`,`stop_sequence`:null},`usage`:{`output_tokens`:7}} " },
    { "message_delta", "{`type`:`message_delta`,`delta`:{`stop_reason`:"
      "`end_turn`,`stop_sequence`:null},`usage`:{`output_tokens`:42}}" },
    { "message_stop", "{`type`:`message_stop`}" },
    { "message_stop", "{`type`:`message_stop`,`x`:[1,2]}" },
    { "error", "{`type`:`error`,`error`:{`type`:`overloaded_error`,"
      "`message`:`Overloaded`}}" },
};

#define NEVENTS  (sizeof(events) / sizeof(events[0]))

/* the first events that make a well-formed stream start */
#define EV_START         0
#define EV_TEXT_START    1
#define EV_TOOL_START    2
#define EV_PLAIN_FIRST   3
#define EV_PLAIN_LAST    10
#define EV_MESSAGE_DELTA (NEVENTS - 4)
#define EV_MESSAGE_STOP  (NEVENTS - 3)


int
main(int argc, char **argv)
{
    int        i, k, tree_used, same, n, all_same, complete, iu;
    char      *file, *p;
    FILE      *f;
    size_t     len, piece;
    sink_t     in;
    unsigned   hints, total_hints;

    n = (getenv("TOKENROUTE_DIFF_N") != NULL)
        ? atoi(getenv("TOKENROUTE_DIFF_N")) : 3000;

    /* 1. the bench fixture: the fast path taken, the same answer */

    memset(&in, 0, sizeof(sink_t));

    if (argc > 1) {
        len = strlen(argv[1]) + sizeof("/bench/mock/anthropic.sse");
        file = malloc(len);

        if (file != NULL) {
            snprintf(file, len, "%s/bench/mock/anthropic.sse", argv[1]);
            f = fopen(file, "rb");

            if (f != NULL) {
                in.size = 1 << 16;
                in.p = malloc(in.size);
                in.len = (in.p != NULL) ? fread(in.p, 1, in.size, f) : 0;
                fclose(f);
            }

            free(file);
        }
    }

    ok(in.len > 0, "bench/mock/anthropic.sse read");

    for (iu = 0; iu < 2 && in.len > 0; iu++) {
        same = run(in.p, in.len, iu, 1, 0, &hints, &tree_used);

        ok(same && hints >= 20 && !tree_used, "bench fixture "
           "(include_usage %d): same bytes and usage, %u of its deltas "
           "counted from the translator, tree used %d", iu, hints,
           tree_used);
    }

    free(in.p);

    /* 2. each event alone, after a stream's start, split at every offset */

    all_same = 1;
    total_hints = 0;

    for (i = 0; i < (int) NEVENTS; i++) {
        memset(&in, 0, sizeof(sink_t));
        add_event(&in, events[EV_START][0], events[EV_START][1]);
        add_event(&in, events[EV_TOOL_START][0], events[EV_TOOL_START][1]);
        add_event(&in, events[i][0], events[i][1]);

        for (piece = 0; piece <= in.len; piece += 7) {
            same = run(in.p, in.len, 1, 1, piece, &hints, &tree_used);

            if (!same) {
                all_same = 0;
                break;
            }
        }

        total_hints += hints;

        /* and at the very end, without its blank line */

        in.len--;
        all_same &= run(in.p, in.len, 0, 1, 0, &hints, &tree_used);
        in.len--;
        all_same &= run(in.p, in.len, 1, 0, 0, &hints, &tree_used);

        free(in.p);
    }

    ok(all_same && total_hints > 10, "%d hand-written events: the same "
       "bytes and usage both ways (%u counted from the translator)",
       (int) NEVENTS, total_hints);

    /* 3. a stream of plain deltas: the tree is never used */

    memset(&in, 0, sizeof(sink_t));

    for (i = EV_PLAIN_FIRST + 1; i <= EV_PLAIN_LAST; i++) {
        add_event(&in, events[i][0], events[i][1]);
    }

    add_event(&in, "message_start", "{`type`:`message_start`,`message`:"
              "{`id`:`msg_1`,`type`:`message`,`role`:`assistant`,"
              "`model`:`claude-x`,`content`:[],`stop_reason`:null,"
              "`stop_sequence`:null,`usage`:{`input_tokens`:7,"
              "`cache_creation_input_tokens`:3,`cache_read_input_tokens`:2,"
              "`output_tokens`:1}}}");
    add_event(&in, "ping", "{`type`:`ping`}");
    add_event(&in, "content_block_start", "{`type`:`content_block_start`,"
              "`index`:1,`content_block`:{`type`:`text`,`text`:``}}");
    add_event(&in, "content_block_stop",
              "{`type`:`content_block_stop`,`index`:0}");
    add_event(&in, "message_delta", "{`type`:`message_delta`,`delta`:"
              "{`stop_reason`:`end_turn`,`stop_sequence`:null},"
              "`usage`:{`output_tokens`:42}}");
    add_event(&in, "message_stop", "{`type`:`message_stop`}");

    same = run(in.p, in.len, 1, 1, 0, &hints, &tree_used);

    /*
     * message_start with its counts, ping, a text block's start,
     * content_block_stop, message_delta with its output count and
     * message_stop: nothing left to read
     */

    ok(same && !tree_used && hints == 12,
       "plain deltas and the other events as Anthropic sends them: the "
       "fast path alone (tree used %d, %u counted from the translator)",
       tree_used, hints);

    free(in.p);

    /* 4. generated streams, mutated */

    all_same = 1;
    total_hints = 0;

    for (k = 0; k < n; k++) {
        memset(&in, 0, sizeof(sink_t));

        if (rnd() % 4 != 0) {
            add_event(&in, events[EV_START][0], events[EV_START][1]);
            i = (rnd() % 2) ? EV_TEXT_START : EV_TOOL_START;
            add_event(&in, events[i][0], events[i][1]);
        }

        for (i = rnd() % 12; i > 0; i--) {
            if (rnd() % 3 == 0) {
                p = (char *) events[rnd() % NEVENTS][1];
                add_event(&in, events[rnd() % NEVENTS][0], p);

            } else {
                add_event(&in, "content_block_delta",
                          events[EV_PLAIN_FIRST + 1
                                 + rnd() % (EV_PLAIN_LAST - EV_PLAIN_FIRST)]
                                [1]);
            }
        }

        if (rnd() % 2) {
            i = (rnd() % 2) ? EV_MESSAGE_DELTA : EV_MESSAGE_STOP;
            add_event(&in, events[i][0], events[i][1]);
        }

        for (i = rnd() % 4; i > 0; i--) {
            mutate(&in);
        }

        complete = rnd() % 4 != 0;
        piece = (rnd() % 3 == 0) ? 1 + rnd() % 40 : 0;

        same = run(in.p, in.len, rnd() % 2, complete, piece, &hints,
                   &tree_used);

        total_hints += hints;

        if (!same) {
            all_same = 0;
        }

        free(in.p);
    }

    ok(all_same && (n < 100 || total_hints > (unsigned) n),
       "%d generated streams: the same bytes and usage both ways "
       "(%u events counted from the translator)", n, total_hints);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


/*
 * One input both ways: 1 if the bytes, the usage and the flags are the
 * same; *hints: events the fast side's usage reader was told of;
 * *tree_used: the fast side parsed an event into its tree.
 */

static int
run(const char *in, size_t len, int include_usage, int complete,
    size_t piece, unsigned *hints, int *tree_used)
{
    int                   i, rc[2], same;
    size_t                off, n;
    side_t                side[2];
    tokenroute_stream_t   st[2];
    tokenroute_usage_t   *a, *b;

    for (i = 0; i < 2; i++) {
        memset(&side[i], 0, sizeof(side_t));
        side[i].fast = (i == 0);
        side[i].st = &st[i];

        rc[i] = tokenroute_stream_init(&st[i], AN, OA, MODEL, strlen(MODEL),
                                       include_usage, sink_emit,
                                       &side[i].out);
        st[i].tap = tap;
        st[i].tap_ctx = &side[i];
        st[i].tree_only = (i == 1);

        if (rc[i] != 0) {
            continue;
        }

        st[i].created = 1700000000;

        for (off = 0; off < len && rc[i] == 0; off += n) {
            n = (piece == 0 || len - off < piece) ? len - off : piece;
            rc[i] = tokenroute_stream_feed(&st[i], in + off, n);
        }

        if (rc[i] == 0) {
            rc[i] = tokenroute_stream_finish(&st[i], complete);
        }
    }

    *tree_used = (st[0].json.root != NULL);
    *hints = side[0].hints;

    a = &side[0].usage;
    b = &side[1].usage;

    same = rc[0] == rc[1]
           && side[0].out.len == side[1].out.len
           && (side[0].out.len == 0
               || memcmp(side[0].out.p, side[1].out.p, side[0].out.len) == 0)
           && side[0].flags.len == side[1].flags.len
           && (side[0].flags.len == 0
               || memcmp(side[0].flags.p, side[1].flags.p,
                         side[0].flags.len) == 0)
           && a->input_tokens == b->input_tokens
           && a->cached_tokens == b->cached_tokens
           && a->cache_write_tokens == b->cache_write_tokens
           && a->cache_write_1h_tokens == b->cache_write_1h_tokens
           && a->output_tokens == b->output_tokens
           && a->content_bytes == b->content_bytes
           && a->seen_input == b->seen_input
           && a->seen_output == b->seen_output
           && a->error == b->error;

    if (!same && shown++ < MAX_SHOWN) {
        printf("# differs (rc %d/%d, content_bytes %lld/%lld):\n# in: "
               "%.*s\n# fast: %.*s\n# tree: %.*s\n", rc[0], rc[1],
               (long long) a->content_bytes, (long long) b->content_bytes,
               (int) (len < 600 ? len : 600), in,
               (int) (side[0].out.len < 600 ? side[0].out.len : 600),
               side[0].out.p ? side[0].out.p : "",
               (int) (side[1].out.len < 600 ? side[1].out.len : 600),
               side[1].out.p ? side[1].out.p : "");
        printf("# flags: %.*s\n# tree flags: %.*s\n",
               (int) side[0].flags.len,
               side[0].flags.p ? side[0].flags.p : "",
               (int) side[1].flags.len,
               side[1].flags.p ? side[1].flags.p : "");
    }

    for (i = 0; i < 2; i++) {
        tokenroute_stream_free(&st[i]);
        free(side[i].out.p);
        free(side[i].flags.p);
    }

    return same;
}


/*
 * The usage read as ngx_http_tokenroute_tap() reads it: the translator's
 * count when it gives one (with no gate: a translated stream), else the
 * usage reader; each event's flags recorded (-1 for a refused event)
 */

static int
tap(void *ctx, const char *event, size_t event_len, const char *data,
    size_t len, int truncated)
{
    int                   flags;
    char                  b[16];
    side_t               *s = ctx;
    tokenroute_stream_t  *st;

    if (truncated) {
        return 0;
    }

    st = s->st;

    flags = tokenroute_stream_tap_usage(st, &s->usage);

    if (flags >= 0) {
        s->hints++;

    } else {
        flags = tokenroute_usage_event(AN, event, event_len, data, len,
                                       &s->usage);
    }

    snprintf(b, sizeof(b), "%d,", flags);
    (void) sink_emit(&s->flags, b, strlen(b));

    return 0;
}


static void
add_event(sink_t *s, const char *event, const char *data)
{
    const char  *p;

    if (event[0] != '\0') {
        (void) sink_emit(s, "event: ", 7);
        (void) sink_emit(s, event, strlen(event));
        (void) sink_emit(s, "\n", 1);
    }

    (void) sink_emit(s, "data: ", 6);

    for (p = data; *p != '\0'; p++) {
        (void) sink_emit(s, (*p == '`') ? "\"" : p, 1);
    }

    (void) sink_emit(s, "\n\n", 2);
}


/* a byte changed, inserted or removed inside a data line */

static void
mutate(sink_t *s)
{
    size_t       at;
    const char  *c;
    static const char  alphabet[] = "\"\\{}[],: u0a9e-.\t\x01\x7f\x80\xff";

    if (s->len < 8) {
        return;
    }

    at = rnd() % s->len;

    if (s->p[at] == '\n' || (at > 0 && s->p[at - 1] == '\n')) {
        return;
    }

    c = &alphabet[rnd() % (sizeof(alphabet) - 1)];

    switch (rnd() % 3) {

    case 0:
        s->p[at] = *c;
        break;

    case 1:
        if (sink_emit(s, "", 0) == 0 && s->len + 1 <= s->size) {
            memmove(s->p + at + 1, s->p + at, s->len - at);
            s->p[at] = *c;
            s->len++;
        }

        break;

    default:
        memmove(s->p + at, s->p + at + 1, s->len - at - 1);
        s->len--;
        break;
    }
}


static int
sink_emit(void *ctx, const char *p, size_t len)
{
    char    *np;
    size_t   size;
    sink_t  *s = ctx;

    if (s->len + len + 1 > s->size) {
        size = (s->size != 0) ? s->size : 256;

        while (size < s->len + len + 1) {
            size *= 2;
        }

        np = realloc(s->p, size);
        if (np == NULL) {
            return -1;
        }

        s->p = np;
        s->size = size;
    }

    if (len > 0) {
        memcpy(s->p + s->len, p, len);
    }

    s->len += len;
    s->p[s->len] = '\0';

    return 0;
}


static uint32_t
rnd(void)
{
    seed = seed * 1103515245 + 12345;

    return seed >> 8;
}
