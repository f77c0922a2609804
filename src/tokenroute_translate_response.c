
/*
 * Copyright (C) tokenroute authors
 *
 * Responses, streams and errors between the two shapes, written with the
 * JSON tree and output buffer of tokenroute_json_tree.h.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenroute_sse.h"
#include "tokenroute_usage.h"
#include "tokenroute_translate_response.h"


/* tokenroute_json_node_t types */
#define TR_J_NULL               TOKENROUTE_JSON_T_NULL
#define TR_J_FALSE              TOKENROUTE_JSON_T_FALSE
#define TR_J_TRUE               TOKENROUTE_JSON_T_TRUE
#define TR_J_NUMBER             TOKENROUTE_JSON_T_NUMBER
#define TR_J_STRING             TOKENROUTE_JSON_T_STRING
#define TR_J_MAP                TOKENROUTE_JSON_T_MAP
#define TR_J_ARRAY              TOKENROUTE_JSON_T_ARRAY

/* st->usage[] */
#define TR_U_INPUT              0
#define TR_U_OUTPUT             1
#define TR_U_CACHE_READ         2
#define TR_U_CACHE_WRITE        3

/*
 * An event's yajl parser lives in an arena reused from event to event:
 * yajl's handle, lexer, state stack and string decoding buffer take about
 * 2.5K for a typical event.  An event that needs more makes the arena
 * grow for the next one.
 */
#define TR_ARENA_SIZE           8192
#define TR_ARENA_MAX            (1024 * 1024)
#define TR_ARENA_ALIGN          16

/* OpenAI tool_calls indices at or above this are ignored */
#define TR_TOOLS_MAX            1024

#define TR_MESSAGE_INTERRUPTED  "The provider's stream ended early"

#define tr_str_is(s, len, lit)                                                \
    ((s) != NULL && (len) == sizeof(lit) - 1                                  \
     && memcmp(s, lit, sizeof(lit) - 1) == 0)

#define tr_add_lit(b, lit)  tokenroute_json_add_lit(b, lit)


typedef struct {
    char                     *start;
    char                     *last;
    char                     *end;
    unsigned                  spilled;
} tokenroute_resp_arena_t;


/* an error as read from a provider's body or event, before mapping */
typedef struct {
    const char               *message;
    size_t                    message_len;
    const char               *type;
    size_t                    type_len;
    const char               *code;
    size_t                    code_len;
} tokenroute_resp_error_t;


static void tokenroute_resp_add_sanitized(tokenroute_json_buf_t *b,
    const char *p, size_t n);
static size_t tokenroute_resp_secret(const char *p, size_t n, size_t i,
    const char **repl);

static uint32_t tokenroute_resp_choice(tokenroute_json_tree_t *j,
    uint32_t n);

static const char *tokenroute_resp_finish_reason(const char *s, size_t len);
static const char *tokenroute_resp_stop_reason(const char *s, size_t len);
static int tokenroute_resp_ao(tokenroute_json_tree_t *j,
    tokenroute_json_buf_t *b, const char *model, size_t model_len);
static int tokenroute_resp_oa(tokenroute_json_tree_t *j,
    tokenroute_json_buf_t *b, const char *model, size_t model_len);
static int tokenroute_resp_oa_tool(tokenroute_json_tree_t *j,
    tokenroute_json_buf_t *b, uint32_t fn, const char *id, size_t id_len,
    size_t i);

static void tokenroute_resp_error_read(tokenroute_json_tree_t *j, uint32_t n,
    tokenroute_resp_error_t *e, int *status);
static void tokenroute_resp_error_write(tokenroute_json_buf_t *b, int from,
    int to, int status, tokenroute_resp_error_t *e);
static int tokenroute_resp_is_slug(const char *s, size_t len);
static int tokenroute_resp_type_status(const char *s, size_t len);
static const char *tokenroute_resp_status_text(int status);

static int tokenroute_stream_event(void *ctx, const char *event,
    size_t event_len, const char *data, size_t len, int truncated);
static int tokenroute_stream_parse(tokenroute_stream_t *st, const char *data,
    size_t len);
static int tokenroute_stream_ao(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len);
static void tokenroute_stream_ao_start(tokenroute_stream_t *st,
    const char *id, size_t id_len);
static void tokenroute_stream_ao_open(tokenroute_stream_t *st);
static void tokenroute_stream_ao_close(tokenroute_stream_t *st,
    const char *finish);
static void tokenroute_stream_ao_usage(tokenroute_stream_t *st, uint32_t n);
static void tokenroute_stream_ao_end(tokenroute_stream_t *st);
static int tokenroute_stream_malformed(tokenroute_stream_t *st);
static int tokenroute_stream_oa(tokenroute_stream_t *st, const char *data,
    size_t len);
static void tokenroute_stream_oa_start(tokenroute_stream_t *st,
    const char *id, size_t id_len);
static void tokenroute_stream_oa_text(tokenroute_stream_t *st, const char *s,
    size_t len);
static int tokenroute_stream_oa_tool(tokenroute_stream_t *st, uint32_t tc,
    int64_t pos);
static void tokenroute_stream_oa_close(tokenroute_stream_t *st);
static void tokenroute_stream_oa_end(tokenroute_stream_t *st);
static void tokenroute_stream_open_event(tokenroute_stream_t *st,
    const char *name);
static int tokenroute_stream_relay(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len);
static int tokenroute_stream_upstream_error(tokenroute_stream_t *st);
static void tokenroute_stream_terminal(tokenroute_stream_t *st, int from,
    int status, tokenroute_resp_error_t *e);
static int tokenroute_stream_flush(tokenroute_stream_t *st);

static void *tokenroute_resp_arena_malloc(void *ctx, size_t size);
static void *tokenroute_resp_arena_realloc(void *ctx, void *ptr, size_t size);
static void tokenroute_resp_arena_free(void *ctx, void *ptr);


/* Anthropic usage fields, in st->usage[] order */
static const char  *tokenroute_resp_usage_keys[] = {
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens"
};


/*
 * Copyright (C) tokenroute authors
 */


int
tokenroute_translate_response(int from, int to, const unsigned char *body,
    size_t len, const char *model, size_t model_len, unsigned char **out,
    size_t *out_len)
{
    int                     rc;
    tokenroute_json_buf_t   b;
    tokenroute_json_tree_t  j;

    if (from == to
        || (from != TOKENROUTE_API_OPENAI && from != TOKENROUTE_API_ANTHROPIC)
        || (to != TOKENROUTE_API_OPENAI && to != TOKENROUTE_API_ANTHROPIC))
    {
        return -1;
    }

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    memset(&b, 0, sizeof(tokenroute_json_buf_t));

    rc = tokenroute_json_tree_parse(&j, (const char *) body, len, NULL);

    if (rc == 0) {
        if (from == TOKENROUTE_API_ANTHROPIC) {
            rc = tokenroute_resp_ao(&j, &b, model, model_len);

        } else {
            rc = tokenroute_resp_oa(&j, &b, model, model_len);
        }
    }

    tokenroute_json_tree_free(&j);

    if (rc == 0) {
        tokenroute_json_add(&b, "", 1);

        if (b.failed) {
            rc = -2;
        }
    }

    if (rc != 0) {
        tokenroute_json_buf_free(&b);
        return rc;
    }

    *out = (unsigned char *) b.data;
    *out_len = b.len - 1;

    return 0;
}


