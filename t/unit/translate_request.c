
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the request translator (src/tokenroute_translate.c):
 * OpenAI Chat Completions <-> Anthropic Messages request bodies, compared
 * with the expected body as JSON values (object key order ignored, numbers
 * by their text), rejections by the field their message names.  Prints
 * TAP.
 *
 * To keep the tables readable, JSON in them is written with ' for " and
 * ` for '.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include <tokenroute_translate.h>

#include "tap.h"


#define OA  TOKENROUTE_SHAPE_OPENAI, TOKENROUTE_SHAPE_ANTHROPIC
#define AO  TOKENROUTE_SHAPE_ANTHROPIC, TOKENROUTE_SHAPE_OPENAI
#define OO  TOKENROUTE_SHAPE_OPENAI, TOKENROUTE_SHAPE_OPENAI
#define AA  TOKENROUTE_SHAPE_ANTHROPIC, TOKENROUTE_SHAPE_ANTHROPIC

/* case flags: options differing from the defaults */
#define F_USAGE      0x01     /* include_usage */
#define F_NO_DEFAULT 0x02     /* default_max_tokens 0 */
#define F_NO_MODEL   0x04     /* opts->model NULL: keep the body's */

/* the start of most requests, and of most expected bodies */
#define OREQ         "{'model':'gpt-4o','messages':"
#define AREQ         "{'model':'claude','max_tokens':100,'messages':"
#define AOUT         "{'model':'up','max_tokens':1024,"
#define OOUT         "{'model':'up','max_tokens':100,"

#define USER_HI      "[{'role':'user','content':'hi'}]"
#define A_USER_HI    "'messages':[{'role':'user','content':'hi'}]"
#define O_USER_HI    "'messages':[{'role':'user','content':'hi'}]"
#define TOOL_GET     "[{'type':'function','function':{'name':'get'}}]"
#define A_TOOL_GET                                                          \
    "'tools':[{'name':'get','input_schema':{'type':'object',"               \
    "'properties':{}}}]"
#define ATOOL_GET    "[{'name':'get','input_schema':{'type':'object'}}]"
#define O_TOOL_GET                                                          \
    "'tools':[{'type':'function','function':{'name':'get',"                 \
    "'parameters':{'type':'object'}}}]"


typedef struct {
    const char  *name;
    int          from;
    int          to;
    int          flags;
    const char  *in;
    const char  *out;         /* the expected body, or NULL */
    const char  *err;         /* else a part of the expected message */
} case_t;


static char *unquote(const char *s);
static int json_equal(yajl_val a, yajl_val b);
static int no_duplicate_keys(yajl_val v);
static int translate(int from, int to, int flags, const char *in,
    size_t len, char **out, char *err, size_t err_size);
static void run_case(const case_t *c);
static void test_round_trips(void);
static void test_bytes(void);
static void test_depth(void);
static char *nest(char *p, size_t n);
static void test_errors(void);




static const case_t  cases[] = {

    /* OpenAI -> Anthropic: messages */

    { "basic", OA, 0, OREQ USER_HI "}",
      AOUT A_USER_HI "}", NULL },

    { "system hoisted", OA, 0,
      OREQ "[{'role':'system','content':'be brief'},"
      "{'role':'user','content':'hi'}]}",
      AOUT "'system':'be brief'," A_USER_HI "}", NULL },

    { "system, developer and parts joined", OA, 0,
      OREQ "[{'role':'system','content':'a'},{'role':'user','content':'hi'},"
      "{'role':'developer','content':[{'type':'text','text':'b'},"
      "{'type':'text','text':'c'}]},{'role':'assistant','content':'yo'},"
      "{'role':'system','content':''}]}",
      AOUT "'system':'a\\n\\nb\\n\\nc','messages':[{'role':'user',"
      "'content':'hi'},{'role':'assistant','content':'yo'}]}", NULL },

    { "empty system left out", OA, 0,
      OREQ "[{'role':'system','content':''},{'role':'user','content':'hi'}]}",
      AOUT A_USER_HI "}", NULL },

    { "system image rejected", OA, 0,
      OREQ "[{'role':'system','content':[{'type':'image_url','image_url':"
      "{'url':'https://x/y.png'}}]},{'role':'user','content':'hi'}]}", NULL,
      "messages[0].content[0]: unsupported content part type \"image_url\" "
      "in a system message" },

    { "user turns merged", OA, 0,
      OREQ "[{'role':'user','content':'a'},{'role':'user','content':'b',"
      "'name':'bob'}]}",
      AOUT "'messages':[{'role':'user','content':[{'type':'text','text':'a'},"
      "{'type':'text','text':'b'}]}]}", NULL },

    { "assistant turns merged, system between", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant','content':'a'},"
      "{'role':'system','content':'s'},"
      "{'role':'assistant','content':[{'type':'text','text':'b'}]}]}",
      AOUT "'system':'s','messages':[{'role':'user','content':'q'},"
      "{'role':'assistant','content':[{'type':'text','text':'a'},"
      "{'type':'text','text':'b'}]}]}", NULL },

    { "merged empty text dropped", OA, 0,
      OREQ "[{'role':'user','content':'a'},{'role':'user','content':''},"
      "{'role':'user','content':[{'type':'text','text':''}]}]}",
      AOUT "'messages':[{'role':'user','content':[{'type':'text','text':'a'}"
      "]}]}", NULL },

    { "lone empty string kept", OA, 0,
      OREQ "[{'role':'user','content':''}]}",
      AOUT "'messages':[{'role':'user','content':''}]}", NULL },

    { "escapes and unicode kept", OA, 0,
      OREQ "[{'role':'user','content':'caf\\u00e9 \\'q\\' \\\\ \\n\\t `s`'}]}",
      AOUT "'messages':[{'role':'user','content':'caf\xc3\xa9 \\'q\\' \\\\ "
      "\\n\\t `s`'}]}", NULL },

    { "text and image parts", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'text','text':'what?'},"
      "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBOR',"
      "'detail':'high'}},{'type':'image_url','image_url':"
      "{'url':'https://example.com/cat.jpg'}},{'type':'image_url',"
      "'image_url':{'url':'HTTP://example.com/dog.gif'}}]}]}",
      AOUT "'messages':[{'role':'user','content':[{'type':'text',"
      "'text':'what?'},{'type':'image','source':{'type':'base64',"
      "'media_type':'image/png','data':'iVBOR'}},{'type':'image','source':"
      "{'type':'url','url':'https://example.com/cat.jpg'}},{'type':'image',"
      "'source':{'type':'url','url':'HTTP://example.com/dog.gif'}}]}]}",
      NULL },

    { "image_url as a bare string, data URL parameters", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'image_url','image_url':"
      "'data:image/jpeg;name=a.jpg;base64,/9j/'}]}]}",
      AOUT "'messages':[{'role':'user','content':[{'type':'image','source':"
      "{'type':'base64','media_type':'image/jpeg','data':'/9j/'}}]}]}",
      NULL },

    { "ftp image rejected", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'image_url','image_url':"
      "{'url':'ftp://x/y.png'}}]}]}", NULL,
      "messages[0].content[0].image_url.url: only http, https and base64 "
      "data: URLs" },

    { "non-base64 data URL rejected", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'image_url','image_url':"
      "{'url':'data:image/svg+xml,<svg/>'}}]}]}", NULL,
      "messages[0].content[0].image_url.url: only" },

    { "data URL without media type rejected", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'image_url','image_url':"
      "{'url':'data:;base64,AAAA'}}]}]}", NULL,
      "messages[0].content[0].image_url.url: the data: URL has no media "
      "type" },

    { "image without url rejected", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'image_url','image_url':{}}]}"
      "]}", NULL, "messages[0].content[0].image_url.url must be a string" },

    { "input_audio rejected, index counts system", OA, 0,
      OREQ "[{'role':'system','content':'s'},{'role':'user','content':["
      "{'type':'text','text':'a'},{'type':'input_audio','input_audio':"
      "{'data':'AAA','format':'wav'}}]}]}", NULL,
      "messages[1].content[1]: unsupported content part type "
      "\"input_audio\"" },

    { "file part rejected", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'file','file':"
      "{'file_id':'f'}}]}]}", NULL,
      "messages[0].content[0]: unsupported content part type \"file\"" },

    { "refusal part rejected", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant','content':"
      "[{'type':'refusal','refusal':'no'}]}]}", NULL,
      "messages[1].content[0]: unsupported content part type \"refusal\"" },

    { "assistant image rejected", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant','content':"
      "[{'type':'image_url','image_url':{'url':'https://x/y.png'}}]}]}", NULL,
      "messages[1].content[0]: unsupported content part type "
      "\"image_url\"" },

    { "part type missing", OA, 0,
      OREQ "[{'role':'user','content':[{'text':'a'}]}]}", NULL,
      "messages[0].content[0]: unsupported content part type \"(none)\"" },

    { "part type sanitized in the message", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'a\\'b\\\\c\\nd\\u00e9'}]}]}",
      NULL, "unsupported content part type \"a?b?c?d??\"" },

    { "long part type cut short", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'"
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      "'}]}]}", NULL,
      "type \"012345678901234567890123456789012345678901234567...\"" },

    { "text part without text", OA, 0,
      OREQ "[{'role':'user','content':[{'type':'text','text':5}]}]}", NULL,
      "messages[0].content[0].text must be a string" },

    { "part not an object", OA, 0,
      OREQ "[{'role':'user','content':['hi']}]}", NULL,
      "messages[0].content[0] must be an object" },

    { "user content null", OA, 0,
      OREQ "[{'role':'user','content':null}]}", NULL,
      "messages[0].content must be a string or an array" },

    { "message not an object", OA, 0,
      OREQ "[{'role':'user','content':'a'},'b']}", NULL,
      "messages[1] must be an object" },

    { "role missing", OA, 0,
      OREQ "[{'content':'a'}]}", NULL, "messages[0].role must be a string" },

    { "role function rejected", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'function','name':'f',"
      "'content':'r'}]}", NULL,
      "messages[1]: role \"function\" is not supported; use \"tool\"" },

    { "unknown role rejected", OA, 0,
      OREQ "[{'role':'critic','content':'q'}]}", NULL,
      "messages[0]: role \"critic\" is not supported" },

    { "assistant first rejected", OA, 0,
      OREQ "[{'role':'system','content':'s'},{'role':'assistant',"
      "'content':'hello'},{'role':'user','content':'hi'}]}", NULL,
      "messages must start with a user message for Anthropic models" },

    { "only system rejected", OA, 0,
      OREQ "[{'role':'system','content':'s'}]}", NULL,
      "\"messages\" must hold a user message" },

    { "messages missing", OA, 0, "{'model':'gpt-4o'}", NULL,
      "\"messages\" must be an array" },

    /* OpenAI -> Anthropic: tool calls and results */

    { "tool round", OA, 0,
      OREQ "[{'role':'user','content':'weather?'},{'role':'assistant',"
      "'content':null,'refusal':null,'tool_calls':[{'id':'call_1',"
      "'type':'function','function':{'name':'get','arguments':"
      "'{\\'city\\':\\'Paris\\',\\'days\\':[1,2.50]}'}}]},"
      "{'role':'tool','tool_call_id':'call_1','content':'sunny'},"
      "{'role':'user','content':'thanks'}]}",
      AOUT "'messages':[{'role':'user','content':'weather?'},"
      "{'role':'assistant','content':[{'type':'tool_use','id':'call_1',"
      "'name':'get','input':{'city':'Paris','days':[1,2.50]}}]},"
      "{'role':'user','content':[{'type':'tool_result','tool_use_id':"
      "'call_1','content':'sunny'},{'type':'text','text':'thanks'}]}]}",
      NULL },

    { "parallel calls, text first, results merged", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':'Let me check.','tool_calls':[{'id':'a','type':'function',"
      "'function':{'name':'f','arguments':'{}'}},{'id':'b','type':"
      "'function','function':{'name':'g','arguments':' {\\'x\\':1} '}}]},"
      "{'role':'tool','tool_call_id':'a','content':'1'},"
      "{'role':'tool','tool_call_id':'b','content':'2'}]}",
      AOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':[{'type':'text','text':'Let me check.'},{'type':'tool_use',"
      "'id':'a','name':'f','input':{}},{'type':'tool_use','id':'b',"
      "'name':'g','input':{'x':1}}]},{'role':'user','content':["
      "{'type':'tool_result','tool_use_id':'a','content':'1'},"
      "{'type':'tool_result','tool_use_id':'b','content':'2'}]}]}", NULL },

    { "empty text beside tool calls dropped, empty arguments", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant','content':'',"
      "'tool_calls':[{'id':'a','type':'function','function':{'name':'f',"
      "'arguments':''}}]}]}",
      AOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':[{'type':'tool_use','id':'a','name':'f','input':{}}]}]}",
      NULL },

    { "arguments as an object, no type", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','function':{'name':'f','arguments':"
      "{'k':'v'}}}]}]}",
      AOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':[{'type':'tool_use','id':'a','name':'f','input':"
      "{'k':'v'}}]}]}", NULL },

    { "assistant with empty tool_calls is plain", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant','content':'a',"
      "'tool_calls':[]}]}",
      AOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':'a'}]}", NULL },

    { "tool result before user text", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'function','function':{'name':'f',"
      "'arguments':'{}'}}]},{'role':'user','content':'wait'},"
      "{'role':'tool','tool_call_id':'a','content':[{'type':'text',"
      "'text':'x'},{'type':'text','text':''},{'type':'text','text':'y'}]}]}",
      AOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':[{'type':'tool_use','id':'a','name':'f','input':{}}]},"
      "{'role':'user','content':[{'type':'tool_result','tool_use_id':'a',"
      "'content':[{'type':'text','text':'x'},{'type':'text','text':'y'}]},"
      "{'type':'text','text':'wait'}]}]}", NULL },

    { "tool result without content", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'function','function':{'name':'f',"
      "'arguments':'{}'}}]},{'role':'tool','tool_call_id':'a'}]}",
      AOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':[{'type':'tool_use','id':'a','name':'f','input':{}}]},"
      "{'role':'user','content':[{'type':'tool_result','tool_use_id':'a'}]}"
      "]}", NULL },

    { "arguments not JSON", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'function','function':{'name':'f',"
      "'arguments':'{\\'x\\':'}}]}]}", NULL,
      "messages[1].tool_calls[0].function.arguments is not valid JSON" },

    { "arguments not an object", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'function','function':{'name':'f',"
      "'arguments':'[1]'}},{'id':'b','type':'function'}]}]}", NULL,
      "messages[1].tool_calls[0].function.arguments must be a JSON object" },

    { "arguments with trailing text", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'function','function':{'name':'f',"
      "'arguments':'{} {}'}}]}]}", NULL,
      "messages[1].tool_calls[0].function.arguments is not valid JSON" },

    { "tool call without id", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'type':'function','function':{'name':'f'}}]}]}", NULL,
      "messages[1].tool_calls[0].id must be a string" },

    { "tool call without name", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'function','function':{}}]}]}", NULL,
      "messages[1].tool_calls[0].function.name must be a string" },

    { "custom tool call rejected", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant',"
      "'tool_calls':[{'id':'a','type':'custom','custom':{'name':'f',"
      "'input':'x'}}]}]}", NULL,
      "messages[1].tool_calls[0]: unsupported tool call type \"custom\"" },

    { "tool message without tool_call_id", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'tool','content':'r'}]}",
      NULL, "messages[1].tool_call_id must be a string" },

    { "tool message image rejected", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'tool','tool_call_id':'a',"
      "'content':[{'type':'image_url','image_url':{'url':'https://x'}}]}]}",
      NULL, "messages[1].content[0]: unsupported content part type "
      "\"image_url\" in a tool message" },

    { "message function_call rejected", OA, 0,
      OREQ "[{'role':'user','content':'q'},{'role':'assistant','content':null,"
      "'function_call':{'name':'f','arguments':'{}'}}]}", NULL,
      "messages[1].function_call is not supported" },

    /* OpenAI -> Anthropic: tools */

    { "tools", OA, 0,
      OREQ USER_HI ",'tools':[{'type':'function','function':{'name':'get',"
      "'description':'Get weather','strict':true,'parameters':{'type':"
      "'object','properties':{'city':{'type':'string'}},'required':"
      "['city'],'additionalProperties':false}}},{'type':'function',"
      "'function':{'name':'now'}},{'type':'function','function':{'name':"
      "'loose','parameters':{'properties':{'a':{'type':'integer'}}}}}]}",
      AOUT A_USER_HI ",'tools':[{'name':'get','description':'Get weather',"
      "'input_schema':{'type':'object','properties':{'city':{'type':"
      "'string'}},'required':['city'],'additionalProperties':false}},"
      "{'name':'now','input_schema':{'type':'object','properties':{}}},"
      "{'name':'loose','input_schema':{'type':'object','properties':{'a':"
      "{'type':'integer'}}}}]}", NULL },

    { "non-function tool rejected", OA, 0,
      OREQ USER_HI ",'tools':[{'type':'function','function':{'name':'a'}},"
      "{'type':'custom','custom':{'name':'b'}}]}", NULL,
      "tools[1]: unsupported tool type \"custom\"" },

    { "tool without name", OA, 0,
      OREQ USER_HI ",'tools':[{'type':'function','function':{}}]}", NULL,
      "tools[0].function.name must be a string" },

    { "tool parameters not an object", OA, 0,
      OREQ USER_HI ",'tools':[{'type':'function','function':{'name':'a',"
      "'parameters':'x'}}]}", NULL,
      "tools[0].function.parameters must be an object" },

    { "tools not an array", OA, 0,
      OREQ USER_HI ",'tools':{}}", NULL, "\"tools\" must be an array" },

    { "tool_choice auto", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':'auto'}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'auto'}}", NULL },

    { "tool_choice none", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':'none'}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'none'}}", NULL },

    { "tool_choice required", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':'required'}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'any'}}", NULL },

    { "tool_choice function", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':{'type':'function',"
      "'function':{'name':'get'}}}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'tool',"
      "'name':'get'}}", NULL },

    { "parallel_tool_calls false alone", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'parallel_tool_calls':false}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'auto',"
      "'disable_parallel_tool_use':true}}", NULL },

    { "parallel_tool_calls false with required", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':'required',"
      "'parallel_tool_calls':false}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'any',"
      "'disable_parallel_tool_use':true}}", NULL },

    { "parallel_tool_calls false with none", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':'none',"
      "'parallel_tool_calls':false}",
      AOUT A_USER_HI "," A_TOOL_GET ",'tool_choice':{'type':'none'}}", NULL },

    { "parallel_tool_calls true", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'parallel_tool_calls':true}",
      AOUT A_USER_HI "," A_TOOL_GET "}", NULL },

    { "tool_choice without tools dropped", OA, 0,
      OREQ USER_HI ",'tool_choice':'required','parallel_tool_calls':false}",
      AOUT A_USER_HI "}", NULL },

    { "empty tools dropped with tool_choice", OA, 0,
      OREQ USER_HI ",'tools':[],'tool_choice':'auto'}",
      AOUT A_USER_HI "}", NULL },

    { "tool_choice unknown string", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':'sometimes'}", NULL,
      "unsupported \"tool_choice\" \"sometimes\"" },

    { "tool_choice allowed_tools", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':{'type':"
      "'allowed_tools','allowed_tools':{'mode':'auto','tools':[]}}}", NULL,
      "unsupported \"tool_choice\" of type \"allowed_tools\"" },

    { "tool_choice function without name", OA, 0,
      OREQ USER_HI ",'tools':" TOOL_GET ",'tool_choice':{'type':"
      "'function'}}", NULL, "tool_choice.function.name must be a string" },

    /* OpenAI -> Anthropic: parameters */

    { "max_tokens", OA, 0, OREQ USER_HI ",'max_tokens':100}",
      "{'model':'up','max_tokens':100," A_USER_HI "}", NULL },

    { "max_completion_tokens wins", OA, 0,
      OREQ USER_HI ",'max_completion_tokens':50,'max_tokens':100}",
      "{'model':'up','max_tokens':50," A_USER_HI "}", NULL },

    { "max_tokens null means default", OA, 0,
      OREQ USER_HI ",'max_tokens':null,'max_completion_tokens':null}",
      AOUT A_USER_HI "}", NULL },

    { "no default max_tokens", OA, F_NO_DEFAULT, OREQ USER_HI "}", NULL,
      "\"max_tokens\" is required for Anthropic models" },

    { "no default, max_tokens given", OA, F_NO_DEFAULT,
      OREQ USER_HI ",'max_tokens':7}",
      "{'model':'up','max_tokens':7," A_USER_HI "}", NULL },

    { "max_tokens 0", OA, 0, OREQ USER_HI ",'max_tokens':0}", NULL,
      "\"max_tokens\" must be a positive integer" },

    { "max_completion_tokens 1.5", OA, 0,
      OREQ USER_HI ",'max_completion_tokens':1.5}", NULL,
      "\"max_completion_tokens\" must be a positive integer" },

    { "max_tokens string", OA, 0, OREQ USER_HI ",'max_tokens':'100'}", NULL,
      "\"max_tokens\" must be a positive integer" },

    { "temperature kept as written", OA, 0,
      OREQ USER_HI ",'temperature':0.70,'top_p':1e-1}",
      AOUT A_USER_HI ",'temperature':0.70,'top_p':1e-1}", NULL },

    { "temperature 1.5 clamped", OA, 0,
      OREQ USER_HI ",'temperature':1.5}",
      AOUT A_USER_HI ",'temperature':1}", NULL },

    { "temperature 2 clamped", OA, 0, OREQ USER_HI ",'temperature':2}",
      AOUT A_USER_HI ",'temperature':1}", NULL },

    { "temperature 1 and 0 kept", OA, 0,
      OREQ USER_HI ",'temperature':1,'top_p':0}",
      AOUT A_USER_HI ",'temperature':1,'top_p':0}", NULL },

    { "temperature not a number", OA, 0,
      OREQ USER_HI ",'temperature':'hot'}", NULL,
      "\"temperature\" must be a number" },

    { "stop string", OA, 0, OREQ USER_HI ",'stop':'END'}",
      AOUT A_USER_HI ",'stop_sequences':['END']}", NULL },

    { "stop array", OA, 0, OREQ USER_HI ",'stop':['a','b']}",
      AOUT A_USER_HI ",'stop_sequences':['a','b']}", NULL },

    { "stop empty array", OA, 0, OREQ USER_HI ",'stop':[]}",
      AOUT A_USER_HI "}", NULL },

    { "stop not strings", OA, 0, OREQ USER_HI ",'stop':[1]}", NULL,
      "\"stop\" must be a string or an array of strings" },

    { "user", OA, 0, OREQ USER_HI ",'user':'u-42'}",
      AOUT A_USER_HI ",'metadata':{'user_id':'u-42'}}", NULL },

    { "user not a string", OA, 0, OREQ USER_HI ",'user':42}", NULL,
      "\"user\" must be a string" },

    { "stream, stream_options dropped", OA, 0,
      OREQ USER_HI ",'stream':true,'stream_options':{'include_usage':true}}",
      AOUT A_USER_HI ",'stream':true}", NULL },

    { "stream false, include_usage ignored", OA, F_USAGE,
      OREQ USER_HI ",'stream':false}",
      AOUT A_USER_HI ",'stream':false}", NULL },

    { "stream not a boolean", OA, 0, OREQ USER_HI ",'stream':1}", NULL,
      "\"stream\" must be a boolean" },

    { "dropped fields", OA, 0,
      OREQ USER_HI ",'n':1,'presence_penalty':0.5,'frequency_penalty':0.1,"
      "'logit_bias':{'50256':-100},'seed':7,'service_tier':'auto',"
      "'store':true,'metadata':{'k':'v'},'prediction':{'type':'content',"
      "'content':'x'},'reasoning_effort':'low','response_format':{'type':"
      "'text'},'logprobs':false,'top_logprobs':0,'modalities':['text'],"
      "'stream_options':null,'some_new_field':{'a':[1]},'verbosity':'low'}",
      AOUT A_USER_HI "}", NULL },

    { "nulls are absent", OA, 0,
      OREQ USER_HI ",'n':null,'tools':null,'tool_choice':null,'stop':null,"
      "'temperature':null,'top_p':null,'user':null,'stream':null,"
      "'logprobs':null,'response_format':null,'audio':null,"
      "'functions':null,'modalities':null}",
      AOUT A_USER_HI "}", NULL },

    { "duplicate key: the last wins", OA, 0,
      OREQ USER_HI ",'temperature':0.1,'temperature':0.2}",
      AOUT A_USER_HI ",'temperature':0.2}", NULL },

    { "model kept without opts->model", OA, F_NO_MODEL,
      OREQ USER_HI "}",
      "{'model':'gpt-4o','max_tokens':1024," A_USER_HI "}", NULL },

    { "n 2 rejected", OA, 0, OREQ USER_HI ",'n':2}", NULL,
      "unsupported field \"n\": tokenroute cannot return several choices "
      "from an Anthropic model" },

    { "logprobs true rejected", OA, 0, OREQ USER_HI ",'logprobs':true}",
      NULL, "unsupported field \"logprobs\"" },

    { "json_object rejected", OA, 0,
      OREQ USER_HI ",'response_format':{'type':'json_object'}}", NULL,
      "unsupported field \"response_format\" of type \"json_object\"" },

    { "json_schema rejected", OA, 0,
      OREQ USER_HI ",'response_format':{'type':'json_schema','json_schema':"
      "{'name':'x','schema':{}}}}", NULL,
      "unsupported field \"response_format\" of type \"json_schema\"" },

    { "audio rejected", OA, 0,
      OREQ USER_HI ",'audio':{'voice':'alloy','format':'wav'}}", NULL,
      "unsupported field \"audio\"" },

    { "audio modality rejected", OA, 0,
      OREQ USER_HI ",'modalities':['text','audio']}", NULL,
      "unsupported field \"modalities\"" },

    { "web_search_options rejected", OA, 0,
      OREQ USER_HI ",'web_search_options':{}}", NULL,
      "unsupported field \"web_search_options\"" },

    { "functions rejected", OA, 0,
      OREQ USER_HI ",'functions':[{'name':'f','parameters':{}}]}", NULL,
      "unsupported field \"functions\": use \"tools\"" },

    { "function_call rejected", OA, 0,
      OREQ USER_HI ",'function_call':'auto'}", NULL,
      "unsupported field \"function_call\": use \"tool_choice\"" },

    /* Anthropic -> OpenAI: messages */

    { "a: basic", AO, 0, AREQ USER_HI "}", OOUT O_USER_HI "}", NULL },

    { "a: system string", AO, 0,
      AREQ USER_HI ",'system':'be brief'}",
      OOUT "'messages':[{'role':'system','content':'be brief'},"
      "{'role':'user','content':'hi'}]}", NULL },

    { "a: system blocks joined", AO, 0,
      AREQ USER_HI ",'system':[{'type':'text','text':'a'},{'type':'text',"
      "'text':'b','cache_control':{'type':'ephemeral'}}]}",
      OOUT "'messages':[{'role':'system','content':'a\\n\\nb'},"
      "{'role':'user','content':'hi'}]}", NULL },

    { "a: empty system left out", AO, 0,
      AREQ USER_HI ",'system':''}", OOUT O_USER_HI "}", NULL },

    { "a: system image rejected", AO, 0,
      AREQ USER_HI ",'system':[{'type':'image','source':{}}]}", NULL,
      "system[0]: unsupported block type \"image\"" },

    { "a: text blocks joined", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'text','text':'a'},"
      "{'type':'text','text':'b','cache_control':{'type':'ephemeral'}}]}]}",
      OOUT "'messages':[{'role':'user','content':'a\\n\\nb'}]}", NULL },

    { "a: empty content array", AO, 0,
      AREQ "[{'role':'user','content':[]}]}",
      OOUT "'messages':[{'role':'user','content':''}]}", NULL },

    { "a: images", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'text','text':'what?'},"
      "{'type':'image','source':{'type':'base64','media_type':'image/png',"
      "'data':'iVBOR'}},{'type':'text','text':''},{'type':'image','source':"
      "{'type':'url','url':'https://example.com/cat.jpg'}}]}]}",
      OOUT "'messages':[{'role':'user','content':[{'type':'text',"
      "'text':'what?'},{'type':'image_url','image_url':{'url':"
      "'data:image/png;base64,iVBOR'}},{'type':'image_url','image_url':"
      "{'url':'https://example.com/cat.jpg'}}]}]}", NULL },

    { "a: file image source rejected", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'image','source':{'type':"
      "'file','file_id':'f'}}]}]}", NULL,
      "messages[0].content[0]: unsupported image source type \"file\"" },

    { "a: image without data", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'image','source':{'type':"
      "'base64','media_type':'image/png'}}]}]}", NULL,
      "messages[0].content[0].source needs \"media_type\" and \"data\"" },

    { "a: document rejected", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'text','text':'a'},"
      "{'type':'document','source':{'type':'text','media_type':'text/plain',"
      "'data':'x'}}]}]}", NULL,
      "messages[0].content[1]: unsupported content block type "
      "\"document\"" },

    { "a: role system rejected", AO, 0,
      AREQ "[{'role':'system','content':'x'}]}", NULL,
      "messages[0]: role \"system\" is not supported" },

    { "a: content missing", AO, 0, AREQ "[{'role':'user'}]}", NULL,
      "messages[0].content must be a string or an array" },

    { "a: tool round", AO, 0,
      AREQ "[{'role':'user','content':'weather?'},{'role':'assistant',"
      "'content':[{'type':'thinking','thinking':'hmm','signature':'s'},"
      "{'type':'text','text':'Checking.','citations':null},{'type':"
      "'tool_use','id':'toolu_1','name':'get','input':{'city':'Paris',"
      "'n':1.50}}]},{'role':'user','content':[{'type':'tool_result',"
      "'tool_use_id':'toolu_1','content':'sunny'},{'type':'text',"
      "'text':'thanks'}]}]}",
      OOUT "'messages':[{'role':'user','content':'weather?'},"
      "{'role':'assistant','content':'Checking.','tool_calls':[{'id':"
      "'toolu_1','type':'function','function':{'name':'get','arguments':"
      "'{\\'city\\':\\'Paris\\',\\'n\\':1.50}'}}]},{'role':'tool',"
      "'tool_call_id':'toolu_1','content':'sunny'},{'role':'user',"
      "'content':'thanks'}]}", NULL },

    { "a: tool calls only, results only", AO, 0,
      AREQ "[{'role':'user','content':'q'},{'role':'assistant','content':["
      "{'type':'redacted_thinking','data':'x'},{'type':'tool_use','id':'a',"
      "'name':'f','input':{}},{'type':'tool_use','id':'b','name':'g'}]},"
      "{'role':'user','content':[{'type':'tool_result','tool_use_id':'a',"
      "'content':[{'type':'text','text':'x'},{'type':'text','text':'y'}]},"
      "{'type':'tool_result','tool_use_id':'b','is_error':true,"
      "'content':'boom'}]}]}",
      OOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':null,'tool_calls':[{'id':'a','type':'function','function':"
      "{'name':'f','arguments':'{}'}},{'id':'b','type':'function',"
      "'function':{'name':'g','arguments':'{}'}}]},{'role':'tool',"
      "'tool_call_id':'a','content':'x\\n\\ny'},{'role':'tool',"
      "'tool_call_id':'b','content':'Error: boom'}]}", NULL },

    { "a: tool result without content", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'tool_result','tool_use_id':"
      "'a'},{'type':'tool_result','tool_use_id':'b','is_error':true}]}]}",
      OOUT "'messages':[{'role':'tool','tool_call_id':'a','content':''},"
      "{'role':'tool','tool_call_id':'b','content':'Error: '}]}", NULL },

    { "a: results go before the turn's text and images", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'text','text':'see'},"
      "{'type':'tool_result','tool_use_id':'a','content':'r'},"
      "{'type':'image','source':{'type':'url','url':'https://x/y.png'}}]}]}",
      OOUT "'messages':[{'role':'tool','tool_call_id':'a','content':'r'},"
      "{'role':'user','content':[{'type':'text','text':'see'},"
      "{'type':'image_url','image_url':{'url':'https://x/y.png'}}]}]}",
      NULL },

    { "a: tool result image rejected", AO, 0,
      AREQ "[{'role':'user','content':'q'},{'role':'assistant','content':"
      "[{'type':'tool_use','id':'a','name':'f','input':{}}]},{'role':"
      "'user','content':[{'type':'tool_result','tool_use_id':'a','content':"
      "[{'type':'text','text':'x'},{'type':'image','source':{}}]}]}]}", NULL,
      "messages[2].content[0].content[1]: OpenAI tool messages hold text "
      "only, not \"image\"" },

    { "a: tool result without id", AO, 0,
      AREQ "[{'role':'user','content':[{'type':'tool_result'}]}]}", NULL,
      "messages[0].content[0].tool_use_id must be a string" },

    { "a: assistant thinking only", AO, 0,
      AREQ "[{'role':'user','content':'q'},{'role':'assistant','content':["
      "{'type':'thinking','thinking':'t','signature':'s'}]}]}",
      OOUT "'messages':[{'role':'user','content':'q'},{'role':'assistant',"
      "'content':''}]}", NULL },

    { "a: server_tool_use rejected", AO, 0,
      AREQ "[{'role':'user','content':'q'},{'role':'assistant','content':["
      "{'type':'server_tool_use','id':'s','name':'web_search','input':{}}]}"
      "]}", NULL,
      "messages[1].content[0]: unsupported content block type "
      "\"server_tool_use\"" },

    { "a: tool_use input not an object", AO, 0,
      AREQ "[{'role':'user','content':'q'},{'role':'assistant','content':["
      "{'type':'tool_use','id':'a','name':'f','input':'x'}]}]}", NULL,
      "messages[1].content[0].input must be an object" },

    { "a: tool_use without id", AO, 0,
      AREQ "[{'role':'user','content':'q'},{'role':'assistant','content':["
      "{'type':'tool_use','name':'f'}]}]}", NULL,
      "messages[1].content[0] needs \"id\" and \"name\" strings" },

    /* Anthropic -> OpenAI: parameters and tools */

    { "a: parameters", AO, 0,
      AREQ USER_HI ",'stop_sequences':['END'],'temperature':0.5,"
      "'top_p':0.9,'top_k':40,'metadata':{'user_id':'u-1'},'thinking':"
      "{'type':'enabled','budget_tokens':2048},'service_tier':'auto',"
      "'some_new_field':1}",
      OOUT O_USER_HI ",'stop':['END'],'temperature':0.5,'top_p':0.9,"
      "'user':'u-1'}", NULL },

    { "a: no max_tokens, empty stop, metadata without user", AO, 0,
      "{'model':'claude','messages':" USER_HI ",'stop_sequences':[],"
      "'metadata':{}}",
      "{'model':'up'," O_USER_HI "}", NULL },

    { "a: max_tokens -1", AO, 0,
      "{'model':'claude','max_tokens':-1,'messages':" USER_HI "}", NULL,
      "\"max_tokens\" must be a positive integer" },

    { "a: stop_sequences not strings", AO, 0,
      AREQ USER_HI ",'stop_sequences':[1]}", NULL,
      "\"stop_sequences\" must be an array of strings" },

    { "a: stream with include_usage", AO, F_USAGE,
      AREQ USER_HI ",'stream':true}",
      OOUT O_USER_HI ",'stream':true,'stream_options':{'include_usage':"
      "true}}", NULL },

    { "a: stream without include_usage", AO, 0,
      AREQ USER_HI ",'stream':true}",
      OOUT O_USER_HI ",'stream':true}", NULL },

    { "a: no stream, include_usage", AO, F_USAGE,
      AREQ USER_HI ",'stream':false}",
      OOUT O_USER_HI ",'stream':false}", NULL },

    { "a: tools", AO, 0,
      AREQ USER_HI ",'tools':[{'name':'get','description':'Get weather',"
      "'input_schema':{'type':'object','properties':{'city':{'type':"
      "'string'}},'required':['city']},'cache_control':{'type':"
      "'ephemeral'}},{'type':'custom','name':'now'}]}",
      OOUT O_USER_HI ",'tools':[{'type':'function','function':{'name':"
      "'get','description':'Get weather','parameters':{'type':'object',"
      "'properties':{'city':{'type':'string'}},'required':['city']}}},"
      "{'type':'function','function':{'name':'now','parameters':{'type':"
      "'object','properties':{}}}}]}", NULL },

    { "a: server tool rejected", AO, 0,
      AREQ USER_HI ",'tools':[{'name':'get','input_schema':{}},{'type':"
      "'web_search_20250305','name':'web_search','max_uses':5}]}", NULL,
      "tools[1]: server tool type \"web_search_20250305\" is not supported" },

    { "a: tool without name", AO, 0,
      AREQ USER_HI ",'tools':[{'input_schema':{}}]}", NULL,
      "tools[0].name must be a string" },

    { "a: tool_choice auto", AO, 0,
      AREQ USER_HI ",'tools':" ATOOL_GET ",'tool_choice':{'type':'auto'}}",
      OOUT O_USER_HI "," O_TOOL_GET ",'tool_choice':'auto'}", NULL },

    { "a: tool_choice any", AO, 0,
      AREQ USER_HI ",'tools':" ATOOL_GET ",'tool_choice':{'type':'any'}}",
      OOUT O_USER_HI "," O_TOOL_GET ",'tool_choice':'required'}", NULL },

    { "a: tool_choice none", AO, 0,
      AREQ USER_HI ",'tools':" ATOOL_GET ",'tool_choice':{'type':'none'}}",
      OOUT O_USER_HI "," O_TOOL_GET ",'tool_choice':'none'}", NULL },

    { "a: tool_choice tool, no parallel calls", AO, 0,
      AREQ USER_HI ",'tools':" ATOOL_GET ",'tool_choice':{'type':'tool',"
      "'name':'get','disable_parallel_tool_use':true}}",
      OOUT O_USER_HI "," O_TOOL_GET ",'tool_choice':{'type':'function',"
      "'function':{'name':'get'}},'parallel_tool_calls':false}", NULL },

    { "a: tool_choice without tools dropped", AO, 0,
      AREQ USER_HI ",'tool_choice':{'type':'any'}}", OOUT O_USER_HI "}",
      NULL },

    { "a: tool_choice unknown type", AO, 0,
      AREQ USER_HI ",'tools':" ATOOL_GET ",'tool_choice':{'type':'some'}}",
      NULL, "unsupported \"tool_choice\" of type \"some\"" },

    { "a: tool_choice tool without name", AO, 0,
      AREQ USER_HI ",'tools':" ATOOL_GET ",'tool_choice':{'type':'tool'}}",
      NULL, "tool_choice.name must be a string" },

    { "a: mcp_servers rejected", AO, 0,
      AREQ USER_HI ",'mcp_servers':[{'type':'url','url':'https://x',"
      "'name':'x'}]}", NULL, "unsupported field \"mcp_servers\"" },

    /* the same API: the model replaced, usage asked for */

    { "same: openai with include_usage", OO, F_USAGE,
      OREQ USER_HI ",'stream':true,'stream_options':{'include_usage':false,"
      "'x':1},'n':3}",
      "{'model':'up'," O_USER_HI ",'stream':true,'stream_options':{'x':1,"
      "'include_usage':true},'n':3}", NULL },

    { "same: openai, no stream_options", OO, F_USAGE,
      OREQ USER_HI ",'stream':true}",
      "{'model':'up'," O_USER_HI ",'stream':true,'stream_options':"
      "{'include_usage':true}}", NULL },

    { "same: openai without stream", OO, F_USAGE, OREQ USER_HI "}",
      "{'model':'up'," O_USER_HI "}", NULL },

    { "same: anthropic", AA, F_USAGE, AREQ USER_HI ",'stream':true}",
      "{'model':'up','max_tokens':100," A_USER_HI ",'stream':true}", NULL },

    /* bodies that are not requests */

    { "not JSON", OA, 0, "{'model':", NULL,
      "The request body is not valid JSON" },

    { "trailing garbage", AO, 0, AREQ USER_HI "} x", NULL,
      "The request body is not valid JSON" },

    { "comments", OA, 0, "/* c */" OREQ USER_HI "}", NULL,
      "The request body is not valid JSON" },

    { "empty body", OA, 0, "", NULL, "The request body is not valid JSON" },

    { "not an object", AO, 0, "[1]", NULL,
      "The request body must be a JSON object" },

    { "model not a string", OA, F_NO_MODEL,
      "{'model':1,'messages':" USER_HI "}", NULL,
      "\"model\" must be a string" },

    { NULL, 0, 0, 0, NULL, NULL, NULL }
};


/* OpenAI requests that go to an Anthropic shape and back */

static const char  *round_trips[][2] = {

    { OREQ "[{'role':'system','content':'s'},{'role':'user','content':'q'},"
      "{'role':'assistant','content':'Sure.','tool_calls':[{'id':'c1',"
      "'type':'function','function':{'name':'get','arguments':"
      "'{\\'a\\':[1,{\\'b\\':null}]}'}}]},{'role':'tool','tool_call_id':"
      "'c1','content':'r'}],'tools':[{'type':'function','function':"
      "{'name':'get','description':'d','parameters':{'type':'object',"
      "'properties':{'a':{'type':'array'}}}}}],'tool_choice':'required',"
      "'parallel_tool_calls':false,'max_tokens':64,'temperature':0.25,"
      "'stop':'X','user':'u','stream':true}",

      "{'model':'up','messages':[{'role':'system','content':'s'},"
      "{'role':'user','content':'q'},{'role':'assistant','content':"
      "'Sure.','tool_calls':[{'id':'c1','type':'function','function':"
      "{'name':'get','arguments':'{\\'a\\':[1,{\\'b\\':null}]}'}}]},"
      "{'role':'tool','tool_call_id':'c1','content':'r'}],'tools':"
      "[{'type':'function','function':{'name':'get','description':'d',"
      "'parameters':{'type':'object','properties':{'a':{'type':"
      "'array'}}}}}],'tool_choice':'required','parallel_tool_calls':false,"
      "'max_tokens':64,'temperature':0.25,'stop':['X'],'user':'u',"
      "'stream':true,'stream_options':{'include_usage':true}}" },

    { OREQ "[{'role':'user','content':[{'type':'text','text':'look'},"
      "{'type':'image_url','image_url':{'url':"
      "'data:image/webp;base64,UklGR'}}]}]}",

      "{'model':'up','max_tokens':1024,'messages':[{'role':'user',"
      "'content':[{'type':'text','text':'look'},{'type':'image_url',"
      "'image_url':{'url':'data:image/webp;base64,UklGR'}}]}]}" },

    { NULL, NULL }
};


int
main(void)
{
    const case_t  *c;

    for (c = cases; c->name != NULL; c++) {
        run_case(c);
    }

    test_round_trips();
    test_bytes();
    test_depth();
    test_errors();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}



static char *
unquote(const char *s)
{
    char  *p, *q;

    p = strdup(s);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    for (q = p; *q; q++) {
        if (*q == '\'') {
            *q = '"';

        } else if (*q == '`') {
            *q = '\'';
        }
    }

    return p;
}