int
tokenroute_translate_error(int from, int to, int status,
    const unsigned char *body, size_t len, unsigned char **out,
    size_t *out_len)
{
    int                      rc, code;
    uint32_t                 root, n;
    tokenroute_json_buf_t    b;
    tokenroute_json_tree_t   j;
    tokenroute_resp_error_t  e;

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    memset(&b, 0, sizeof(tokenroute_json_buf_t));
    memset(&e, 0, sizeof(tokenroute_resp_error_t));

    rc = tokenroute_json_tree_parse(&j, (const char *) body, len, NULL);

    if (rc == -2) {
        tokenroute_json_tree_free(&j);
        return -2;
    }

    if (rc == 0) {
        root = 1;

        /* Gemini's OpenAI endpoint wraps its error in an array */

        if (j.nodes[root].type == TR_J_ARRAY && j.nodes[root].child != 0) {
            root = j.nodes[root].child;
        }

        n = tokenroute_json_get(&j, root, "error");

        if (n != 0 && (j.nodes[n].type == TR_J_MAP
                       || j.nodes[n].type == TR_J_STRING))
        {
            code = 0;
            tokenroute_resp_error_read(&j, n, &e, &code);

        } else if (!tokenroute_json_str(&j, tokenroute_json_get(&j, root,
                                                                "message"),
                                        &e.message, &e.message_len))
        {
            (void) tokenroute_json_str(&j, tokenroute_json_get(&j, root,
                                                               "detail"),
                                       &e.message, &e.message_len);
        }
    }

    tokenroute_resp_error_write(&b, from, to, status, &e);
    tokenroute_json_add(&b, "", 1);

    tokenroute_json_tree_free(&j);

    if (b.failed) {
        tokenroute_json_buf_free(&b);
        return -2;
    }

    *out = (unsigned char *) b.data;
    *out_len = b.len - 1;

    return 0;
}


int
tokenroute_stream_init(tokenroute_stream_t *st, int from, int to,
    const char *model, size_t model_len, int include_usage,
    tokenroute_emit_pt emit, void *ctx)
{
    memset(st, 0, sizeof(tokenroute_stream_t));

    if ((from != TOKENROUTE_API_OPENAI && from != TOKENROUTE_API_ANTHROPIC)
        || (to != TOKENROUTE_API_OPENAI && to != TOKENROUTE_API_ANTHROPIC))
    {
        return -1;
    }

    if (tokenroute_sse_init(&st->sse, TOKENROUTE_STREAM_MAX_EVENT,
                            tokenroute_stream_event, st)
        != 0)
    {
        return -1;
    }

    st->arena = malloc(TR_ARENA_SIZE);
    if (st->arena == NULL) {
        goto failed;
    }

    st->arena_size = TR_ARENA_SIZE;

    tokenroute_json_add(&st->model, model, model_len);

    if (st->model.failed || tokenroute_json_reserve(&st->out, 4096) != 0) {
        goto failed;
    }

    st->from = from;
    st->to = to;
    st->include_usage = include_usage ? 1 : 0;
    st->emit = emit;
    st->ctx = ctx;
    st->block = -1;
    st->block_tool = -1;
    st->created = time(NULL);

    return 0;

failed:

    tokenroute_stream_free(st);

    return -1;
}


int
tokenroute_stream_feed(tokenroute_stream_t *st, const char *p, size_t len)
{
    if (st->failed) {
        return -1;
    }

    if (st->done) {
        return 0;
    }

    if (tokenroute_sse_feed(&st->sse, p, len) != 0) {
        st->failed = 1;
        return -1;
    }

    return 0;
}


int
tokenroute_stream_finish(tokenroute_stream_t *st, int complete)
{
    tokenroute_resp_error_t  e;

    if (st->failed) {
        return -1;
    }

    /* an event without its closing blank line is still taken */

    st->flushing = 1;

    if (tokenroute_stream_feed(st, "\n\n", 2) != 0) {
        return -1;
    }

    st->flushing = 0;

    if (st->done) {
        return 0;
    }

    st->out.len = 0;

    if (complete && st->to == TOKENROUTE_API_ANTHROPIC
        && st->from == TOKENROUTE_API_OPENAI)
    {
        tokenroute_stream_oa_end(st);

    } else if (complete && st->to == TOKENROUTE_API_OPENAI
               && st->from == TOKENROUTE_API_ANTHROPIC && st->finished)
    {
        tokenroute_stream_ao_end(st);

    } else if (complete && st->to == TOKENROUTE_API_OPENAI
               && st->from == TOKENROUTE_API_OPENAI)
    {
        tr_add_lit(&st->out, "data: [DONE]\n\n");
        st->done = 1;

    } else {
        memset(&e, 0, sizeof(tokenroute_resp_error_t));
        e.message = TR_MESSAGE_INTERRUPTED;
        e.message_len = sizeof(TR_MESSAGE_INTERRUPTED) - 1;
        e.code = "stream_interrupted";
        e.code_len = sizeof("stream_interrupted") - 1;

        tokenroute_stream_terminal(st, 0, 0, &e);
    }

    return tokenroute_stream_flush(st);
}


int
tokenroute_stream_error(tokenroute_stream_t *st, const char *message)
{
    tokenroute_resp_error_t  e;

    if (st->failed) {
        return -1;
    }

    if (st->done) {
        return 0;
    }

    memset(&e, 0, sizeof(tokenroute_resp_error_t));
    e.message = message;
    e.message_len = (message != NULL) ? strlen(message) : 0;

    st->out.len = 0;

    tokenroute_stream_terminal(st, 0, 0, &e);

    return tokenroute_stream_flush(st);
}


void
tokenroute_stream_free(tokenroute_stream_t *st)
{
    tokenroute_sse_free(&st->sse);
    tokenroute_json_tree_free(&st->json);
    tokenroute_json_buf_free(&st->out);
    tokenroute_json_buf_free(&st->prefix);
    tokenroute_json_buf_free(&st->model);

    free(st->arena);
    free(st->tools);

    st->arena = NULL;
    st->arena_size = 0;
    st->tools = NULL;
    st->ntools = 0;
}


/* provider texts, sanitized */


/* a provider's text, escaped, with its keys and URLs replaced */

static void
tokenroute_resp_add_sanitized(tokenroute_json_buf_t *b, const char *p,
    size_t n)
{
    size_t       i, m, start;
    const char  *repl;

    start = 0;

    for (i = 0; i < n; /* void */) {
        m = tokenroute_resp_secret(p, n, i, &repl);

        if (m == 0) {
            i++;
            continue;
        }

        tokenroute_json_add_escaped(b, p + start, i - start);
        tokenroute_json_add(b, repl, strlen(repl));

        i += m;
        start = i;
    }

    tokenroute_json_add_escaped(b, p + start, n - start);
}


#define tr_is_alnum(c)                                                        \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9'))

#define tr_is_key(c)                                                          \
    (tr_is_alnum(c) || (c) == '-' || (c) == '_' || (c) == '*')

#define tr_lower(c)  (((c) >= 'A' && (c) <= 'Z') ? (c) | 0x20 : (c))