/* numbers compare by their text: the translator must not reformat them */

static int
json_equal(yajl_val a, yajl_val b)
{
    size_t  i, j;

    if (a->type != b->type) {
        return 0;
    }

    switch (a->type) {

    case yajl_t_string:
        return strcmp(a->u.string, b->u.string) == 0;

    case yajl_t_number:
        return strcmp(a->u.number.r, b->u.number.r) == 0;

    case yajl_t_array:
        if (a->u.array.len != b->u.array.len) {
            return 0;
        }

        for (i = 0; i < a->u.array.len; i++) {
            if (!json_equal(a->u.array.values[i], b->u.array.values[i])) {
                return 0;
            }
        }

        return 1;

    case yajl_t_object:
        if (a->u.object.len != b->u.object.len) {
            return 0;
        }

        for (i = 0; i < a->u.object.len; i++) {
            for (j = 0; j < b->u.object.len; j++) {
                if (strcmp(a->u.object.keys[i], b->u.object.keys[j]) == 0) {
                    break;
                }
            }

            if (j == b->u.object.len
                || !json_equal(a->u.object.values[i], b->u.object.values[j]))
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
no_duplicate_keys(yajl_val v)
{
    size_t  i, j;

    if (YAJL_IS_ARRAY(v)) {
        for (i = 0; i < v->u.array.len; i++) {
            if (!no_duplicate_keys(v->u.array.values[i])) {
                return 0;
            }
        }
    }

    if (!YAJL_IS_OBJECT(v)) {
        return 1;
    }

    for (i = 0; i < v->u.object.len; i++) {
        for (j = i + 1; j < v->u.object.len; j++) {
            if (strcmp(v->u.object.keys[i], v->u.object.keys[j]) == 0) {
                return 0;
            }
        }

        if (!no_duplicate_keys(v->u.object.values[i])) {
            return 0;
        }
    }

    return 1;
}


/* returns the translator's rc; *out is a NUL-terminated copy or NULL */

static int
translate(int from, int to, int flags, const char *in, size_t len,
    char **out, char *err, size_t err_size)
{
    int                           rc;
    size_t                        n;
    unsigned char                *body;
    tokenroute_translate_opts_t   opts;

    opts.model = (flags & F_NO_MODEL) ? NULL : "up";
    opts.model_len = 2;
    opts.default_max_tokens = (flags & F_NO_DEFAULT) ? 0 : 1024;
    opts.include_usage = (flags & F_USAGE) ? 1 : 0;

    *out = NULL;

    rc = tokenroute_translate_request(from, to, (const unsigned char *) in,
                                      len, &opts, &body, &n, err, err_size);
    if (rc != 0) {
        return rc;
    }

    *out = malloc(n + 1);
    if (*out == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    memcpy(*out, body, n);
    (*out)[n] = '\0';
    free(body);

    return 0;
}


static void
run_case(const case_t *c)
{
    int       rc, same, expect;
    char     *in, *want, *got;
    char      err[TOKENROUTE_TRANSLATE_ERR_SIZE], perr[128];
    yajl_val  w, g;

    in = unquote(c->in);

    rc = translate(c->from, c->to, c->flags, in, strlen(in), &got, err,
                   sizeof(err));

    if (c->out == NULL) {
        expect = strstr(c->err, "The request body is not valid JSON") ? -3
                                                                       : -1;

        ok(rc == expect && strstr(err, c->err) != NULL, "%s: rejected",
           c->name);

        if (rc != expect || strstr(err, c->err) == NULL) {
            printf("# rc %d, message: %s\n# wanted: %s\n", rc, err, c->err);
        }

        free(got);
        free(in);
        return;
    }

    want = unquote(c->out);

    w = yajl_tree_parse(want, perr, sizeof(perr));
    if (w == NULL) {
        printf("# bad expected JSON in \"%s\": %s\n", c->name, perr);
    }

    g = (got != NULL) ? yajl_tree_parse(got, perr, sizeof(perr)) : NULL;

    same = (w != NULL && g != NULL && json_equal(w, g));

    ok(rc == 0 && same && no_duplicate_keys(g)
       && strchr(got, '\n') == NULL, "%s", c->name);

    if (rc != 0 || !same) {
        printf("# rc %d %s\n# got:  %s\n# want: %s\n", rc,
               rc ? err : "", got ? got : "", want);
    }

    yajl_tree_free(w);
    yajl_tree_free(g);
    free(got);
    free(want);
    free(in);
}


static void
test_round_trips(void)
{
    int       rc;
    char     *in, *want, *mid, *got;
    char      err[TOKENROUTE_TRANSLATE_ERR_SIZE];
    size_t    i;
    yajl_val  w, g;

    for (i = 0; round_trips[i][0] != NULL; i++) {
        in = unquote(round_trips[i][0]);
        want = unquote(round_trips[i][1]);
        got = NULL;

        rc = translate(OA, 0, in, strlen(in), &mid, err, sizeof(err));

        if (rc == 0) {
            rc = translate(AO, F_USAGE, mid, strlen(mid), &got, err,
                           sizeof(err));
        }

        w = yajl_tree_parse(want, NULL, 0);
        g = (got != NULL) ? yajl_tree_parse(got, NULL, 0) : NULL;

        ok(rc == 0 && w != NULL && g != NULL && json_equal(w, g),
           "round trip %zu", i);

        if (rc != 0 || g == NULL || !json_equal(w, g)) {
            printf("# rc %d %s\n# via:  %s\n# got:  %s\n# want: %s\n", rc,
                   rc ? err : "", mid ? mid : "", got ? got : "", want);
        }

        yajl_tree_free(w);
        yajl_tree_free(g);
        free(in);
        free(want);
        free(mid);
        free(got);
    }
}


/* what a tree-level comparison cannot see */

static void
test_bytes(void)
{
    int          rc;
    char        *got;
    char         err[TOKENROUTE_TRANSLATE_ERR_SIZE];
    size_t       len;
    const char  *p;

    static const char  nul_in[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"a\\u0000b\"},{\"type\":\"text\","
        "\"text\":\"c\"}]}]}";

    static const char  bad_utf8[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"\xff\xfe\"}]}";

    static const char  no_nul[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"hi\"}]}xxxx";

    static const char  big[] =
        "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":"
        "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
        "\"a\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":"
        "\"tool_use\",\"id\":\"a\",\"name\":\"f\",\"input\":{\"n\":"
        "12345678901234567890123,\"d\":-0.0,\"e\":1E+400}}]}]}";

    rc = translate(OA, 0, nul_in, sizeof(nul_in) - 1, &got, err,
                   sizeof(err));

    ok(rc == 0 && got != NULL
       && strstr(got, "\"text\":\"a\\u0000b\"") != NULL,
       "a \\u0000 inside text survives");

    free(got);

    rc = translate(AO, 0, nul_in, sizeof(nul_in) - 1, &got, err,
                   sizeof(err));

    ok(rc == 0 && got != NULL
       && strstr(got, "\"content\":\"a\\u0000b\\n\\nc\"") != NULL,
       "a \\u0000 inside joined text survives");

    free(got);

    rc = translate(OA, 0, bad_utf8, sizeof(bad_utf8) - 1, &got, err,
                   sizeof(err));

    ok(rc == -3 && strstr(err, "not valid JSON") != NULL,
       "invalid UTF-8 rejected as not JSON");

    free(got);

    /* the body is a byte range, not a C string */
    len = strchr(no_nul, ']') - no_nul + 2;

    rc = translate(OA, 0, no_nul, len, &got, err, sizeof(err));

    ok(rc == 0, "the body need not be NUL-terminated");

    free(got);

    rc = translate(AO, 0, big, sizeof(big) - 1, &got, err, sizeof(err));

    p = (got != NULL) ? strstr(got, "\"arguments\":") : NULL;

    ok(rc == 0 && p != NULL
       && strstr(p, "12345678901234567890123") != NULL
       && strstr(p, "-0.0") != NULL && strstr(p, "1E+400") != NULL,
       "numbers keep their text: %s", p ? p : "(none)");

    free(got);
}


static void
test_depth(void)
{
    int     rc;
    char   *body, *p, *got;
    char    err[TOKENROUTE_TRANSLATE_ERR_SIZE];
    size_t  d;

    body = malloc(4096);
    if (body == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    /*
     * Arguments nested 100 deep are as deep as allowed, and are sent 105
     * deep (yajl_gen allows 128); 101 are refused.
     */

    for (d = 100; d <= 101; d++) {
        p = body;
        p += sprintf(p, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"q\"},{\"role\":\"assistant\","
                     "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\","
                     "\"function\":{\"name\":\"f\",\"arguments\":"
                     "\"{\\\"a\\\":");
        p = nest(p, d - 1);
        p += sprintf(p, "}\"}}]}]}");

        rc = translate(OA, 0, body, strlen(body), &got, err, sizeof(err));

        if (d == 100) {
            ok(rc == 0 && got != NULL && strstr(got, "[[[1]]]") != NULL,
               "arguments nested %zu deep pass (rc %d %s)", d, rc,
               rc ? err : "");

        } else {
            ok(rc == -1 && strstr(err, "messages[1].tool_calls[0].function."
                                  "arguments nests JSON deeper than 100")
                           != NULL,
               "arguments nested %zu deep refused: %s", d, err);
        }

        free(got);
    }

    /* a tool schema: root, tools, tool, function, parameters, arrays */

    for (d = 100; d <= 101; d++) {
        p = body;
        p += sprintf(p, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"q\"}],\"tools\":[{\"type\":\"function\","
                     "\"function\":{\"name\":\"f\",\"parameters\":{\"x\":");
        p = nest(p, d - 5);
        p += sprintf(p, "}}}]}");

        rc = translate(OA, 0, body, strlen(body), &got, err, sizeof(err));

        if (d == 100) {
            ok(rc == 0 && got != NULL
               && strstr(got, "\"type\":\"object\"") != NULL,
               "schema nested %zu deep passes (rc %d %s)", d, rc,
               rc ? err : "");

        } else {
            ok(rc == -1 && strstr(err, "The request body nests JSON deeper "
                                  "than 100 levels") != NULL,
               "body nested %zu deep refused: %s", d, err);
        }

        free(got);
    }

    free(body);
}


/* n nested arrays around a 1 */

static char *
nest(char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        *p++ = '[';
    }

    *p++ = '1';

    for (i = 0; i < n; i++) {
        *p++ = ']';
    }

    *p = '\0';

    return p;
}


static void
test_errors(void)
{
    int             rc;
    char            err[8];
    size_t          n;
    unsigned char  *out;

    static const char  body[] = "{\"model\":\"m\",\"messages\":[],\"n\":5}";

    rc = tokenroute_translate_request(TOKENROUTE_SHAPE_OPENAI,
                                      TOKENROUTE_SHAPE_ANTHROPIC,
                                      (const unsigned char *) body,
                                      sizeof(body) - 1, NULL, &out, &n, err,
                                      sizeof(err));

    ok(rc == -1 && strcmp(err, "unsuppo") == 0 && out == NULL && n == 0,
       "a short err buffer gets a cut, terminated message");

    rc = tokenroute_translate_request(TOKENROUTE_SHAPE_OPENAI,
                                      TOKENROUTE_SHAPE_ANTHROPIC,
                                      (const unsigned char *) body,
                                      sizeof(body) - 1, NULL, &out, &n, NULL,
                                      0);

    ok(rc == -1 && out == NULL, "no err buffer");

    rc = tokenroute_translate_request(3, TOKENROUTE_SHAPE_OPENAI,
                                      (const unsigned char *) body,
                                      sizeof(body) - 1, NULL, &out, &n, err,
                                      sizeof(err));

    ok(rc == -1, "an unknown API is refused");
}