static int
tokenroute_resp_prefix_ci(const char *p, size_t n, const char *lit)
{
    size_t  i;

    for (i = 0; lit[i] != '\0'; i++) {
        if (i == n || tr_lower((unsigned char) p[i]) != lit[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * The length of the key or URL starting at p[i], or 0; *repl is its
 * replacement.  Keys must start a word ("task-force" is not one).
 */

static size_t
tokenroute_resp_secret(const char *p, size_t n, size_t i, const char **repl)
{
    size_t         j, k, min;
    unsigned char  c;

    c = p[i];

    if (c == 'h' || c == 'H') {

        if (tokenroute_resp_prefix_ci(p + i, n - i, "http://")) {
            k = i + 7;

        } else if (tokenroute_resp_prefix_ci(p + i, n - i, "https://")) {
            k = i + 8;

        } else {
            return 0;
        }

        for (j = k; j < n; j++) {
            c = p[j];

            if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<'
                || c == '>' || c == '`')
            {
                break;
            }
        }

        /* punctuation after a URL ends the sentence */

        while (j > k && strchr(".,;:!?)]}", p[j - 1]) != NULL) {
            j--;
        }

        *repl = "[url]";
        return j - i;
    }

    if (i > 0 && (tr_is_alnum((unsigned char) p[i - 1]) || p[i - 1] == '_'
                  || p[i - 1] == '-'))
    {
        return 0;
    }

    *repl = "[redacted]";

    if (c == 's' && n - i > 3 && memcmp(p + i, "sk-", 3) == 0) {
        k = i + 3;
        min = 4;

    } else if (c == 'A' && n - i > 4 && memcmp(p + i, "AIza", 4) == 0) {
        k = i + 4;
        min = 10;

    } else if ((c == 'b' || c == 'B')
               && tokenroute_resp_prefix_ci(p + i, n - i, "bearer"))
    {
        for (k = i + 6; k < n && (p[k] == ' ' || p[k] == '\t'); k++) {
            /* void */
        }

        if (k == i + 6) {
            return 0;
        }

        for (j = k; j < n; j++) {
            c = p[j];

            if (c <= 0x20 || c == '"' || c == '\'' || c == ',' || c == ';') {
                break;
            }
        }

        return (j > k) ? j - i : 0;

    } else {
        return 0;
    }

    for (j = k; j < n && tr_is_key((unsigned char) p[j]); j++) {
        /* void */
    }

    return (j - k >= min) ? j - i : 0;
}


/* the choice with index 0 of the choices array n */

static uint32_t
tokenroute_resp_choice(tokenroute_json_tree_t *j, uint32_t n)
{
    uint32_t  c;

    if (n == 0 || j->nodes[n].type != TR_J_ARRAY) {
        return 0;
    }

    for (c = j->nodes[n].child; c != 0; c = j->nodes[c].next) {

        if (j->nodes[c].type == TR_J_MAP
            && tokenroute_json_int(j, tokenroute_json_get(j, c, "index"), 0)
               == 0)
        {
            return c;
        }
    }

    return 0;
}


/* stop and finish reasons */


static const char *
tokenroute_resp_finish_reason(const char *s, size_t len)
{
    if (tr_str_is(s, len, "max_tokens") || tr_str_is(s, len, "compaction")) {
        return "length";
    }

    if (tr_str_is(s, len, "tool_use")) {
        return "tool_calls";
    }

    if (tr_str_is(s, len, "refusal")) {
        return "content_filter";
    }

    /* end_turn, stop_sequence, pause_turn, unknown */

    return "stop";
}


static const char *
tokenroute_resp_stop_reason(const char *s, size_t len)
{
    if (tr_str_is(s, len, "length")) {
        return "max_tokens";
    }

    if (tr_str_is(s, len, "tool_calls") || tr_str_is(s, len, "function_call"))
    {
        return "tool_use";
    }

    if (tr_str_is(s, len, "content_filter")) {
        return "refusal";
    }

    return "end_turn";
}


/* non-streamed bodies */


static int
tokenroute_resp_ao(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    const char *model, size_t model_len)
{
    int                     texts, tools;
    size_t                  len;
    int64_t                 u[4];
    uint32_t                content, c, n, usage;
    const char             *s;
    tokenroute_json_buf_t   args;

    if (j->nodes[1].type != TR_J_MAP) {
        return -1;
    }

    if (tokenroute_json_str(j, tokenroute_json_get(j, 1, "type"), &s, &len)
        && !tr_str_is(s, len, "message"))
    {
        return -1;
    }

    content = tokenroute_json_get(j, 1, "content");

    if (content == 0 || j->nodes[content].type != TR_J_ARRAY) {
        return -1;
    }

    tr_add_lit(b, "{\"id\":\"chatcmpl-");

    if (tokenroute_json_str(j, tokenroute_json_get(j, 1, "id"), &s, &len)) {

        if (len > 4 && memcmp(s, "msg_", 4) == 0) {
            s += 4;
            len -= 4;
        }

        tokenroute_json_add_escaped(b, s, len);
    }

    tr_add_lit(b, "\",\"object\":\"chat.completion\",\"created\":");
    tokenroute_json_add_int(b, (int64_t) time(NULL));
    tr_add_lit(b, ",\"model\":");

    if (model_len == 0
        && tokenroute_json_str(j, tokenroute_json_get(j, 1, "model"),
                               &model, &model_len) == 0)
    {
        model = "";
    }

    tokenroute_json_add_str(b, model, model_len);
    tr_add_lit(b, ",\"choices\":[{\"index\":0,\"message\":{"
               "\"role\":\"assistant\",\"content\":");

    texts = 0;
    tools = 0;

    for (c = j->nodes[content].child; c != 0; c = j->nodes[c].next) {

        if (!tokenroute_json_str(j, tokenroute_json_get(j, c, "type"), &s,
                                 &len))
        {
            continue;
        }

        if (tr_str_is(s, len, "tool_use")) {
            tools++;
            continue;
        }

        if (!tr_str_is(s, len, "text")
            || !tokenroute_json_str(j, tokenroute_json_get(j, c, "text"), &s,
                                    &len))
        {
            continue;
        }

        if (texts++ == 0) {
            tr_add_lit(b, "\"");
        }

        tokenroute_json_add_escaped(b, s, len);
    }

    if (texts) {
        tr_add_lit(b, "\"");

    } else {
        tr_add_lit(b, "null");
    }

    if (tools) {
        tr_add_lit(b, ",\"tool_calls\":[");

        memset(&args, 0, sizeof(tokenroute_json_buf_t));
        tools = 0;

        for (c = j->nodes[content].child; c != 0; c = j->nodes[c].next) {

            if (!tokenroute_json_str(j, tokenroute_json_get(j, c, "type"), &s,
                                     &len)
                || !tr_str_is(s, len, "tool_use"))
            {
                continue;
            }

            if (tools++) {
                tr_add_lit(b, ",");
            }

            tr_add_lit(b, "{\"id\":");

            if (!tokenroute_json_str(j, tokenroute_json_get(j, c, "id"), &s,
                                     &len))
            {
                s = "";
                len = 0;
            }

            tokenroute_json_add_str(b, s, len);
            tr_add_lit(b, ",\"type\":\"function\",\"function\":{\"name\":");

            if (!tokenroute_json_str(j, tokenroute_json_get(j, c, "name"), &s,
                                     &len))
            {
                s = "";
                len = 0;
            }

            tokenroute_json_add_str(b, s, len);
            tr_add_lit(b, ",\"arguments\":");

            n = tokenroute_json_get(j, c, "input");
            args.len = 0;

            if (n != 0) {
                tokenroute_json_tree_write(&args, j, n);

            } else {
                tr_add_lit(&args, "{}");
            }

            tokenroute_json_add_str(b, args.data, args.len);
            tr_add_lit(b, "}}");

            if (args.failed) {
                b->failed = 1;
            }
        }

        tokenroute_json_buf_free(&args);

        tr_add_lit(b, "]");
    }

    tr_add_lit(b, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");

    if (!tokenroute_json_str(j, tokenroute_json_get(j, 1, "stop_reason"), &s,
                             &len))
    {
        s = NULL;
        len = 0;
    }

    s = tokenroute_resp_finish_reason(s, len);
    tokenroute_json_add(b, s, strlen(s));

    usage = tokenroute_json_get(j, 1, "usage");

    for (c = 0; c < 4; c++) {
        u[c] = tokenroute_json_int(j, tokenroute_json_get(j, usage,
                                   tokenroute_resp_usage_keys[c]), 0);

        if (u[c] < 0 || u[c] > INT64_MAX / 4) {
            u[c] = 0;
        }
    }

    tr_add_lit(b, "\"}],\"usage\":{\"prompt_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_INPUT] + u[TR_U_CACHE_READ]
                               + u[TR_U_CACHE_WRITE]);
    tr_add_lit(b, ",\"completion_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_OUTPUT]);
    tr_add_lit(b, ",\"total_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_INPUT] + u[TR_U_CACHE_READ]
                               + u[TR_U_CACHE_WRITE] + u[TR_U_OUTPUT]);
    tr_add_lit(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    tokenroute_json_add_int(b, u[TR_U_CACHE_READ]);
    tr_add_lit(b, "}}}");

    return b->failed ? -2 : 0;
}


static int
tokenroute_resp_oa(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    const char *model, size_t model_len)
{
    int         blocks;
    size_t      len, id_len, i;
    int64_t     prompt, completion, cached;
    uint32_t    choice, msg, c, usage, n;
    const char *s, *id;

    if (j->nodes[1].type != TR_J_MAP) {
        return -1;
    }

    n = tokenroute_json_get(j, 1, "error");

    if (n != 0 && j->nodes[n].type != TR_J_NULL) {
        return -1;
    }

    choice = tokenroute_resp_choice(j, tokenroute_json_get(j, 1, "choices"));
    msg = tokenroute_json_get(j, choice, "message");

    if (msg == 0 || j->nodes[msg].type != TR_J_MAP) {
        return -1;
    }

    tr_add_lit(b, "{\"id\":\"msg_");

    if (tokenroute_json_str(j, tokenroute_json_get(j, 1, "id"), &s, &len)) {
        tokenroute_json_add_escaped(b, s, len);
    }

    tr_add_lit(b, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");

    if (model_len == 0
        && tokenroute_json_str(j, tokenroute_json_get(j, 1, "model"),
                               &model, &model_len) == 0)
    {
        model = "";
    }

    tokenroute_json_add_str(b, model, model_len);
    tr_add_lit(b, ",\"content\":[");

    blocks = 0;

    if ((tokenroute_json_str(j, tokenroute_json_get(j, msg, "content"), &s,
                             &len)
         && len > 0)
        || (tokenroute_json_str(j, tokenroute_json_get(j, msg, "refusal"), &s,
                                &len)
            && len > 0))
    {
        tr_add_lit(b, "{\"type\":\"text\",\"text\":");
        tokenroute_json_add_str(b, s, len);
        tr_add_lit(b, "}");
        blocks++;
    }

    n = tokenroute_json_get(j, msg, "tool_calls");

    if (n != 0 && j->nodes[n].type == TR_J_ARRAY) {

        for (c = j->nodes[n].child, i = 0; c != 0; c = j->nodes[c].next, i++) {

            if (!tokenroute_json_str(j, tokenroute_json_get(j, c, "id"), &id,
                                     &id_len))
            {
                id = NULL;
                id_len = 0;
            }

            if (blocks++) {
                tr_add_lit(b, ",");
            }

            if (tokenroute_resp_oa_tool(j, b,
                                        tokenroute_json_get(j, c, "function"),
                                        id, id_len, i)
                != 0)
            {
                return -2;
            }
        }
    }

    /* the legacy single function call */

    n = tokenroute_json_get(j, msg, "function_call");

    if (n != 0 && j->nodes[n].type == TR_J_MAP) {

        if (blocks++) {
            tr_add_lit(b, ",");
        }

        if (tokenroute_resp_oa_tool(j, b, n, NULL, 0, 0) != 0) {
            return -2;
        }
    }

    tr_add_lit(b, "],\"stop_reason\":\"");

    if (!tokenroute_json_str(j, tokenroute_json_get(j, choice,
                                                    "finish_reason"),
                             &s, &len))
    {
        s = NULL;
        len = 0;
    }

    s = tokenroute_resp_stop_reason(s, len);
    tokenroute_json_add(b, s, strlen(s));

    usage = tokenroute_json_get(j, 1, "usage");

    prompt = tokenroute_json_int(j, tokenroute_json_get(j, usage,
                                                        "prompt_tokens"), 0);
    completion = tokenroute_json_int(j, tokenroute_json_get(j, usage,
                                                     "completion_tokens"), 0);
    cached = tokenroute_json_int(j, tokenroute_json_get(j,
                                 tokenroute_json_get(j, usage,
                                                     "prompt_tokens_details"),
                                 "cached_tokens"), 0);

    if (cached < 0) {
        cached = 0;
    }

    tr_add_lit(b, "\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
    tokenroute_json_add_int(b, (prompt > cached) ? prompt - cached : 0);
    tr_add_lit(b, ",\"output_tokens\":");
    tokenroute_json_add_int(b, (completion > 0) ? completion : 0);
    tr_add_lit(b, ",\"cache_read_input_tokens\":");
    tokenroute_json_add_int(b, cached);
    tr_add_lit(b, ",\"cache_creation_input_tokens\":0}}");

    return b->failed ? -2 : 0;
}


/* a tool_use block from an OpenAI function {name, arguments} */

static int
tokenroute_resp_oa_tool(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    uint32_t fn, const char *id, size_t id_len, size_t i)
{
    int                     rc;
    size_t                  len;
    const char             *s;
    tokenroute_json_tree_t  args;

    tr_add_lit(b, "{\"type\":\"tool_use\",\"id\":");

    if (id_len > 0) {
        tokenroute_json_add_str(b, id, id_len);

    } else {
        tr_add_lit(b, "\"toolu_tr_");
        tokenroute_json_add_int(b, (int64_t) i);
        tr_add_lit(b, "\"");
    }

    tr_add_lit(b, ",\"name\":");

    if (!tokenroute_json_str(j, tokenroute_json_get(j, fn, "name"), &s, &len))
    {
        s = "";
        len = 0;
    }

    tokenroute_json_add_str(b, s, len);
    tr_add_lit(b, ",\"input\":");

    rc = -1;

    if (tokenroute_json_str(j, tokenroute_json_get(j, fn, "arguments"), &s,
                            &len))
    {
        memset(&args, 0, sizeof(tokenroute_json_tree_t));

        rc = tokenroute_json_tree_parse(&args, s, len, NULL);

        if (rc == 0 && args.nodes[1].type == TR_J_MAP) {
            tokenroute_json_tree_write(b, &args, 1);

        } else if (rc == 0) {
            rc = -1;
        }

        tokenroute_json_tree_free(&args);

        if (rc == -2) {
            return -2;
        }
    }

    /* arguments that are not a JSON object */

    if (rc != 0) {
        tr_add_lit(b, "{}");
    }

    tr_add_lit(b, "}");

    return 0;
}


/* errors */


static void
tokenroute_resp_error_read(tokenroute_json_tree_t *j, uint32_t n,
    tokenroute_resp_error_t *e, int *status)
{
    int64_t   code;
    uint32_t  c;

    if (tokenroute_json_str(j, n, &e->message, &e->message_len)) {
        return;
    }

    (void) tokenroute_json_str(j, tokenroute_json_get(j, n, "message"),
                               &e->message, &e->message_len);
    (void) tokenroute_json_str(j, tokenroute_json_get(j, n, "type"),
                               &e->type, &e->type_len);

    c = tokenroute_json_get(j, n, "code");

    if (!tokenroute_json_str(j, c, &e->code, &e->code_len)) {

        /* OpenRouter's and Gemini's codes are HTTP statuses */

        code = tokenroute_json_int(j, c, 0);

        if (code >= 400 && code <= 599) {
            *status = (int) code;
        }
    }
}


static void
tokenroute_resp_error_write(tokenroute_json_buf_t *b, int from, int to,
    int status, tokenroute_resp_error_t *e)
{
    int          slug;
    size_t       type_len;
    const char  *type, *text;

    slug = tokenroute_resp_is_slug(e->type, e->type_len);

    if (status == 0) {
        /* an error event in a stream: its type tells the status */
        status = slug ? tokenroute_resp_type_status(e->type, e->type_len)
                      : 500;
    }

    if (to == TOKENROUTE_API_ANTHROPIC) {

        if (from == to && slug) {
            type = e->type;
            type_len = e->type_len;

        } else {
            type = tokenroute_error_anthropic_type(status);

            if (status == 429
                && (tr_str_is(e->type, e->type_len, "insufficient_quota")
                    || tr_str_is(e->code, e->code_len, "insufficient_quota")))
            {
                type = "billing_error";
            }

            type_len = strlen(type);
        }

        tr_add_lit(b, "{\"type\":\"error\",\"error\":{\"type\":");
        tokenroute_json_add_str(b, type, type_len);
        tr_add_lit(b, ",\"message\":\"");

    } else {

        if (from == to && slug) {
            type = e->type;

        } else if (status == 429) {
            type = "rate_limit_error";

        } else if (status >= 500) {
            type = "server_error";

        } else {
            type = "invalid_request_error";
        }

        type_len = (type == e->type) ? e->type_len : strlen(type);

        tr_add_lit(b, "{\"error\":{\"message\":\"");
    }

    if (e->message_len > 0) {
        tokenroute_resp_add_sanitized(b, e->message, e->message_len);

    } else {
        text = tokenroute_resp_status_text(status);
        tokenroute_json_add_escaped(b, text, strlen(text));
    }

    if (to == TOKENROUTE_API_ANTHROPIC) {
        tr_add_lit(b, "\"}}");
        return;
    }

    tr_add_lit(b, "\",\"type\":");
    tokenroute_json_add_str(b, type, type_len);
    tr_add_lit(b, ",\"param\":null,\"code\":\"");

    if (e->code_len > 0) {
        tokenroute_resp_add_sanitized(b, e->code, e->code_len);

    } else if (from == TOKENROUTE_API_ANTHROPIC && slug) {
        tokenroute_json_add(b, e->type, e->type_len);

    } else if (from == TOKENROUTE_API_ANTHROPIC) {
        type = tokenroute_error_anthropic_type(status);
        tokenroute_json_add(b, type, strlen(type));

    } else {
        tokenroute_json_add(b, type, type_len);
    }

    tr_add_lit(b, "\"}}");
}


static int
tokenroute_resp_is_slug(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > 64) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* the status of an Anthropic or OpenAI error type */

static int
tokenroute_resp_type_status(const char *s, size_t len)
{
    if (tr_str_is(s, len, "invalid_request_error")) {
        return 400;
    }

    if (tr_str_is(s, len, "authentication_error")) {
        return 401;
    }

    if (tr_str_is(s, len, "billing_error")) {
        return 402;
    }

    if (tr_str_is(s, len, "permission_error")) {
        return 403;
    }

    if (tr_str_is(s, len, "not_found_error")) {
        return 404;
    }

    if (tr_str_is(s, len, "request_too_large")) {
        return 413;
    }

    if (tr_str_is(s, len, "rate_limit_error")
        || tr_str_is(s, len, "insufficient_quota"))
    {
        return 429;
    }

    if (tr_str_is(s, len, "overloaded_error")) {
        return 529;
    }

    return 500;
}


const char *
tokenroute_error_anthropic_type(int status)
{
    switch (status) {

    case 400:
        return "invalid_request_error";

    case 401:
        return "authentication_error";

    case 402:
        return "billing_error";

    case 403:
        return "permission_error";

    case 404:
        return "not_found_error";

    case 413:
        return "request_too_large";

    case 429:
        return "rate_limit_error";

    case 529:
        return "overloaded_error";
    }

    if (status >= 400 && status < 500) {
        return "invalid_request_error";
    }

    return "api_error";
}


static const char *
tokenroute_resp_status_text(int status)
{
    switch (status) {

    case 400:
        return "The provider rejected the request as invalid";

    case 401:
        return "The provider rejected the credentials";

    case 402:
        return "The provider requires payment";

    case 403:
        return "The provider denied permission";

    case 404:
        return "The provider did not find the requested resource";

    case 408:
    case 504:
        return "The provider timed out";

    case 413:
        return "The request is too large for the provider";

    case 429:
        return "The provider's rate limit was exceeded";

    case 500:
        return "The provider had an internal error";

    case 502:
        return "The provider's gateway failed";

    case 503:
        return "The provider is unavailable";

    case 529:
        return "The provider is overloaded";
    }

    if (status >= 400 && status < 500) {
        return "The provider rejected the request";
    }

    return "The provider failed";
}


/* streams */


static int
tokenroute_stream_event(void *ctx, const char *event, size_t event_len,
    const char *data, size_t len, int truncated)
{
    int                   rc;
    tokenroute_stream_t  *st = ctx;

    if (st->done || truncated) {
        return 0;
    }

    st->out.len = 0;

    if (st->from == st->to) {
        rc = tokenroute_stream_relay(st, event, event_len, data, len);

    } else if (st->from == TOKENROUTE_API_ANTHROPIC) {
        rc = tokenroute_stream_ao(st, event, event_len, data, len);

    } else {
        rc = tokenroute_stream_oa(st, data, len);
    }

    if (rc != 0) {
        return -1;
    }

    return tokenroute_stream_flush(st);
}


static int
tokenroute_stream_flush(tokenroute_stream_t *st)
{
    if (st->out.failed) {
        st->failed = 1;
        return -1;
    }

    if (st->out.len > 0 && st->emit(st->ctx, st->out.data, st->out.len) != 0)
    {
        st->failed = 1;
        return -1;
    }

    st->out.len = 0;

    return 0;
}


/* returns 0, -1 if data is not JSON, or -2 if out of memory */

static int
tokenroute_stream_parse(tokenroute_stream_t *st, const char *data,
    size_t len)
{
    int                       rc;
    char                     *p;
    yajl_alloc_funcs          af;
    tokenroute_resp_arena_t   a;

    a.start = st->arena;
    a.last = (char *) (((uintptr_t) st->arena + TR_ARENA_ALIGN - 1)
                       & ~((uintptr_t) TR_ARENA_ALIGN - 1));
    a.end = st->arena + st->arena_size;
    a.spilled = 0;

    af.malloc = tokenroute_resp_arena_malloc;
    af.realloc = tokenroute_resp_arena_realloc;
    af.free = tokenroute_resp_arena_free;
    af.ctx = &a;

    rc = tokenroute_json_tree_parse(&st->json, data, len, &af);

    if (a.spilled && st->arena_size < TR_ARENA_MAX) {
        p = malloc(st->arena_size * 2);

        if (p != NULL) {
            free(st->arena);
            st->arena = p;
            st->arena_size *= 2;
        }
    }

    return rc;
}


/* Anthropic events to OpenAI chunks */


static int
tokenroute_stream_ao(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len)
{
    int                      rc;
    size_t                   type_len, n;
    int64_t                  k;
    uint32_t                 msg, cb, delta;
    const char              *type, *s, *name;
    tokenroute_json_tree_t  *j;

    j = &st->json;

    rc = tokenroute_stream_parse(st, data, len);

    if (rc == -2) {
        return -1;
    }

    if (rc != 0 || j->nodes[1].type != TR_J_MAP) {
        return tokenroute_stream_malformed(st);
    }

    if (!tokenroute_json_str(j, tokenroute_json_get(j, 1, "type"), &type,
                             &type_len))
    {
        type = event;
        type_len = event_len;
    }

    if (tr_str_is(type, type_len, "content_block_delta")) {
        delta = tokenroute_json_get(j, 1, "delta");

        if (!tokenroute_json_str(j, tokenroute_json_get(j, delta, "type"),
                                 &type, &type_len))
        {
            return 0;
        }

        if (tr_str_is(type, type_len, "text_delta")) {

            if (!tokenroute_json_str(j, tokenroute_json_get(j, delta, "text"),
                                     &s, &n)
                || n == 0)
            {
                return 0;
            }

            tokenroute_stream_ao_start(st, NULL, 0);
            tokenroute_stream_ao_open(st);
            tr_add_lit(&st->out, "{\"content\":");
            tokenroute_json_add_str(&st->out, s, n);
            tr_add_lit(&st->out, "}");
            tokenroute_stream_ao_close(st, NULL);

            return 0;
        }

        if (!tr_str_is(type, type_len, "input_json_delta")
            || !tokenroute_json_str(j, tokenroute_json_get(j, delta,
                                                           "partial_json"),
                                    &s, &n)
            || n == 0)
        {
            /* thinking and signature deltas are dropped */
            return 0;
        }

        /* server_tool_use blocks have input deltas too */

        k = tokenroute_json_int(j, tokenroute_json_get(j, 1, "index"), -1);

        if (st->block_tool < 0 || (k != st->block && k != -1)) {
            return 0;
        }

        k = st->block_tool;

        tokenroute_stream_ao_start(st, NULL, 0);
        tokenroute_stream_ao_open(st);
        tr_add_lit(&st->out, "{\"tool_calls\":[{\"index\":");
        tokenroute_json_add_int(&st->out, k);
        tr_add_lit(&st->out, ",\"function\":{\"arguments\":");
        tokenroute_json_add_str(&st->out, s, n);
        tr_add_lit(&st->out, "}}]}");
        tokenroute_stream_ao_close(st, NULL);

        return 0;
    }

    if (tr_str_is(type, type_len, "content_block_start")) {
        cb = tokenroute_json_get(j, 1, "content_block");

        st->block = tokenroute_json_int(j, tokenroute_json_get(j, 1, "index"),
                                        -1);
        st->block_tool = -1;

        if (!tokenroute_json_str(j, tokenroute_json_get(j, cb, "type"), &s,
                                 &n)
            || !tr_str_is(s, n, "tool_use"))
        {
            /* text needs no start; thinking blocks are dropped */
            return 0;
        }

        st->block_tool = st->nblocks++;

        tokenroute_stream_ao_start(st, NULL, 0);
        tokenroute_stream_ao_open(st);
        tr_add_lit(&st->out, "{\"tool_calls\":[{\"index\":");
        tokenroute_json_add_int(&st->out, st->block_tool);
        tr_add_lit(&st->out, ",\"id\":");

        if (!tokenroute_json_str(j, tokenroute_json_get(j, cb, "id"), &s, &n))
        {
            s = "";
            n = 0;
        }

        tokenroute_json_add_str(&st->out, s, n);
        tr_add_lit(&st->out, ",\"type\":\"function\",\"function\":{\"name\":");

        if (!tokenroute_json_str(j, tokenroute_json_get(j, cb, "name"), &name,
                                 &n))
        {
            name = "";
            n = 0;
        }

        tokenroute_json_add_str(&st->out, name, n);
        tr_add_lit(&st->out, ",\"arguments\":\"\"}}]}");
        tokenroute_stream_ao_close(st, NULL);

        return 0;
    }

    if (tr_str_is(type, type_len, "message_start")) {
        msg = tokenroute_json_get(j, 1, "message");

        tokenroute_stream_ao_usage(st, tokenroute_json_get(j, msg, "usage"));

        if (!tokenroute_json_str(j, tokenroute_json_get(j, msg, "id"), &s, &n))
        {
            s = NULL;
            n = 0;
        }

        tokenroute_stream_ao_start(st, s, n);

        return 0;
    }

    if (tr_str_is(type, type_len, "message_delta")) {
        tokenroute_stream_ao_usage(st, tokenroute_json_get(j, 1, "usage"));

        delta = tokenroute_json_get(j, 1, "delta");

        if (st->finished
            || !tokenroute_json_str(j, tokenroute_json_get(j, delta,
                                                           "stop_reason"),
                                    &s, &n))
        {
            return 0;
        }

        tokenroute_stream_ao_start(st, NULL, 0);
        tokenroute_stream_ao_open(st);
        tr_add_lit(&st->out, "{}");
        tokenroute_stream_ao_close(st, tokenroute_resp_finish_reason(s, n));

        st->finished = 1;

        return 0;
    }

    if (tr_str_is(type, type_len, "message_stop")) {
        tokenroute_stream_ao_end(st);
        return 0;
    }

    if (tr_str_is(type, type_len, "error")) {
        return tokenroute_stream_upstream_error(st);
    }

    /* ping, content_block_stop and unknown events */

    return 0;
}


/* the chunks' common prefix, and the role chunk */

static void
tokenroute_stream_ao_start(tokenroute_stream_t *st, const char *id,
    size_t id_len)
{
    tokenroute_json_buf_t  *b;

    if (st->started) {
        return;
    }

    st->started = 1;

    if (id_len > 4 && memcmp(id, "msg_", 4) == 0) {
        id += 4;
        id_len -= 4;
    }

    b = &st->prefix;

    tr_add_lit(b, "{\"id\":\"chatcmpl-");
    tokenroute_json_add_escaped(b, id, id_len);
    tr_add_lit(b, "\",\"object\":\"chat.completion.chunk\",\"created\":");
    tokenroute_json_add_int(b, (int64_t) st->created);
    tr_add_lit(b, ",\"model\":");
    tokenroute_json_add_str(b, st->model.data, st->model.len);
    tr_add_lit(b, ",");

    if (b->failed) {
        st->out.failed = 1;
        return;
    }

    tokenroute_stream_ao_open(st);
    tr_add_lit(&st->out, "{\"role\":\"assistant\",\"content\":\"\"}");
    tokenroute_stream_ao_close(st, NULL);
}


/* a chunk up to its delta, which the caller adds */

static void
tokenroute_stream_ao_open(tokenroute_stream_t *st)
{
    tr_add_lit(&st->out, "data: ");
    tokenroute_json_add(&st->out, st->prefix.data, st->prefix.len);
    tr_add_lit(&st->out, "\"choices\":[{\"index\":0,\"delta\":");
}


static void
tokenroute_stream_ao_close(tokenroute_stream_t *st, const char *finish)
{
    tr_add_lit(&st->out, ",\"logprobs\":null,\"finish_reason\":");

    if (finish != NULL) {
        tokenroute_json_add_str(&st->out, finish, strlen(finish));

    } else {
        tr_add_lit(&st->out, "null");
    }

    tr_add_lit(&st->out, "}]}\n\n");
}


/* usage in message_start and message_delta is cumulative: keep the max */

static void
tokenroute_stream_ao_usage(tokenroute_stream_t *st, uint32_t n)
{
    int      i;
    int64_t  v;

    if (n == 0) {
        return;
    }

    for (i = 0; i < 4; i++) {
        v = tokenroute_json_int(&st->json,
                                tokenroute_json_get(&st->json, n,
                                    tokenroute_resp_usage_keys[i]), 0);

        if (v > st->usage[i] && v <= INT64_MAX / 4) {
            st->usage[i] = v;
        }
    }
}


static void
tokenroute_stream_ao_end(tokenroute_stream_t *st)
{
    int64_t  prompt;

    if (st->done) {
        return;
    }

    tokenroute_stream_ao_start(st, NULL, 0);

    if (!st->finished) {
        tokenroute_stream_ao_open(st);
        tr_add_lit(&st->out, "{}");
        tokenroute_stream_ao_close(st, "stop");
        st->finished = 1;
    }

    if (st->include_usage) {
        prompt = st->usage[TR_U_INPUT] + st->usage[TR_U_CACHE_READ]
                 + st->usage[TR_U_CACHE_WRITE];

        tr_add_lit(&st->out, "data: ");
        tokenroute_json_add(&st->out, st->prefix.data, st->prefix.len);
        tr_add_lit(&st->out, "\"choices\":[],\"usage\":{\"prompt_tokens\":");
        tokenroute_json_add_int(&st->out, prompt);
        tr_add_lit(&st->out, ",\"completion_tokens\":");
        tokenroute_json_add_int(&st->out, st->usage[TR_U_OUTPUT]);
        tr_add_lit(&st->out, ",\"total_tokens\":");
        tokenroute_json_add_int(&st->out, prompt + st->usage[TR_U_OUTPUT]);
        tr_add_lit(&st->out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        tokenroute_json_add_int(&st->out, st->usage[TR_U_CACHE_READ]);
        tr_add_lit(&st->out, "}}}\n\n");
    }

    tr_add_lit(&st->out, "data: [DONE]\n\n");

    st->done = 1;
}


/* OpenAI chunks to Anthropic events */


static int
tokenroute_stream_oa(tokenroute_stream_t *st, const char *data, size_t len)
{
    int                      rc;
    size_t                   n;
    int64_t                  v, pos;
    uint32_t                 e, usage, choice, delta, c;
    const char              *s;
    tokenroute_json_tree_t  *j;

    if (tr_str_is(data, len, "[DONE]")) {
        tokenroute_stream_oa_end(st);
        return 0;
    }

    j = &st->json;

    rc = tokenroute_stream_parse(st, data, len);

    if (rc == -2) {
        return -1;
    }

    if (rc != 0 || j->nodes[1].type != TR_J_MAP) {
        return tokenroute_stream_malformed(st);
    }

    e = tokenroute_json_get(j, 1, "error");

    if (e != 0 && j->nodes[e].type != TR_J_NULL
        && j->nodes[e].type != TR_J_FALSE)
    {
        return tokenroute_stream_upstream_error(st);
    }

    if (!st->started) {

        if (!tokenroute_json_str(j, tokenroute_json_get(j, 1, "id"), &s, &n))
        {
            s = NULL;
            n = 0;
        }

        tokenroute_stream_oa_start(st, s, n);
    }

    usage = tokenroute_json_get(j, 1, "usage");

    if (usage != 0 && j->nodes[usage].type == TR_J_MAP) {
        v = tokenroute_json_int(j, tokenroute_json_get(j, usage,
                                                       "prompt_tokens"), 0);
        if (v > st->usage[TR_U_INPUT] && v <= INT64_MAX / 4) {
            st->usage[TR_U_INPUT] = v;
        }

        v = tokenroute_json_int(j, tokenroute_json_get(j, usage,
                                                     "completion_tokens"), 0);
        if (v > st->usage[TR_U_OUTPUT] && v <= INT64_MAX / 4) {
            st->usage[TR_U_OUTPUT] = v;
        }

        v = tokenroute_json_int(j, tokenroute_json_get(j,
                                tokenroute_json_get(j, usage,
                                                    "prompt_tokens_details"),
                                "cached_tokens"), 0);
        if (v > st->usage[TR_U_CACHE_READ] && v <= INT64_MAX / 4) {
            st->usage[TR_U_CACHE_READ] = v;
        }
    }

    choice = tokenroute_resp_choice(j, tokenroute_json_get(j, 1, "choices"));

    if (choice == 0) {
        return 0;
    }

    delta = tokenroute_json_get(j, choice, "delta");

    if (tokenroute_json_str(j, tokenroute_json_get(j, delta, "content"), &s,
                            &n)
        && n > 0)
    {
        tokenroute_stream_oa_text(st, s, n);
    }

    if (tokenroute_json_str(j, tokenroute_json_get(j, delta, "refusal"), &s,
                            &n)
        && n > 0)
    {
        tokenroute_stream_oa_text(st, s, n);
    }

    c = tokenroute_json_get(j, delta, "tool_calls");

    if (c != 0 && j->nodes[c].type == TR_J_ARRAY) {

        for (c = j->nodes[c].child, pos = 0; c != 0; c = j->nodes[c].next) {

            if (tokenroute_stream_oa_tool(st, c, pos++) != 0) {
                return -1;
            }
        }
    }

    if (tokenroute_json_str(j, tokenroute_json_get(j, choice, "finish_reason"),
                            &s, &n))
    {
        tokenroute_stream_oa_close(st);
        st->stop_reason = tokenroute_resp_stop_reason(s, n);
        st->finished = 1;
    }

    return 0;
}


static void
tokenroute_stream_oa_start(tokenroute_stream_t *st, const char *id,
    size_t id_len)
{
    if (st->started) {
        return;
    }

    st->started = 1;

    tokenroute_stream_open_event(st, "message_start");
    tr_add_lit(&st->out, "{\"type\":\"message_start\",\"message\":"
               "{\"id\":\"msg_");
    tokenroute_json_add_escaped(&st->out, id, id_len);
    tr_add_lit(&st->out, "\",\"type\":\"message\",\"role\":\"assistant\","
               "\"model\":");
    tokenroute_json_add_str(&st->out, st->model.data, st->model.len);
    tr_add_lit(&st->out, ",\"content\":[],\"stop_reason\":null,"
               "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
               "\"output_tokens\":0}}}\n\n");
}


static void
tokenroute_stream_oa_text(tokenroute_stream_t *st, const char *s, size_t len)
{
    if (!st->block_open || !st->block_text) {
        tokenroute_stream_oa_close(st);

        st->block = st->nblocks++;
        st->block_open = 1;
        st->block_text = 1;

        tokenroute_stream_open_event(st, "content_block_start");
        tr_add_lit(&st->out, "{\"type\":\"content_block_start\",\"index\":");
        tokenroute_json_add_int(&st->out, st->block);
        tr_add_lit(&st->out, ",\"content_block\":{\"type\":\"text\","
                   "\"text\":\"\"}}\n\n");
    }

    tokenroute_stream_open_event(st, "content_block_delta");
    tr_add_lit(&st->out, "{\"type\":\"content_block_delta\",\"index\":");
    tokenroute_json_add_int(&st->out, st->block);
    tr_add_lit(&st->out, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
    tokenroute_json_add_str(&st->out, s, len);
    tr_add_lit(&st->out, "}}\n\n");
}


/*
 * A delta of tool_calls[]: an id, or a tool index not seen yet, starts a
 * tool_use block (Gemini's endpoint gives every call index 0); argument
 * fragments go to the block of their index.
 */

static int
tokenroute_stream_oa_tool(tokenroute_stream_t *st, uint32_t tc, int64_t pos)
{
    size_t                   n, id_len, args_len;
    int32_t                 *tools;
    int64_t                  idx;
    uint32_t                 fn, ntools;
    const char              *id, *name, *args;
    tokenroute_json_tree_t  *j;

    j = &st->json;

    idx = tokenroute_json_int(j, tokenroute_json_get(j, tc, "index"), pos);

    if (idx < 0 || idx >= TR_TOOLS_MAX) {
        return 0;
    }

    if (!tokenroute_json_str(j, tokenroute_json_get(j, tc, "id"), &id,
                             &id_len))
    {
        id_len = 0;
    }

    fn = tokenroute_json_get(j, tc, "function");

    if (!tokenroute_json_str(j, tokenroute_json_get(j, fn, "arguments"),
                             &args, &args_len))
    {
        args_len = 0;
    }

    if ((uint32_t) idx >= st->ntools) {
        ntools = (st->ntools != 0) ? st->ntools : 8;

        while (ntools <= (uint32_t) idx) {
            ntools *= 2;
        }

        tools = realloc(st->tools, ntools * sizeof(int32_t));
        if (tools == NULL) {
            return -1;
        }

        while (st->ntools < ntools) {
            tools[st->ntools++] = -1;
        }

        st->tools = tools;
    }

    if (id_len > 0 || st->tools[idx] < 0) {
        tokenroute_stream_oa_close(st);

        st->tools[idx] = st->nblocks;
        st->block = st->nblocks++;
        st->block_open = 1;
        st->block_text = 0;

        tokenroute_stream_open_event(st, "content_block_start");
        tr_add_lit(&st->out, "{\"type\":\"content_block_start\",\"index\":");
        tokenroute_json_add_int(&st->out, st->block);
        tr_add_lit(&st->out, ",\"content_block\":{\"type\":\"tool_use\","
                   "\"id\":");

        if (id_len > 0) {
            tokenroute_json_add_str(&st->out, id, id_len);

        } else {
            tr_add_lit(&st->out, "\"toolu_tr_");
            tokenroute_json_add_int(&st->out, st->block);
            tr_add_lit(&st->out, "\"");
        }

        tr_add_lit(&st->out, ",\"name\":");

        if (!tokenroute_json_str(j, tokenroute_json_get(j, fn, "name"), &name,
                                 &n))
        {
            name = "";
            n = 0;
        }

        tokenroute_json_add_str(&st->out, name, n);
        tr_add_lit(&st->out, ",\"input\":{}}}\n\n");
    }

    if (args_len > 0) {
        tokenroute_stream_open_event(st, "content_block_delta");
        tr_add_lit(&st->out, "{\"type\":\"content_block_delta\",\"index\":");
        tokenroute_json_add_int(&st->out, st->tools[idx]);
        tr_add_lit(&st->out, ",\"delta\":{\"type\":\"input_json_delta\","
                   "\"partial_json\":");
        tokenroute_json_add_str(&st->out, args, args_len);
        tr_add_lit(&st->out, "}}\n\n");
    }

    return 0;
}


static void
tokenroute_stream_oa_close(tokenroute_stream_t *st)
{
    if (!st->block_open) {
        return;
    }

    st->block_open = 0;

    tokenroute_stream_open_event(st, "content_block_stop");
    tr_add_lit(&st->out, "{\"type\":\"content_block_stop\",\"index\":");
    tokenroute_json_add_int(&st->out, st->block);
    tr_add_lit(&st->out, "}\n\n");
}


static void
tokenroute_stream_oa_end(tokenroute_stream_t *st)
{
    int64_t      cached, input;
    const char  *stop;

    if (st->done) {
        return;
    }

    tokenroute_stream_oa_start(st, NULL, 0);
    tokenroute_stream_oa_close(st);

    stop = (st->stop_reason != NULL) ? st->stop_reason : "end_turn";

    cached = st->usage[TR_U_CACHE_READ];
    input = st->usage[TR_U_INPUT] - cached;

    tokenroute_stream_open_event(st, "message_delta");
    tr_add_lit(&st->out, "{\"type\":\"message_delta\",\"delta\":"
               "{\"stop_reason\":");
    tokenroute_json_add_str(&st->out, stop, strlen(stop));
    tr_add_lit(&st->out, ",\"stop_sequence\":null},\"usage\":"
               "{\"output_tokens\":");
    tokenroute_json_add_int(&st->out, st->usage[TR_U_OUTPUT]);
    tr_add_lit(&st->out, ",\"input_tokens\":");
    tokenroute_json_add_int(&st->out, (input > 0) ? input : 0);
    tr_add_lit(&st->out, ",\"cache_read_input_tokens\":");
    tokenroute_json_add_int(&st->out, cached);
    tr_add_lit(&st->out, "}}\n\n");

    tokenroute_stream_open_event(st, "message_stop");
    tr_add_lit(&st->out, "{\"type\":\"message_stop\"}\n\n");

    st->done = 1;
}


static void
tokenroute_stream_open_event(tokenroute_stream_t *st, const char *name)
{
    tr_add_lit(&st->out, "event: ");
    tokenroute_json_add(&st->out, name, strlen(name));
    tr_add_lit(&st->out, "\ndata: ");
}


/*
 * The same shape on both sides: events are passed on as they are, except
 * that error events are sanitized, and the end is tracked.
 */

static int
tokenroute_stream_relay(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len)
{
    int                      rc;
    size_t                   n;
    uint32_t                 e;
    const char              *p, *last, *q, *s;
    tokenroute_json_tree_t  *j;

    if (st->from == TOKENROUTE_API_OPENAI && tr_str_is(data, len, "[DONE]")) {
        tr_add_lit(&st->out, "data: [DONE]\n\n");
        st->done = 1;
        return 0;
    }

    /*
     * data is NUL-terminated, and JSON has no NUL in it; an event cut
     * short by the end of the stream is not passed on
     */

    if (st->flushing || strstr(data, "\"error\"") != NULL) {
        j = &st->json;

        rc = tokenroute_stream_parse(st, data, len);

        if (rc == -2) {
            return -1;
        }

        if (rc != 0 && st->flushing) {
            return 0;
        }

        if (rc == 0 && st->from == TOKENROUTE_API_OPENAI) {
            e = tokenroute_json_get(j, 1, "error");

            if (e != 0 && j->nodes[e].type != TR_J_NULL
                && j->nodes[e].type != TR_J_FALSE)
            {
                return tokenroute_stream_upstream_error(st);
            }

        } else if (rc == 0
                   && tokenroute_json_str(j, tokenroute_json_get(j, 1, "type"),
                                          &s, &n)
                   && tr_str_is(s, n, "error"))
        {
            return tokenroute_stream_upstream_error(st);
        }
    }

    if (event_len > 0) {
        tr_add_lit(&st->out, "event: ");
        tokenroute_json_add(&st->out, event, event_len);
        tr_add_lit(&st->out, "\n");
    }

    /* the joined data lines, split again */

    last = data + len;

    for (p = data; /* void */; p = q + 1) {
        q = memchr(p, '\n', last - p);

        if (q == NULL) {
            q = last;
        }

        tr_add_lit(&st->out, "data: ");
        tokenroute_json_add(&st->out, p, q - p);
        tr_add_lit(&st->out, "\n");

        if (q == last) {
            break;
        }
    }

    tr_add_lit(&st->out, "\n");

    if (st->from == TOKENROUTE_API_ANTHROPIC
        && tr_str_is(event, event_len, "message_stop"))
    {
        st->done = 1;
    }

    return 0;
}


/* an error chunk or event of the provider, parsed into st->json */

static int
tokenroute_stream_upstream_error(tokenroute_stream_t *st)
{
    int                       status;
    uint32_t                  n;
    tokenroute_json_tree_t   *j;
    tokenroute_resp_error_t   e;

    j = &st->json;

    memset(&e, 0, sizeof(tokenroute_resp_error_t));
    status = 0;

    n = tokenroute_json_get(j, 1, "error");

    if (n != 0) {
        tokenroute_resp_error_read(j, n, &e, &status);
    }

    tokenroute_stream_terminal(st, st->from, status, &e);

    return 0;
}


/*
 * An event that is not JSON cannot be translated, and dropping it would
 * hand the client a well-formed but truncated answer: end the stream with
 * an error event instead.
 */

static int
tokenroute_stream_malformed(tokenroute_stream_t *st)
{
    tokenroute_resp_error_t  e;

    if (st->flushing) {
        /* an event cut short by the end of the stream: finish() reports */
        return 0;
    }

    memset(&e, 0, sizeof(tokenroute_resp_error_t));
    e.message = "The provider sent a malformed stream event";
    e.message_len = sizeof("The provider sent a malformed stream event") - 1;

    tokenroute_stream_terminal(st, 0, 0, &e);

    return 0;
}


/*
 * The client's terminal error event; from is the provider's shape for a
 * provider's error, or 0 for the gateway's own; status 0 if unknown.
 */

static void
tokenroute_stream_terminal(tokenroute_stream_t *st, int from, int status,
    tokenroute_resp_error_t *e)
{
    if (st->to == TOKENROUTE_API_ANTHROPIC) {
        tr_add_lit(&st->out, "event: error\ndata: ");

    } else {
        tr_add_lit(&st->out, "data: ");
    }

    tokenroute_resp_error_write(&st->out, from, st->to, status, e);
    tr_add_lit(&st->out, "\n\n");

    if (st->to == TOKENROUTE_API_OPENAI) {
        tr_add_lit(&st->out, "data: [DONE]\n\n");
    }

    st->done = 1;
}


/*
 * The arena: a block's size is kept before it; free() is a no-op inside
 * the arena, and what does not fit goes to malloc().
 */

static void *
tokenroute_resp_arena_malloc(void *ctx, size_t size)
{
    char                     *p;
    size_t                    n;
    tokenroute_resp_arena_t  *a = ctx;

    n = (size + TR_ARENA_ALIGN - 1) & ~((size_t) TR_ARENA_ALIGN - 1);

    if (n < size || n + TR_ARENA_ALIGN > (size_t) (a->end - a->last)) {
        a->spilled = 1;
        return malloc(size);
    }

    p = a->last + TR_ARENA_ALIGN;
    ((size_t *) p)[-1] = n;
    a->last = p + n;

    return p;
}


static void *
tokenroute_resp_arena_realloc(void *ctx, void *ptr, size_t size)
{
    char                     *p, *q;
    size_t                    n, old;
    tokenroute_resp_arena_t  *a = ctx;

    p = ptr;

    if (p == NULL) {
        return tokenroute_resp_arena_malloc(ctx, size);
    }

    if ((uintptr_t) p < (uintptr_t) a->start
        || (uintptr_t) p >= (uintptr_t) a->end)
    {
        return realloc(p, size);
    }

    old = ((size_t *) p)[-1];

    if (size <= old) {
        return p;
    }

    n = (size + TR_ARENA_ALIGN - 1) & ~((size_t) TR_ARENA_ALIGN - 1);

    /* the last block grows in place */

    if (p + old == a->last && n >= size && n <= (size_t) (a->end - p)) {
        ((size_t *) p)[-1] = n;
        a->last = p + n;
        return p;
    }

    q = tokenroute_resp_arena_malloc(ctx, size);
    if (q == NULL) {
        return NULL;
    }

    memcpy(q, p, old);

    return q;
}


static void
tokenroute_resp_arena_free(void *ctx, void *ptr)
{
    tokenroute_resp_arena_t  *a = ctx;

    if (ptr != NULL
        && ((uintptr_t) ptr < (uintptr_t) a->start
            || (uintptr_t) ptr >= (uintptr_t) a->end))
    {
        free(ptr);
    }
}
