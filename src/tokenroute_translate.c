
/*
 * Copyright (C) tokenroute authors
 *
 * Request bodies from OpenAI Chat Completions to Anthropic Messages and
 * back.  The body is parsed into a tree in an arena, checked, and written
 * anew with yajl_gen; nothing is sent that was not understood.
 *
 * OpenAI -> Anthropic
 *
 *   mapped    model (the upstream id), messages (system and developer
 *             messages hoisted into "system"), tools, tool_choice,
 *             parallel_tool_calls, max_completion_tokens or else
 *             max_tokens (else the configured default), temperature,
 *             top_p, stop, user (as metadata.user_id), stream
 *   dropped   n when 1, presence_penalty, frequency_penalty, logit_bias,
 *             seed, service_tier, store, metadata, prediction,
 *             reasoning_effort, response_format of type "text",
 *             logprobs false, top_logprobs, modalities ["text"],
 *             stream_options (Anthropic streams always carry usage),
 *             messages' "name" and "refusal", tools' "strict", images'
 *             "detail"; and any field not named here, as OpenAI adds
 *             fields often
 *   rejected  n other than 1, logprobs true, response_format json_object
 *             and json_schema, audio, modalities other than "text",
 *             web_search_options, functions, function_call (also in a
 *             message), role "function" and roles other than system,
 *             developer, user, assistant and tool, content parts other
 *             than text and image_url (refusal, input_audio, file...),
 *             image URLs other than http(s) and base64 data:, tools and
 *             tool calls other than "function"
 *
 * Anthropic -> OpenAI
 *
 *   mapped    model, system (a first system message), messages, tools,
 *             tool_choice (disable_parallel_tool_use as
 *             parallel_tool_calls false), max_tokens, stop_sequences (as
 *             stop), temperature, top_p, metadata.user_id (as user),
 *             stream (and stream_options.include_usage if configured)
 *   dropped   top_k, thinking, service_tier, metadata other than user_id,
 *             cache_control and citations anywhere, thinking and
 *             redacted_thinking blocks; and any field not named here
 *   rejected  mcp_servers, server tools (a tool "type" other than
 *             "custom"), blocks other than text, image, tool_use,
 *             tool_result, thinking and redacted_thinking (document,
 *             search_result, server_tool_use...), image sources other
 *             than base64 and url, tool results holding anything but text
 *
 * JSON null counts as absent everywhere: SDKs send it for unset fields.
 */


#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>     /* yajl_type only */

#include "tokenroute_translate.h"


#define TR_NOMEM               -2
#define TR_REJECT              -1

/*
 * Parsed JSON may nest this deep: the copy is recursive, and yajl_gen
 * stops at YAJL_MAX_DEPTH (128) levels, of which a copied value may sit
 * under five more (a tool call's arguments inside messages[].content[]).
 */
#define TR_DEPTH_MAX           100

#define TR_CHUNK_SIZE          16384
#define TR_ALIGN               sizeof(void *)

/* bytes of a client's string quoted in an error message */
#define TR_NAME_MAX            48

#define TR_BLOCK_TEXT          1
#define TR_BLOCK_IMAGE_BASE64  2
#define TR_BLOCK_IMAGE_URL     3
#define TR_BLOCK_TOOL_USE      4
#define TR_BLOCK_TOOL_RESULT   5

#define tr_str_is(s, len, lit)                                                \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)

#define tr_is(v, lit)                                                         \
    ((v) != NULL && (v)->type == yajl_t_string                                \
     && tr_str_is((v)->str, (v)->len, lit))


typedef struct tr_chunk_s  tr_chunk_t;
typedef struct tr_val_s    tr_val_t;
typedef struct tr_piece_s  tr_piece_t;
typedef struct tr_block_s  tr_block_t;
typedef struct tr_msg_s    tr_msg_t;


/* an arena chunk; its bytes follow the header */
struct tr_chunk_s {
    tr_chunk_t                         *next;
    size_t                              size;
    size_t                              used;
};


/*
 * A parsed JSON value.  yajl_tree would lose the length of strings with
 * "\u0000" in them, so the tree is built here, in the arena.
 */
struct tr_val_s {
    yajl_type                           type;
    const char                         *key;      /* member name */
    size_t                              key_len;
    const char                         *str;      /* string, number text */
    size_t                              len;      /* str bytes; elements */
    tr_val_t                           *first;    /* elements, in order */
    tr_val_t                           *last;
    tr_val_t                           *next;
    tr_val_t                           *parent;
};


/* texts to be joined into one string */
struct tr_piece_s {
    tr_piece_t                         *next;
    const char                         *data;
    size_t                              len;
};


typedef struct {
    tr_piece_t                         *first;
    tr_piece_t                         *last;
    size_t                              n;
    size_t                              len;
} tr_text_t;


/* an Anthropic content block made from OpenAI message parts */
struct tr_block_s {
    tr_block_t                         *next;
    unsigned                            type;
    const char                         *a;        /* text, media type, */
    size_t                              a_len;    /* URL or tool id */
    const char                         *b;        /* base64 data, name */
    size_t                              b_len;
    tr_val_t                           *value;    /* input, result */
};


/* an Anthropic message made from one or more OpenAI messages */
struct tr_msg_s {
    tr_msg_t                           *next;
    unsigned                            assistant;
    tr_val_t                           *text;     /* content: one string */
    tr_block_t                         *first;
    tr_block_t                         *last;
};


typedef struct {
    yajl_gen                            gen;
    tr_chunk_t                         *chunks;
    const tokenroute_translate_opts_t  *opts;
    char                               *err;
    size_t                              err_size;
    unsigned                            gen_failed:1;
    char                                name[TR_NAME_MAX + 4];
} tr_ctx_t;


typedef struct {
    tr_ctx_t                           *ctx;
    tr_val_t                           *root;
    tr_val_t                           *cur;      /* the open container */
    const char                         *key;
    size_t                              key_len;
    unsigned                            depth;
    unsigned                            nomem:1;
    unsigned                            deep:1;
} tr_parse_t;


static int tr_error(tr_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *tr_name(tr_ctx_t *ctx, tr_val_t *v);
static void *tr_alloc(tr_ctx_t *ctx, size_t size);
static void *tr_calloc(tr_ctx_t *ctx, size_t size);
static char *tr_strdup(tr_ctx_t *ctx, const char *s, size_t len);
static int tr_parse(tr_ctx_t *ctx, const char *p, size_t len,
    tr_val_t **root, const char *what);
static tr_val_t *tr_parse_add(tr_parse_t *ps, yajl_type type,
    const char *s, size_t len);
static int tr_parse_null(void *ctx);
static int tr_parse_boolean(void *ctx, int value);
static int tr_parse_number(void *ctx, const char *s, size_t len);
static int tr_parse_string(void *ctx, const unsigned char *s, size_t len);
static int tr_parse_start_map(void *ctx);
static int tr_parse_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int tr_parse_start_array(void *ctx);
static int tr_parse_end(void *ctx);
static tr_val_t *tr_get(tr_val_t *obj, const char *key);
static int tr_check(tr_ctx_t *ctx, tr_val_t *v, yajl_type type,
    const char *what);
static int tr_integer(tr_val_t *v, long long *n);
static int tr_text_add(tr_ctx_t *ctx, tr_text_t *text, const char *s,
    size_t len);
static int tr_text_string(tr_ctx_t *ctx, tr_text_t *text,
    const char *prefix, const char **s, size_t *len);
static void tr_gen_status(tr_ctx_t *ctx, yajl_gen_status st);
static void tr_gen_string(tr_ctx_t *ctx, const char *s, size_t len);
static void tr_gen_key(tr_ctx_t *ctx, const char *key);
static void tr_gen_pair(tr_ctx_t *ctx, const char *key, const char *value);
static void tr_gen_map(tr_ctx_t *ctx);
static void tr_gen_map_end(tr_ctx_t *ctx);
static void tr_gen_array(tr_ctx_t *ctx);
static void tr_gen_array_end(tr_ctx_t *ctx);
static void tr_gen_value(tr_ctx_t *ctx, tr_val_t *v);
static int tr_gen_text(tr_ctx_t *ctx, tr_text_t *text, const char *prefix);
static int tr_gen_json(tr_ctx_t *ctx, tr_val_t *v);
static void tr_gen_empty_schema(tr_ctx_t *ctx);
static int tr_gen_model(tr_ctx_t *ctx, tr_val_t *root);
static int tr_same(tr_ctx_t *ctx, tr_val_t *root, int to);
static int tr_oa(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_unsupported(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_system(tr_ctx_t *ctx, tr_val_t *messages);
static int tr_oa_text_parts(tr_ctx_t *ctx, tr_val_t *content, size_t i,
    const char *where, tr_text_t *text);
static int tr_oa_messages(tr_ctx_t *ctx, tr_val_t *messages);
static int tr_oa_user(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m);
static int tr_oa_assistant(tr_ctx_t *ctx, tr_val_t *msg, size_t i,
    tr_msg_t *m);
static int tr_oa_tool(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m);
static int tr_oa_part(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j,
    tr_msg_t *m);
static int tr_oa_image(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j,
    tr_msg_t *m);
static int tr_oa_tool_call(tr_ctx_t *ctx, tr_val_t *tc, size_t i,
    size_t k, tr_msg_t *m);
static tr_block_t *tr_oa_block(tr_ctx_t *ctx, tr_msg_t *m, unsigned type);
static int tr_oa_text_block(tr_ctx_t *ctx, tr_msg_t *m, tr_val_t *text);
static int tr_oa_merge(tr_ctx_t *ctx, tr_msg_t *prev, tr_msg_t *m);
static void tr_oa_gen_message(tr_ctx_t *ctx, tr_msg_t *m);
static void tr_oa_gen_block(tr_ctx_t *ctx, tr_block_t *b);
static int tr_oa_params(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_tools(tr_ctx_t *ctx, tr_val_t *root);
static int tr_oa_tool_def(tr_ctx_t *ctx, tr_val_t *tool, size_t k);
static int tr_oa_tool_choice(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_system(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_message(tr_ctx_t *ctx, tr_val_t *msg, size_t i);
static int tr_ao_user(tr_ctx_t *ctx, tr_val_t *content, size_t i);
static int tr_ao_image(tr_ctx_t *ctx, tr_val_t *block, size_t i, size_t j,
    int gen);
static int tr_ao_tool_result(tr_ctx_t *ctx, tr_val_t *block, size_t i,
    size_t j);
static int tr_ao_assistant(tr_ctx_t *ctx, tr_val_t *content, size_t i);
static int tr_ao_params(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_tools(tr_ctx_t *ctx, tr_val_t *root);
static int tr_ao_tool_choice(tr_ctx_t *ctx, tr_val_t *root);


static const yajl_callbacks  tr_parse_callbacks = {
    tr_parse_null,
    tr_parse_boolean,
    NULL,
    NULL,
    tr_parse_number,
    tr_parse_string,
    tr_parse_start_map,
    tr_parse_map_key,
    tr_parse_end,
    tr_parse_start_array,
    tr_parse_end
};


int
tokenroute_translate_request(int from, int to, const unsigned char *body,
    size_t len, const tokenroute_translate_opts_t *opts, unsigned char **out,
    size_t *out_len, char *err, size_t err_size)
{
    int                   rc;
    size_t                n;
    tr_ctx_t              ctx;
    tr_val_t             *root;
    tr_chunk_t           *c;
    const unsigned char  *buf;

    *out = NULL;
    *out_len = 0;

    if (err != NULL && err_size > 0) {
        err[0] = '\0';
    }

    memset(&ctx, 0, sizeof(tr_ctx_t));
    ctx.opts = opts;
    ctx.err = err;
    ctx.err_size = err_size;

    if ((from != TOKENROUTE_API_OPENAI && from != TOKENROUTE_API_ANTHROPIC)
        || (to != TOKENROUTE_API_OPENAI && to != TOKENROUTE_API_ANTHROPIC))
    {
        return tr_error(&ctx, "cannot translate from API %d to API %d",
                        from, to);
    }

    rc = tr_parse(&ctx, (const char *) body, len, &root, "The request body");
    if (rc != 0) {
        goto done;
    }

    if (root->type != yajl_t_object) {
        rc = tr_error(&ctx, "The request body must be a JSON object");
        goto done;
    }

    ctx.gen = yajl_gen_alloc(NULL);
    if (ctx.gen == NULL) {
        rc = TR_NOMEM;
        goto done;
    }

    if (from == to) {
        rc = tr_same(&ctx, root, to);

    } else if (from == TOKENROUTE_API_OPENAI) {
        rc = tr_oa(&ctx, root);

    } else {
        rc = tr_ao(&ctx, root);
    }

    if (rc != 0) {
        goto done;
    }

    /*
     * yajl_gen fails only on misuse (keys that are not strings, unbalanced
     * containers, depth), which the code and TR_DEPTH_MAX rule out.
     */
    if (ctx.gen_failed
        || yajl_gen_get_buf(ctx.gen, &buf, &n) != yajl_gen_status_ok)
    {
        (void) tr_error(&ctx, "internal error while writing the request");
        rc = TR_NOMEM;
        goto done;
    }

    *out = malloc(n);
    if (*out == NULL) {
        rc = TR_NOMEM;
        goto done;
    }

    memcpy(*out, buf, n);
    *out_len = n;

done:

    if (ctx.gen != NULL) {
        yajl_gen_free(ctx.gen);
    }

    while (ctx.chunks != NULL) {
        c = ctx.chunks;
        ctx.chunks = c->next;
        free(c);
    }

    if (rc == TR_NOMEM && (err == NULL || err_size == 0 || err[0] == '\0')) {
        (void) tr_error(&ctx, "out of memory while translating the request");
    }

    return rc;
}


static int
tr_error(tr_ctx_t *ctx, const char *fmt, ...)
{
    va_list  ap;

    if (ctx->err != NULL && ctx->err_size > 0) {
        va_start(ap, fmt);
        vsnprintf(ctx->err, ctx->err_size, fmt, ap);
        va_end(ap);
    }

    return TR_REJECT;
}


/*
 * A client's string for an error message, cut short and with quotes,
 * backslashes, control and non-ASCII bytes made '?': the message goes
 * into a JSON error body and a log line.
 */

static const char *
tr_name(tr_ctx_t *ctx, tr_val_t *v)
{
    size_t          i, n;
    unsigned char   c;

    if (v == NULL) {
        return "(none)";
    }

    switch (v->type) {

    case yajl_t_string:
        break;

    case yajl_t_number:
        return "(a number)";

    case yajl_t_object:
        return "(an object)";

    case yajl_t_array:
        return "(an array)";

    case yajl_t_true:
    case yajl_t_false:
        return "(a boolean)";

    default:
        return "(null)";
    }

    n = v->len < TR_NAME_MAX ? v->len : TR_NAME_MAX;

    for (i = 0; i < n; i++) {
        c = (unsigned char) v->str[i];
        ctx->name[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
                       ? '?' : (char) c;
    }

    if (n < v->len) {
        memcpy(&ctx->name[n], "...", 3);
        n += 3;
    }

    ctx->name[n] = '\0';

    return ctx->name;
}


static void *
tr_alloc(tr_ctx_t *ctx, size_t size)
{
    char        *p;
    size_t       n;
    tr_chunk_t  *c;

    size = (size + TR_ALIGN - 1) & ~(TR_ALIGN - 1);

    c = ctx->chunks;

    if (c == NULL || c->size - c->used < size) {
        n = size > TR_CHUNK_SIZE ? size : TR_CHUNK_SIZE;

        c = malloc(sizeof(tr_chunk_t) + n);
        if (c == NULL) {
            return NULL;
        }

        c->size = n;
        c->used = 0;
        c->next = ctx->chunks;
        ctx->chunks = c;
    }

    p = (char *) (c + 1) + c->used;
    c->used += size;

    return p;
}


static void *
tr_calloc(tr_ctx_t *ctx, size_t size)
{
    void  *p;

    p = tr_alloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    memset(p, 0, size);

    return p;
}


static char *
tr_strdup(tr_ctx_t *ctx, const char *s, size_t len)
{
    char  *p;

    p = tr_alloc(ctx, len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


/*
 * Parses p into *root; on invalid JSON returns TR_REJECT with a message
 * that starts with what.
 */

static int
tr_parse(tr_ctx_t *ctx, const char *p, size_t len, tr_val_t **root,
    const char *what)
{
    tr_parse_t   ps;
    yajl_handle  h;
    yajl_status  st;

    memset(&ps, 0, sizeof(tr_parse_t));
    ps.ctx = ctx;

    h = yajl_alloc(&tr_parse_callbacks, NULL, &ps);
    if (h == NULL) {
        return TR_NOMEM;
    }

    st = yajl_parse(h, (const unsigned char *) p, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (ps.nomem) {
        return TR_NOMEM;
    }

    if (ps.deep) {
        return tr_error(ctx, "%s nests JSON deeper than %d levels", what,
                        TR_DEPTH_MAX);
    }

    if (st != yajl_status_ok || ps.root == NULL) {
        return tr_error(ctx, "%s is not valid JSON", what);
    }

    *root = ps.root;

    return 0;
}


static tr_val_t *
tr_parse_add(tr_parse_t *ps, yajl_type type, const char *s, size_t len)
{
    tr_val_t  *v, *parent;

    v = tr_calloc(ps->ctx, sizeof(tr_val_t));
    if (v == NULL) {
        ps->nomem = 1;
        return NULL;
    }

    v->type = type;

    if (s != NULL) {
        v->str = tr_strdup(ps->ctx, s, len);
        if (v->str == NULL) {
            ps->nomem = 1;
            return NULL;
        }

        v->len = len;
    }

    parent = ps->cur;

    if (parent == NULL) {
        ps->root = v;
        return v;
    }

    if (parent->type == yajl_t_object) {
        v->key = ps->key;
        v->key_len = ps->key_len;
    }

    v->parent = parent;

    if (parent->last == NULL) {
        parent->first = v;

    } else {
        parent->last->next = v;
    }

    parent->last = v;
    parent->len++;

    return v;
}


static int
tr_parse_null(void *ctx)
{
    return tr_parse_add(ctx, yajl_t_null, NULL, 0) != NULL;
}


static int
tr_parse_boolean(void *ctx, int value)
{
    return tr_parse_add(ctx, value ? yajl_t_true : yajl_t_false, NULL, 0)
           != NULL;
}


static int
tr_parse_number(void *ctx, const char *s, size_t len)
{
    return tr_parse_add(ctx, yajl_t_number, s, len) != NULL;
}


static int
tr_parse_string(void *ctx, const unsigned char *s, size_t len)
{
    return tr_parse_add(ctx, yajl_t_string, (const char *) s, len) != NULL;
}


static int
tr_parse_start_map(void *ctx)
{
    tr_val_t    *v;
    tr_parse_t  *ps = ctx;

    if (++ps->depth > TR_DEPTH_MAX) {
        ps->deep = 1;
        return 0;
    }

    v = tr_parse_add(ps, yajl_t_object, NULL, 0);
    if (v == NULL) {
        return 0;
    }

    ps->cur = v;

    return 1;
}


static int
tr_parse_map_key(void *ctx, const unsigned char *key, size_t len)
{
    tr_parse_t  *ps = ctx;

    ps->key = tr_strdup(ps->ctx, (const char *) key, len);
    if (ps->key == NULL) {
        ps->nomem = 1;
        return 0;
    }

    ps->key_len = len;

    return 1;
}


static int
tr_parse_start_array(void *ctx)
{
    tr_val_t    *v;
    tr_parse_t  *ps = ctx;

    if (++ps->depth > TR_DEPTH_MAX) {
        ps->deep = 1;
        return 0;
    }

    v = tr_parse_add(ps, yajl_t_array, NULL, 0);
    if (v == NULL) {
        return 0;
    }

    ps->cur = v;

    return 1;
}


static int
tr_parse_end(void *ctx)
{
    tr_parse_t  *ps = ctx;

    ps->cur = ps->cur->parent;
    ps->depth--;

    return 1;
}


/*
 * The member named key; the last one if the name repeats, as most JSON
 * parsers (and so the providers) read it.  A null is no member.
 */

static tr_val_t *
tr_get(tr_val_t *obj, const char *key)
{
    size_t     len;
    tr_val_t  *v, *found;

    if (obj == NULL || obj->type != yajl_t_object) {
        return NULL;
    }

    len = strlen(key);
    found = NULL;

    for (v = obj->first; v != NULL; v = v->next) {
        if (v->key_len == len && memcmp(v->key, key, len) == 0) {
            found = v;
        }
    }

    if (found != NULL && found->type == yajl_t_null) {
        return NULL;
    }

    return found;
}


/* an absent v passes; yajl_t_true stands for either boolean */

static int
tr_check(tr_ctx_t *ctx, tr_val_t *v, yajl_type type, const char *what)
{
    const char  *name;

    if (v == NULL || v->type == type
        || (type == yajl_t_true && v->type == yajl_t_false))
    {
        return 0;
    }

    switch (type) {

    case yajl_t_string:
        name = "a string";
        break;

    case yajl_t_number:
        name = "a number";
        break;

    case yajl_t_object:
        name = "an object";
        break;

    case yajl_t_array:
        name = "an array";
        break;

    default:
        name = "a boolean";
        break;
    }

    return tr_error(ctx, "%s must be %s", what, name);
}


/* 0 if v is a number written as an integer that fits a long long */

static int
tr_integer(tr_val_t *v, long long *n)
{
    char  *end;

    if (v == NULL || v->type != yajl_t_number
        || strpbrk(v->str, ".eE") != NULL)
    {
        return -1;
    }

    errno = 0;
    *n = strtoll(v->str, &end, 10);

    if (errno != 0 || *end != '\0') {
        return -1;
    }

    return 0;
}


/*
 * Several texts that become one string are joined with a blank line:
 * OpenAI system messages into Anthropic's single "system", Anthropic text
 * blocks into the single string content every OpenAI-compatible host
 * accepts (many reject content arrays in some roles).  A blank line keeps
 * them apart the way separate paragraphs are; empty texts are skipped.
 */

static int
tr_text_add(tr_ctx_t *ctx, tr_text_t *text, const char *s, size_t len)
{
    tr_piece_t  *pc;

    if (len == 0) {
        return 0;
    }

    pc = tr_alloc(ctx, sizeof(tr_piece_t));
    if (pc == NULL) {
        return TR_NOMEM;
    }

    pc->next = NULL;
    pc->data = s;
    pc->len = len;

    if (text->last == NULL) {
        text->first = pc;

    } else {
        text->last->next = pc;
    }

    text->last = pc;
    text->n++;
    text->len += len;

    return 0;
}


static int
tr_text_string(tr_ctx_t *ctx, tr_text_t *text, const char *prefix,
    const char **s, size_t *len)
{
    char        *p;
    size_t       n, plen;
    tr_piece_t  *pc;

    plen = (prefix != NULL) ? strlen(prefix) : 0;

    if (plen == 0 && text->n <= 1) {
        *s = (text->n == 1) ? text->first->data : "";
        *len = (text->n == 1) ? text->first->len : 0;
        return 0;
    }

    n = plen + text->len + (text->n > 1 ? 2 * (text->n - 1) : 0);

    p = tr_alloc(ctx, n + 1);
    if (p == NULL) {
        return TR_NOMEM;
    }

    *s = p;
    *len = n;

    if (plen > 0) {
        memcpy(p, prefix, plen);
        p += plen;
    }

    for (pc = text->first; pc != NULL; pc = pc->next) {

        if (pc != text->first) {
            *p++ = '\n';
            *p++ = '\n';
        }

        memcpy(p, pc->data, pc->len);
        p += pc->len;
    }

    *p = '\0';

    return 0;
}


static void
tr_gen_status(tr_ctx_t *ctx, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok) {
        ctx->gen_failed = 1;
    }
}


static void
tr_gen_string(tr_ctx_t *ctx, const char *s, size_t len)
{
    tr_gen_status(ctx, yajl_gen_string(ctx->gen, (const unsigned char *) s,
                                       len));
}


static void
tr_gen_key(tr_ctx_t *ctx, const char *key)
{
    tr_gen_string(ctx, key, strlen(key));
}


static void
tr_gen_pair(tr_ctx_t *ctx, const char *key, const char *value)
{
    tr_gen_string(ctx, key, strlen(key));
    tr_gen_string(ctx, value, strlen(value));
}


static void
tr_gen_map(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_map_open(ctx->gen));
}


static void
tr_gen_map_end(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_map_close(ctx->gen));
}


static void
tr_gen_array(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_array_open(ctx->gen));
}


static void
tr_gen_array_end(tr_ctx_t *ctx)
{
    tr_gen_status(ctx, yajl_gen_array_close(ctx->gen));
}


/* numbers keep their text, so 0.7 stays 0.7 and big integers stay exact */

static void
tr_gen_value(tr_ctx_t *ctx, tr_val_t *v)
{
    tr_val_t  *e;

    switch (v->type) {

    case yajl_t_string:
        tr_gen_string(ctx, v->str, v->len);
        break;

    case yajl_t_number:
        tr_gen_status(ctx, yajl_gen_number(ctx->gen, v->str, v->len));
        break;

    case yajl_t_object:
        tr_gen_map(ctx);

        for (e = v->first; e != NULL; e = e->next) {
            tr_gen_string(ctx, e->key, e->key_len);
            tr_gen_value(ctx, e);
        }

        tr_gen_map_end(ctx);
        break;

    case yajl_t_array:
        tr_gen_array(ctx);

        for (e = v->first; e != NULL; e = e->next) {
            tr_gen_value(ctx, e);
        }

        tr_gen_array_end(ctx);
        break;

    case yajl_t_true:
    case yajl_t_false:
        tr_gen_status(ctx, yajl_gen_bool(ctx->gen, v->type == yajl_t_true));
        break;

    default:
        tr_gen_status(ctx, yajl_gen_null(ctx->gen));
        break;
    }
}


static int
tr_gen_text(tr_ctx_t *ctx, tr_text_t *text, const char *prefix)
{
    size_t       len;
    const char  *s;

    if (tr_text_string(ctx, text, prefix, &s, &len) != 0) {
        return TR_NOMEM;
    }

    tr_gen_string(ctx, s, len);

    return 0;
}


/* v (an absent one as {}) encoded as JSON text inside a string */

static int
tr_gen_json(tr_ctx_t *ctx, tr_val_t *v)
{
    size_t                n;
    yajl_gen              g, saved;
    const unsigned char  *buf;

    if (v == NULL) {
        tr_gen_string(ctx, "{}", 2);
        return 0;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return TR_NOMEM;
    }

    saved = ctx->gen;
    ctx->gen = g;
    tr_gen_value(ctx, v);
    ctx->gen = saved;

    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok) {
        ctx->gen_failed = 1;

    } else {
        tr_gen_string(ctx, (const char *) buf, n);
    }

    yajl_gen_free(g);

    return 0;
}


static void
tr_gen_empty_schema(tr_ctx_t *ctx)
{
    tr_gen_map(ctx);
    tr_gen_pair(ctx, "type", "object");
    tr_gen_key(ctx, "properties");
    tr_gen_map(ctx);
    tr_gen_map_end(ctx);
    tr_gen_map_end(ctx);
}


static int
tr_gen_model(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t  *v;

    tr_gen_key(ctx, "model");

    if (ctx->opts != NULL && ctx->opts->model != NULL) {
        tr_gen_string(ctx, ctx->opts->model, ctx->opts->model_len);
        return 0;
    }

    v = tr_get(root, "model");

    if (v == NULL || v->type != yajl_t_string) {
        return tr_error(ctx, "\"model\" must be a string");
    }

    tr_gen_value(ctx, v);

    return 0;
}


/* the same API: a copy with the model replaced and usage asked for */

static int
tr_same(tr_ctx_t *ctx, tr_val_t *root, int to)
{
    int        usage;
    tr_val_t  *v, *e, *so;

    v = tr_get(root, "stream");
    so = tr_get(root, "stream_options");

    usage = (to == TOKENROUTE_API_OPENAI && ctx->opts != NULL
             && ctx->opts->include_usage
             && v != NULL && v->type == yajl_t_true);

    tr_gen_map(ctx);

    if (tr_gen_model(ctx, root) != 0) {
        return TR_REJECT;
    }

    for (v = root->first; v != NULL; v = v->next) {

        if (tr_str_is(v->key, v->key_len, "model")
            || (usage && tr_str_is(v->key, v->key_len, "stream_options")))
        {
            continue;
        }

        tr_gen_string(ctx, v->key, v->key_len);
        tr_gen_value(ctx, v);
    }

    if (usage) {
        tr_gen_key(ctx, "stream_options");
        tr_gen_map(ctx);

        if (so != NULL && so->type == yajl_t_object) {
            for (e = so->first; e != NULL; e = e->next) {
                if (!tr_str_is(e->key, e->key_len, "include_usage")) {
                    tr_gen_string(ctx, e->key, e->key_len);
                    tr_gen_value(ctx, e);
                }
            }
        }

        tr_gen_key(ctx, "include_usage");
        tr_gen_status(ctx, yajl_gen_bool(ctx->gen, 1));
        tr_gen_map_end(ctx);
    }

    tr_gen_map_end(ctx);

    return 0;
}


/* OpenAI Chat Completions -> Anthropic Messages */

static int
tr_oa(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    tr_val_t  *messages;

    rc = tr_oa_unsupported(ctx, root);
    if (rc != 0) {
        return rc;
    }

    messages = tr_get(root, "messages");

    if (messages == NULL || messages->type != yajl_t_array) {
        return tr_error(ctx, "\"messages\" must be an array");
    }

    tr_gen_map(ctx);

    rc = tr_gen_model(ctx, root);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_system(ctx, messages);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_messages(ctx, messages);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_params(ctx, root);
    if (rc != 0) {
        return rc;
    }

    rc = tr_oa_tools(ctx, root);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_oa_unsupported(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t  *v, *e;

    v = tr_get(root, "n");

    if (v != NULL
        && (v->type != yajl_t_number || strtod(v->str, NULL) != 1.0))
    {
        return tr_error(ctx, "unsupported field \"n\": tokenroute cannot "
                        "return several choices from an Anthropic model");
    }

    v = tr_get(root, "logprobs");

    if (v != NULL && v->type != yajl_t_false) {
        return tr_error(ctx, "unsupported field \"logprobs\": Anthropic "
                        "models do not return log probabilities");
    }

    v = tr_get(root, "response_format");

    if (v != NULL && !tr_is(tr_get(v, "type"), "text")) {
        return tr_error(ctx, "unsupported field \"response_format\" of type "
                        "\"%s\": Anthropic models have no JSON mode; "
                        "describe the format in the prompt or use a tool",
                        tr_name(ctx, tr_get(v, "type")));
    }

    if (tr_get(root, "audio") != NULL) {
        return tr_error(ctx, "unsupported field \"audio\": Anthropic models "
                        "do not produce audio");
    }

    v = tr_get(root, "modalities");

    if (v != NULL) {
        if (v->type != yajl_t_array) {
            return tr_error(ctx, "\"modalities\" must be an array");
        }

        for (e = v->first; e != NULL; e = e->next) {
            if (!tr_is(e, "text")) {
                return tr_error(ctx, "unsupported field \"modalities\": "
                                "Anthropic models produce text only");
            }
        }
    }

    if (tr_get(root, "web_search_options") != NULL) {
        return tr_error(ctx, "unsupported field \"web_search_options\": "
                        "tokenroute does not translate web search for "
                        "Anthropic models");
    }

    if (tr_get(root, "functions") != NULL) {
        return tr_error(ctx, "unsupported field \"functions\": use "
                        "\"tools\"");
    }

    if (tr_get(root, "function_call") != NULL) {
        return tr_error(ctx, "unsupported field \"function_call\": use "
                        "\"tool_choice\"");
    }

    return 0;
}


/*
 * System and developer messages, wherever they are, become the one
 * "system" string: a lone string as it is, several texts joined (see
 * tr_text_add()).
 */

static int
tr_oa_system(tr_ctx_t *ctx, tr_val_t *messages)
{
    int         rc;
    size_t      i;
    tr_val_t   *m, *role;
    tr_text_t   text;

    memset(&text, 0, sizeof(tr_text_t));

    for (m = messages->first, i = 0; m != NULL; m = m->next, i++) {
        role = tr_get(m, "role");

        if (!tr_is(role, "system") && !tr_is(role, "developer")) {
            continue;
        }

        rc = tr_oa_text_parts(ctx, tr_get(m, "content"), i,
                              " in a system message", &text);
        if (rc != 0) {
            return rc;
        }
    }

    if (text.n == 0) {
        return 0;
    }

    tr_gen_key(ctx, "system");

    return tr_gen_text(ctx, &text, NULL);
}


/* content that may hold only text: a string or text parts */

static int
tr_oa_text_parts(tr_ctx_t *ctx, tr_val_t *content, size_t i,
    const char *where, tr_text_t *text)
{
    int        rc;
    size_t     j;
    tr_val_t  *part, *type, *s;

    if (content == NULL) {
        return 0;
    }

    if (content->type == yajl_t_string) {
        return (text != NULL) ? tr_text_add(ctx, text, content->str,
                                            content->len)
                              : 0;
    }

    if (content->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    for (part = content->first, j = 0; part != NULL; part = part->next, j++) {
        type = tr_get(part, "type");

        if (!tr_is(type, "text")) {
            return tr_error(ctx, "messages[%zu].content[%zu]: unsupported "
                            "content part type \"%s\"%s", i, j,
                            tr_name(ctx, type), where);
        }

        s = tr_get(part, "text");

        if (s == NULL || s->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].content[%zu].text must be a "
                            "string", i, j);
        }

        if (text != NULL) {
            rc = tr_text_add(ctx, text, s->str, s->len);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


/*
 * Anthropic wants user and assistant turns to alternate, so consecutive
 * turns of one role, tool results counting as user turns, are merged into
 * one message with their blocks in order.
 */

static int
tr_oa_messages(tr_ctx_t *ctx, tr_val_t *messages)
{
    int        rc;
    size_t     i;
    tr_msg_t  *first, *last, *m;
    tr_val_t  *v, *role;

    first = NULL;
    last = NULL;

    for (v = messages->first, i = 0; v != NULL; v = v->next, i++) {

        if (v->type != yajl_t_object) {
            return tr_error(ctx, "messages[%zu] must be an object", i);
        }

        role = tr_get(v, "role");

        if (role == NULL || role->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].role must be a string", i);
        }

        if (tr_is(role, "system") || tr_is(role, "developer")) {
            continue;
        }

        m = tr_calloc(ctx, sizeof(tr_msg_t));
        if (m == NULL) {
            return TR_NOMEM;
        }

        if (tr_is(role, "user")) {
            rc = tr_oa_user(ctx, v, i, m);

        } else if (tr_is(role, "assistant")) {
            m->assistant = 1;
            rc = tr_oa_assistant(ctx, v, i, m);

        } else if (tr_is(role, "tool")) {
            rc = tr_oa_tool(ctx, v, i, m);

        } else if (tr_is(role, "function")) {
            rc = tr_error(ctx, "messages[%zu]: role \"function\" is not "
                          "supported; use \"tool\"", i);

        } else {
            rc = tr_error(ctx, "messages[%zu]: role \"%s\" is not supported",
                          i, tr_name(ctx, role));
        }

        if (rc != 0) {
            return rc;
        }

        if (last != NULL && last->assistant == m->assistant) {
            rc = tr_oa_merge(ctx, last, m);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        if (last == NULL) {
            first = m;

        } else {
            last->next = m;
        }

        last = m;
    }

    if (first == NULL) {
        return tr_error(ctx, "\"messages\" must hold a user message for "
                        "Anthropic models");
    }

    if (first->assistant) {
        return tr_error(ctx, "messages must start with a user message for "
                        "Anthropic models");
    }

    tr_gen_key(ctx, "messages");
    tr_gen_array(ctx);

    for (m = first; m != NULL; m = m->next) {
        tr_oa_gen_message(ctx, m);
    }

    tr_gen_array_end(ctx);

    return 0;
}


static int
tr_oa_user(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m)
{
    int        rc;
    size_t     j;
    tr_val_t  *content, *part;

    content = tr_get(msg, "content");

    if (content != NULL && content->type == yajl_t_string) {
        m->text = content;
        return 0;
    }

    if (content == NULL || content->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    for (part = content->first, j = 0; part != NULL; part = part->next, j++) {
        rc = tr_oa_part(ctx, part, i, j, m);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
tr_oa_assistant(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m)
{
    int        rc;
    size_t     j;
    tr_val_t  *content, *calls, *v;

    if (tr_get(msg, "function_call") != NULL) {
        return tr_error(ctx, "messages[%zu].function_call is not supported; "
                        "use \"tool_calls\"", i);
    }

    content = tr_get(msg, "content");
    calls = tr_get(msg, "tool_calls");

    if (calls != NULL && calls->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].tool_calls must be an array", i);
    }

    if (content != NULL && content->type == yajl_t_string
        && (calls == NULL || calls->len == 0))
    {
        m->text = content;
        return 0;
    }

    if (content != NULL && content->type == yajl_t_string) {
        rc = tr_oa_text_block(ctx, m, content);
        if (rc != 0) {
            return rc;
        }

    } else if (content != NULL && content->type == yajl_t_array) {

        for (v = content->first, j = 0; v != NULL; v = v->next, j++) {
            rc = tr_oa_part(ctx, v, i, j, m);
            if (rc != 0) {
                return rc;
            }
        }

    } else if (content != NULL) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    if (calls == NULL) {
        return 0;
    }

    for (v = calls->first, j = 0; v != NULL; v = v->next, j++) {
        rc = tr_oa_tool_call(ctx, v, i, j, m);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
tr_oa_tool(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m)
{
    int          rc;
    tr_val_t    *id, *content;
    tr_block_t  *b;

    id = tr_get(msg, "tool_call_id");

    if (id == NULL || id->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].tool_call_id must be a string",
                        i);
    }

    content = tr_get(msg, "content");

    rc = tr_oa_text_parts(ctx, content, i, " in a tool message", NULL);
    if (rc != 0) {
        return rc;
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_TOOL_RESULT);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = id->str;
    b->a_len = id->len;
    b->value = content;

    return 0;
}


static int
tr_oa_part(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j, tr_msg_t *m)
{
    tr_val_t  *type, *text;

    if (part->type != yajl_t_object) {
        return tr_error(ctx, "messages[%zu].content[%zu] must be an object",
                        i, j);
    }

    type = tr_get(part, "type");

    if (tr_is(type, "text")) {
        text = tr_get(part, "text");

        if (text == NULL || text->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].content[%zu].text must be a "
                            "string", i, j);
        }

        return tr_oa_text_block(ctx, m, text);
    }

    if (tr_is(type, "image_url") && !m->assistant) {
        return tr_oa_image(ctx, part, i, j, m);
    }

    return tr_error(ctx, "messages[%zu].content[%zu]: unsupported content "
                    "part type \"%s\"", i, j, tr_name(ctx, type));
}


static int
tr_oa_image(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j, tr_msg_t *m)
{
    size_t       n;
    tr_val_t    *url;
    const char  *p, *comma, *semi;
    tr_block_t  *b;

    url = tr_get(part, "image_url");

    /* some clients send the URL itself rather than {"url": ...} */
    if (url != NULL && url->type != yajl_t_string) {
        url = tr_get(url, "url");
    }

    if (url == NULL || url->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].content[%zu].image_url.url must "
                        "be a string", i, j);
    }

    p = url->str;

    if ((url->len > 7 && strncasecmp(p, "http://", 7) == 0)
        || (url->len > 8 && strncasecmp(p, "https://", 8) == 0))
    {
        b = tr_oa_block(ctx, m, TR_BLOCK_IMAGE_URL);
        if (b == NULL) {
            return TR_NOMEM;
        }

        b->a = p;
        b->a_len = url->len;

        return 0;
    }

    /* data:<media type>[;<parameter>...];base64,<data> */

    comma = (url->len > 5 && strncasecmp(p, "data:", 5) == 0)
            ? memchr(p, ',', url->len) : NULL;

    if (comma == NULL || comma - p < 5 + 7
        || strncasecmp(comma - 7, ";base64", 7) != 0)
    {
        return tr_error(ctx, "messages[%zu].content[%zu].image_url.url: only "
                        "http, https and base64 data: URLs are supported",
                        i, j);
    }

    semi = memchr(p + 5, ';', comma - p - 5);
    n = semi - (p + 5);

    if (n == 0) {
        return tr_error(ctx, "messages[%zu].content[%zu].image_url.url: the "
                        "data: URL has no media type", i, j);
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_IMAGE_BASE64);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = p + 5;
    b->a_len = n;
    b->b = comma + 1;
    b->b_len = url->len - (comma + 1 - p);

    return 0;
}


static int
tr_oa_tool_call(tr_ctx_t *ctx, tr_val_t *tc, size_t i, size_t k,
    tr_msg_t *m)
{
    int          rc;
    char         what[96];
    size_t       n;
    tr_val_t    *type, *id, *fn, *name, *args, *input;
    tr_block_t  *b;

    if (tc->type != yajl_t_object) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu] must be an "
                        "object", i, k);
    }

    type = tr_get(tc, "type");

    if (type != NULL && !tr_is(type, "function")) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu]: unsupported "
                        "tool call type \"%s\"", i, k, tr_name(ctx, type));
    }

    id = tr_get(tc, "id");

    if (id == NULL || id->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu].id must be a "
                        "string", i, k);
    }

    fn = tr_get(tc, "function");
    name = tr_get(fn, "name");

    if (name == NULL || name->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu].function.name "
                        "must be a string", i, k);
    }

    snprintf(what, sizeof(what), "messages[%zu].tool_calls[%zu].function."
             "arguments", i, k);

    args = tr_get(fn, "arguments");
    input = NULL;

    if (args != NULL && args->type == yajl_t_string) {

        /* "" (some models call argument-less tools so) is {} */
        n = strspn(args->str, " \t\r\n");

        if (n < args->len) {
            rc = tr_parse(ctx, args->str, args->len, &input, what);
            if (rc != 0) {
                return rc;
            }
        }

    } else {
        /* some clients send the arguments object itself */
        input = args;
    }

    if (input != NULL && input->type != yajl_t_object) {
        return tr_error(ctx, "%s must be a JSON object", what);
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_TOOL_USE);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = id->str;
    b->a_len = id->len;
    b->b = name->str;
    b->b_len = name->len;
    b->value = input;

    return 0;
}


static tr_block_t *
tr_oa_block(tr_ctx_t *ctx, tr_msg_t *m, unsigned type)
{
    tr_block_t  *b;

    b = tr_calloc(ctx, sizeof(tr_block_t));
    if (b == NULL) {
        return NULL;
    }

    b->type = type;

    if (m->last == NULL) {
        m->first = b;

    } else {
        m->last->next = b;
    }

    m->last = b;

    return b;
}


/* Anthropic rejects empty text blocks: they are left out */

static int
tr_oa_text_block(tr_ctx_t *ctx, tr_msg_t *m, tr_val_t *text)
{
    tr_block_t  *b;

    if (text->len == 0) {
        return 0;
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_TEXT);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = text->str;
    b->a_len = text->len;

    return 0;
}


static int
tr_oa_merge(tr_ctx_t *ctx, tr_msg_t *prev, tr_msg_t *m)
{
    tr_val_t  *text;

    if (prev->text != NULL) {
        text = prev->text;
        prev->text = NULL;

        if (tr_oa_text_block(ctx, prev, text) != 0) {
            return TR_NOMEM;
        }
    }

    if (m->text != NULL) {
        text = m->text;
        m->text = NULL;

        if (tr_oa_text_block(ctx, m, text) != 0) {
            return TR_NOMEM;
        }
    }

    if (m->first == NULL) {
        return 0;
    }

    if (prev->last == NULL) {
        prev->first = m->first;

    } else {
        prev->last->next = m->first;
    }

    prev->last = m->last;

    return 0;
}


/* Anthropic wants a user turn's tool results before its other blocks */

static void
tr_oa_gen_message(tr_ctx_t *ctx, tr_msg_t *m)
{
    tr_block_t  *b;

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", m->assistant ? "assistant" : "user");
    tr_gen_key(ctx, "content");

    if (m->text != NULL) {
        tr_gen_value(ctx, m->text);
        tr_gen_map_end(ctx);
        return;
    }

    tr_gen_array(ctx);

    for (b = m->first; b != NULL; b = b->next) {
        if (b->type == TR_BLOCK_TOOL_RESULT) {
            tr_oa_gen_block(ctx, b);
        }
    }

    for (b = m->first; b != NULL; b = b->next) {
        if (b->type != TR_BLOCK_TOOL_RESULT) {
            tr_oa_gen_block(ctx, b);
        }
    }

    tr_gen_array_end(ctx);
    tr_gen_map_end(ctx);
}


static void
tr_oa_gen_block(tr_ctx_t *ctx, tr_block_t *b)
{
    tr_val_t  *e, *text;

    tr_gen_map(ctx);

    switch (b->type) {

    case TR_BLOCK_TEXT:
        tr_gen_pair(ctx, "type", "text");
        tr_gen_key(ctx, "text");
        tr_gen_string(ctx, b->a, b->a_len);
        break;

    case TR_BLOCK_IMAGE_BASE64:
        tr_gen_pair(ctx, "type", "image");
        tr_gen_key(ctx, "source");
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "base64");
        tr_gen_key(ctx, "media_type");
        tr_gen_string(ctx, b->a, b->a_len);
        tr_gen_key(ctx, "data");
        tr_gen_string(ctx, b->b, b->b_len);
        tr_gen_map_end(ctx);
        break;

    case TR_BLOCK_IMAGE_URL:
        tr_gen_pair(ctx, "type", "image");
        tr_gen_key(ctx, "source");
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "url");
        tr_gen_key(ctx, "url");
        tr_gen_string(ctx, b->a, b->a_len);
        tr_gen_map_end(ctx);
        break;

    case TR_BLOCK_TOOL_USE:
        tr_gen_pair(ctx, "type", "tool_use");
        tr_gen_key(ctx, "id");
        tr_gen_string(ctx, b->a, b->a_len);
        tr_gen_key(ctx, "name");
        tr_gen_string(ctx, b->b, b->b_len);
        tr_gen_key(ctx, "input");

        if (b->value != NULL) {
            tr_gen_value(ctx, b->value);

        } else {
            tr_gen_map(ctx);
            tr_gen_map_end(ctx);
        }

        break;

    default: /* TR_BLOCK_TOOL_RESULT */
        tr_gen_pair(ctx, "type", "tool_result");
        tr_gen_key(ctx, "tool_use_id");
        tr_gen_string(ctx, b->a, b->a_len);

        if (b->value == NULL) {
            break;
        }

        tr_gen_key(ctx, "content");

        if (b->value->type == yajl_t_string) {
            tr_gen_value(ctx, b->value);
            break;
        }

        tr_gen_array(ctx);

        for (e = b->value->first; e != NULL; e = e->next) {
            text = tr_get(e, "text");

            if (text->len > 0) {
                tr_gen_map(ctx);
                tr_gen_pair(ctx, "type", "text");
                tr_gen_key(ctx, "text");
                tr_gen_value(ctx, text);
                tr_gen_map_end(ctx);
            }
        }

        tr_gen_array_end(ctx);
        break;
    }

    tr_gen_map_end(ctx);
}


/*
 * max_tokens, sampling, stop, user, stream.  OpenAI's temperature runs
 * from 0 to 2 and Anthropic's from 0 to 1: values above 1 are sent as 1,
 * the most random Anthropic allows, rather than refused.
 */

static int
tr_oa_params(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t    *v, *e;
    long long    n;
    const char  *name;

    name = "max_completion_tokens";
    v = tr_get(root, name);

    if (v == NULL) {
        name = "max_tokens";
        v = tr_get(root, name);
    }

    tr_gen_key(ctx, "max_tokens");

    if (v != NULL) {
        if (tr_integer(v, &n) != 0 || n < 1) {
            return tr_error(ctx, "\"%s\" must be a positive integer", name);
        }

        tr_gen_value(ctx, v);

    } else if (ctx->opts != NULL && ctx->opts->default_max_tokens > 0) {
        tr_gen_status(ctx, yajl_gen_integer(ctx->gen,
                                            ctx->opts->default_max_tokens));

    } else {
        return tr_error(ctx, "\"max_tokens\" is required for Anthropic "
                        "models");
    }

    v = tr_get(root, "temperature");

    if (tr_check(ctx, v, yajl_t_number, "\"temperature\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "temperature");

        if (strtod(v->str, NULL) > 1.0) {
            tr_gen_status(ctx, yajl_gen_integer(ctx->gen, 1));

        } else {
            tr_gen_value(ctx, v);
        }
    }

    v = tr_get(root, "top_p");

    if (tr_check(ctx, v, yajl_t_number, "\"top_p\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "top_p");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "stop");

    if (v != NULL && v->type == yajl_t_string) {
        tr_gen_key(ctx, "stop_sequences");
        tr_gen_array(ctx);
        tr_gen_value(ctx, v);
        tr_gen_array_end(ctx);

    } else if (v != NULL) {
        if (v->type != yajl_t_array) {
            return tr_error(ctx, "\"stop\" must be a string or an array of "
                            "strings");
        }

        for (e = v->first; e != NULL; e = e->next) {
            if (e->type != yajl_t_string) {
                return tr_error(ctx, "\"stop\" must be a string or an array "
                                "of strings");
            }
        }

        if (v->len > 0) {
            tr_gen_key(ctx, "stop_sequences");
            tr_gen_value(ctx, v);
        }
    }

    v = tr_get(root, "user");

    if (tr_check(ctx, v, yajl_t_string, "\"user\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "metadata");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "user_id");
        tr_gen_value(ctx, v);
        tr_gen_map_end(ctx);
    }

    v = tr_get(root, "stream");

    if (tr_check(ctx, v, yajl_t_true, "\"stream\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "stream");
        tr_gen_value(ctx, v);
    }

    return 0;
}


/* without tools, tool_choice and parallel_tool_calls mean nothing */

static int
tr_oa_tools(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    size_t     k;
    tr_val_t  *tools, *t;

    tools = tr_get(root, "tools");

    if (tr_check(ctx, tools, yajl_t_array, "\"tools\"") != 0) {
        return TR_REJECT;
    }

    if (tools == NULL || tools->len == 0) {
        return 0;
    }

    tr_gen_key(ctx, "tools");
    tr_gen_array(ctx);

    for (t = tools->first, k = 0; t != NULL; t = t->next, k++) {
        rc = tr_oa_tool_def(ctx, t, k);
        if (rc != 0) {
            return rc;
        }
    }

    tr_gen_array_end(ctx);

    return tr_oa_tool_choice(ctx, root);
}


static int
tr_oa_tool_def(tr_ctx_t *ctx, tr_val_t *tool, size_t k)
{
    tr_val_t  *type, *fn, *name, *desc, *params, *e;

    type = tr_get(tool, "type");

    if (type != NULL && !tr_is(type, "function")) {
        return tr_error(ctx, "tools[%zu]: unsupported tool type \"%s\"", k,
                        tr_name(ctx, type));
    }

    fn = tr_get(tool, "function");
    name = tr_get(fn, "name");

    if (name == NULL || name->type != yajl_t_string) {
        return tr_error(ctx, "tools[%zu].function.name must be a string", k);
    }

    desc = tr_get(fn, "description");

    if (desc != NULL && desc->type != yajl_t_string) {
        return tr_error(ctx, "tools[%zu].function.description must be a "
                        "string", k);
    }

    params = tr_get(fn, "parameters");

    if (params != NULL && params->type != yajl_t_object) {
        return tr_error(ctx, "tools[%zu].function.parameters must be an "
                        "object", k);
    }

    tr_gen_map(ctx);
    tr_gen_key(ctx, "name");
    tr_gen_value(ctx, name);

    if (desc != NULL) {
        tr_gen_key(ctx, "description");
        tr_gen_value(ctx, desc);
    }

    tr_gen_key(ctx, "input_schema");

    if (params == NULL) {
        tr_gen_empty_schema(ctx);

    } else if (tr_get(params, "type") != NULL) {
        tr_gen_value(ctx, params);

    } else {
        /* Anthropic requires input_schema.type; OpenAI lets it be left */
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "object");

        for (e = params->first; e != NULL; e = e->next) {
            if (!tr_str_is(e->key, e->key_len, "type")) {
                tr_gen_string(ctx, e->key, e->key_len);
                tr_gen_value(ctx, e);
            }
        }

        tr_gen_map_end(ctx);
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_oa_tool_choice(tr_ctx_t *ctx, tr_val_t *root)
{
    int          single;
    tr_val_t    *tc, *parallel, *name;
    const char  *type;

    tc = tr_get(root, "tool_choice");
    parallel = tr_get(root, "parallel_tool_calls");

    if (tr_check(ctx, parallel, yajl_t_true, "\"parallel_tool_calls\"")
        != 0)
    {
        return TR_REJECT;
    }

    single = (parallel != NULL && parallel->type == yajl_t_false);
    name = NULL;

    if (tc == NULL) {
        if (!single) {
            return 0;
        }

        type = "auto";

    } else if (tr_is(tc, "auto")) {
        type = "auto";

    } else if (tr_is(tc, "none")) {
        type = "none";

    } else if (tr_is(tc, "required")) {
        type = "any";

    } else if (tc->type == yajl_t_object
               && tr_is(tr_get(tc, "type"), "function"))
    {
        type = "tool";
        name = tr_get(tr_get(tc, "function"), "name");

        if (name == NULL || name->type != yajl_t_string) {
            return tr_error(ctx, "tool_choice.function.name must be a "
                            "string");
        }

    } else if (tc->type == yajl_t_object) {
        return tr_error(ctx, "unsupported \"tool_choice\" of type \"%s\"",
                        tr_name(ctx, tr_get(tc, "type")));

    } else {
        return tr_error(ctx, "unsupported \"tool_choice\" \"%s\"",
                        tr_name(ctx, tc));
    }

    tr_gen_key(ctx, "tool_choice");
    tr_gen_map(ctx);
    tr_gen_pair(ctx, "type", type);

    if (name != NULL) {
        tr_gen_key(ctx, "name");
        tr_gen_value(ctx, name);
    }

    /* Anthropic's "none" takes no disable_parallel_tool_use */
    if (single && strcmp(type, "none") != 0) {
        tr_gen_key(ctx, "disable_parallel_tool_use");
        tr_gen_status(ctx, yajl_gen_bool(ctx->gen, 1));
    }

    tr_gen_map_end(ctx);

    return 0;
}


/* Anthropic Messages -> OpenAI Chat Completions */

static int
tr_ao(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    size_t     i;
    tr_val_t  *messages, *v;

    v = tr_get(root, "mcp_servers");

    if (v != NULL && !(v->type == yajl_t_array && v->len == 0)) {
        return tr_error(ctx, "unsupported field \"mcp_servers\": "
                        "OpenAI-compatible models cannot call MCP servers");
    }

    messages = tr_get(root, "messages");

    if (messages == NULL || messages->type != yajl_t_array) {
        return tr_error(ctx, "\"messages\" must be an array");
    }

    tr_gen_map(ctx);

    rc = tr_gen_model(ctx, root);
    if (rc != 0) {
        return rc;
    }

    tr_gen_key(ctx, "messages");
    tr_gen_array(ctx);

    rc = tr_ao_system(ctx, root);
    if (rc != 0) {
        return rc;
    }

    for (v = messages->first, i = 0; v != NULL; v = v->next, i++) {
        rc = tr_ao_message(ctx, v, i);
        if (rc != 0) {
            return rc;
        }
    }

    tr_gen_array_end(ctx);

    rc = tr_ao_params(ctx, root);
    if (rc != 0) {
        return rc;
    }

    rc = tr_ao_tools(ctx, root);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_ao_system(tr_ctx_t *ctx, tr_val_t *root)
{
    int        rc;
    size_t     k;
    tr_val_t  *sys, *b, *text;
    tr_text_t  all;

    sys = tr_get(root, "system");

    if (sys == NULL) {
        return 0;
    }

    memset(&all, 0, sizeof(tr_text_t));

    if (sys->type == yajl_t_string) {
        rc = tr_text_add(ctx, &all, sys->str, sys->len);
        if (rc != 0) {
            return rc;
        }

    } else if (sys->type == yajl_t_array) {

        for (b = sys->first, k = 0; b != NULL; b = b->next, k++) {

            if (!tr_is(tr_get(b, "type"), "text")) {
                return tr_error(ctx, "system[%zu]: unsupported block type "
                                "\"%s\"", k, tr_name(ctx, tr_get(b, "type")));
            }

            text = tr_get(b, "text");

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "system[%zu].text must be a string", k);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }
        }

    } else {
        return tr_error(ctx, "\"system\" must be a string or an array");
    }

    if (all.n == 0) {
        return 0;
    }

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "system");
    tr_gen_key(ctx, "content");

    rc = tr_gen_text(ctx, &all, NULL);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


static int
tr_ao_message(tr_ctx_t *ctx, tr_val_t *msg, size_t i)
{
    tr_val_t  *role, *content;

    if (msg->type != yajl_t_object) {
        return tr_error(ctx, "messages[%zu] must be an object", i);
    }

    role = tr_get(msg, "role");
    content = tr_get(msg, "content");

    if (!tr_is(role, "user") && !tr_is(role, "assistant")) {
        return tr_error(ctx, "messages[%zu]: role \"%s\" is not supported",
                        i, tr_name(ctx, role));
    }

    if (content != NULL && content->type == yajl_t_string) {
        tr_gen_map(ctx);
        tr_gen_key(ctx, "role");
        tr_gen_value(ctx, role);
        tr_gen_key(ctx, "content");
        tr_gen_value(ctx, content);
        tr_gen_map_end(ctx);

        return 0;
    }

    if (content == NULL || content->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    if (tr_is(role, "user")) {
        return tr_ao_user(ctx, content, i);
    }

    return tr_ao_assistant(ctx, content, i);
}


/*
 * A user turn's tool results become tool messages, placed before a user
 * message with the rest: its text as one string, or text and image parts
 * if there are images.
 */

static int
tr_ao_user(tr_ctx_t *ctx, tr_val_t *content, size_t i)
{
    int         rc;
    size_t      j, images, results;
    tr_val_t   *b, *type, *text;
    tr_text_t   all;

    memset(&all, 0, sizeof(tr_text_t));
    images = 0;
    results = 0;

    for (b = content->first, j = 0; b != NULL; b = b->next, j++) {
        type = tr_get(b, "type");

        if (tr_is(type, "tool_result")) {
            rc = tr_ao_tool_result(ctx, b, i, j);
            if (rc != 0) {
                return rc;
            }

            results++;

        } else if (tr_is(type, "text")) {
            text = tr_get(b, "text");

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "messages[%zu].content[%zu].text must "
                                "be a string", i, j);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }

        } else if (tr_is(type, "image")) {
            rc = tr_ao_image(ctx, b, i, j, 0);
            if (rc != 0) {
                return rc;
            }

            images++;

        } else if (!tr_is(type, "thinking")
                   && !tr_is(type, "redacted_thinking"))
        {
            return tr_error(ctx, "messages[%zu].content[%zu]: unsupported "
                            "content block type \"%s\"", i, j,
                            tr_name(ctx, type));
        }
    }

    if (images == 0 && all.n == 0 && results > 0) {
        return 0;
    }

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "user");
    tr_gen_key(ctx, "content");

    if (images == 0) {
        rc = tr_gen_text(ctx, &all, NULL);
        if (rc != 0) {
            return rc;
        }

        tr_gen_map_end(ctx);

        return 0;
    }

    tr_gen_array(ctx);

    for (b = content->first, j = 0; b != NULL; b = b->next, j++) {
        type = tr_get(b, "type");

        if (tr_is(type, "image")) {
            rc = tr_ao_image(ctx, b, i, j, 1);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        text = tr_get(b, "text");

        if (tr_is(type, "text") && text->len > 0) {
            tr_gen_map(ctx);
            tr_gen_pair(ctx, "type", "text");
            tr_gen_key(ctx, "text");
            tr_gen_value(ctx, text);
            tr_gen_map_end(ctx);
        }
    }

    tr_gen_array_end(ctx);
    tr_gen_map_end(ctx);

    return 0;
}


/* checks an image block, and with gen writes it as an image_url part */

static int
tr_ao_image(tr_ctx_t *ctx, tr_val_t *block, size_t i, size_t j, int gen)
{
    char      *p, *url;
    size_t     n;
    tr_val_t  *src, *type, *media, *data;

    src = tr_get(block, "source");
    type = tr_get(src, "type");

    if (tr_is(type, "url")) {
        data = tr_get(src, "url");

        if (data == NULL || data->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].content[%zu].source.url must "
                            "be a string", i, j);
        }

        if (gen) {
            tr_gen_map(ctx);
            tr_gen_pair(ctx, "type", "image_url");
            tr_gen_key(ctx, "image_url");
            tr_gen_map(ctx);
            tr_gen_key(ctx, "url");
            tr_gen_value(ctx, data);
            tr_gen_map_end(ctx);
            tr_gen_map_end(ctx);
        }

        return 0;
    }

    if (!tr_is(type, "base64")) {
        return tr_error(ctx, "messages[%zu].content[%zu]: unsupported image "
                        "source type \"%s\"", i, j, tr_name(ctx, type));
    }

    media = tr_get(src, "media_type");
    data = tr_get(src, "data");

    if (media == NULL || media->type != yajl_t_string
        || data == NULL || data->type != yajl_t_string)
    {
        return tr_error(ctx, "messages[%zu].content[%zu].source needs "
                        "\"media_type\" and \"data\" strings", i, j);
    }

    if (!gen) {
        return 0;
    }

    n = sizeof("data:;base64,") - 1 + media->len + data->len;

    url = tr_alloc(ctx, n);
    if (url == NULL) {
        return TR_NOMEM;
    }

    p = url;
    memcpy(p, "data:", 5);
    p += 5;
    memcpy(p, media->str, media->len);
    p += media->len;
    memcpy(p, ";base64,", 8);
    p += 8;
    memcpy(p, data->str, data->len);

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "type", "image_url");
    tr_gen_key(ctx, "image_url");
    tr_gen_map(ctx);
    tr_gen_key(ctx, "url");
    tr_gen_string(ctx, url, n);
    tr_gen_map_end(ctx);
    tr_gen_map_end(ctx);

    return 0;
}


/* OpenAI tool messages hold text only; errors are marked "Error: " */

static int
tr_ao_tool_result(tr_ctx_t *ctx, tr_val_t *block, size_t i, size_t j)
{
    int          rc;
    size_t       k;
    tr_val_t    *id, *content, *b, *text, *type;
    tr_text_t    all;
    const char  *prefix;

    id = tr_get(block, "tool_use_id");

    if (id == NULL || id->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].content[%zu].tool_use_id must "
                        "be a string", i, j);
    }

    memset(&all, 0, sizeof(tr_text_t));
    content = tr_get(block, "content");

    if (content != NULL && content->type == yajl_t_string) {
        rc = tr_text_add(ctx, &all, content->str, content->len);
        if (rc != 0) {
            return rc;
        }

    } else if (content != NULL && content->type == yajl_t_array) {

        for (b = content->first, k = 0; b != NULL; b = b->next, k++) {
            type = tr_get(b, "type");
            text = tr_get(b, "text");

            if (!tr_is(type, "text")) {
                return tr_error(ctx, "messages[%zu].content[%zu].content"
                                "[%zu]: OpenAI tool messages hold text only, "
                                "not \"%s\"", i, j, k, tr_name(ctx, type));
            }

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "messages[%zu].content[%zu].content"
                                "[%zu].text must be a string", i, j, k);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }
        }

    } else if (content != NULL) {
        return tr_error(ctx, "messages[%zu].content[%zu].content must be a "
                        "string or an array", i, j);
    }

    prefix = (tr_get(block, "is_error") != NULL
              && tr_get(block, "is_error")->type == yajl_t_true)
             ? "Error: " : NULL;

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "tool");
    tr_gen_key(ctx, "tool_call_id");
    tr_gen_value(ctx, id);
    tr_gen_key(ctx, "content");

    rc = tr_gen_text(ctx, &all, prefix);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


/*
 * Text becomes the content string (null beside tool calls when there is
 * no text), tool_use blocks become tool_calls with the input as JSON text.
 */

static int
tr_ao_assistant(tr_ctx_t *ctx, tr_val_t *content, size_t i)
{
    int         rc;
    size_t      j, calls;
    tr_val_t   *b, *type, *text, *id, *name, *input;
    tr_text_t   all;

    memset(&all, 0, sizeof(tr_text_t));
    calls = 0;

    for (b = content->first, j = 0; b != NULL; b = b->next, j++) {
        type = tr_get(b, "type");

        if (tr_is(type, "text")) {
            text = tr_get(b, "text");

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "messages[%zu].content[%zu].text must "
                                "be a string", i, j);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }

        } else if (tr_is(type, "tool_use")) {
            id = tr_get(b, "id");
            name = tr_get(b, "name");
            input = tr_get(b, "input");

            if (id == NULL || id->type != yajl_t_string
                || name == NULL || name->type != yajl_t_string)
            {
                return tr_error(ctx, "messages[%zu].content[%zu] needs "
                                "\"id\" and \"name\" strings", i, j);
            }

            if (input != NULL && input->type != yajl_t_object) {
                return tr_error(ctx, "messages[%zu].content[%zu].input must "
                                "be an object", i, j);
            }

            calls++;

        } else if (!tr_is(type, "thinking")
                   && !tr_is(type, "redacted_thinking"))
        {
            return tr_error(ctx, "messages[%zu].content[%zu]: unsupported "
                            "content block type \"%s\"", i, j,
                            tr_name(ctx, type));
        }
    }

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "assistant");
    tr_gen_key(ctx, "content");

    if (all.n == 0 && calls > 0) {
        tr_gen_status(ctx, yajl_gen_null(ctx->gen));

    } else {
        rc = tr_gen_text(ctx, &all, NULL);
        if (rc != 0) {
            return rc;
        }
    }

    if (calls > 0) {
        tr_gen_key(ctx, "tool_calls");
        tr_gen_array(ctx);

        for (b = content->first; b != NULL; b = b->next) {

            if (!tr_is(tr_get(b, "type"), "tool_use")) {
                continue;
            }

            tr_gen_map(ctx);
            tr_gen_key(ctx, "id");
            tr_gen_value(ctx, tr_get(b, "id"));
            tr_gen_pair(ctx, "type", "function");
            tr_gen_key(ctx, "function");
            tr_gen_map(ctx);
            tr_gen_key(ctx, "name");
            tr_gen_value(ctx, tr_get(b, "name"));
            tr_gen_key(ctx, "arguments");

            rc = tr_gen_json(ctx, tr_get(b, "input"));
            if (rc != 0) {
                return rc;
            }

            tr_gen_map_end(ctx);
            tr_gen_map_end(ctx);
        }

        tr_gen_array_end(ctx);
    }

    tr_gen_map_end(ctx);

    return 0;
}


/*
 * max_tokens stays max_tokens rather than max_completion_tokens: vLLM,
 * Gemini's OpenAI endpoint and other compatible hosts know only the
 * former, and OpenAI still accepts it for non-reasoning models.
 */

static int
tr_ao_params(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t   *v, *e;
    long long   n;

    v = tr_get(root, "max_tokens");

    if (v != NULL) {
        if (tr_integer(v, &n) != 0 || n < 1) {
            return tr_error(ctx, "\"max_tokens\" must be a positive integer");
        }

        tr_gen_key(ctx, "max_tokens");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "temperature");

    if (tr_check(ctx, v, yajl_t_number, "\"temperature\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "temperature");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "top_p");

    if (tr_check(ctx, v, yajl_t_number, "\"top_p\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "top_p");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "stop_sequences");

    if (tr_check(ctx, v, yajl_t_array, "\"stop_sequences\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL && v->len > 0) {
        for (e = v->first; e != NULL; e = e->next) {
            if (e->type != yajl_t_string) {
                return tr_error(ctx, "\"stop_sequences\" must be an array of "
                                "strings");
            }
        }

        tr_gen_key(ctx, "stop");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "metadata");

    if (tr_check(ctx, v, yajl_t_object, "\"metadata\"") != 0) {
        return TR_REJECT;
    }

    v = tr_get(v, "user_id");

    if (tr_check(ctx, v, yajl_t_string, "\"metadata.user_id\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "user");
        tr_gen_value(ctx, v);
    }

    v = tr_get(root, "stream");

    if (tr_check(ctx, v, yajl_t_true, "\"stream\"") != 0) {
        return TR_REJECT;
    }

    if (v != NULL) {
        tr_gen_key(ctx, "stream");
        tr_gen_value(ctx, v);
    }

    if (v != NULL && v->type == yajl_t_true
        && ctx->opts != NULL && ctx->opts->include_usage)
    {
        tr_gen_key(ctx, "stream_options");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "include_usage");
        tr_gen_status(ctx, yajl_gen_bool(ctx->gen, 1));
        tr_gen_map_end(ctx);
    }

    return 0;
}


static int
tr_ao_tools(tr_ctx_t *ctx, tr_val_t *root)
{
    size_t     k;
    tr_val_t  *tools, *t, *type, *name, *desc, *schema;

    tools = tr_get(root, "tools");

    if (tr_check(ctx, tools, yajl_t_array, "\"tools\"") != 0) {
        return TR_REJECT;
    }

    if (tools == NULL || tools->len == 0) {
        return 0;
    }

    tr_gen_key(ctx, "tools");
    tr_gen_array(ctx);

    for (t = tools->first, k = 0; t != NULL; t = t->next, k++) {
        type = tr_get(t, "type");

        /* client tools have no type or "custom"; others run at Anthropic */
        if (type != NULL && !tr_is(type, "custom")) {
            return tr_error(ctx, "tools[%zu]: server tool type \"%s\" is not "
                            "supported by OpenAI-compatible models", k,
                            tr_name(ctx, type));
        }

        name = tr_get(t, "name");
        desc = tr_get(t, "description");
        schema = tr_get(t, "input_schema");

        if (name == NULL || name->type != yajl_t_string) {
            return tr_error(ctx, "tools[%zu].name must be a string", k);
        }

        if (desc != NULL && desc->type != yajl_t_string) {
            return tr_error(ctx, "tools[%zu].description must be a string",
                            k);
        }

        if (schema != NULL && schema->type != yajl_t_object) {
            return tr_error(ctx, "tools[%zu].input_schema must be an object",
                            k);
        }

        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "function");
        tr_gen_key(ctx, "function");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "name");
        tr_gen_value(ctx, name);

        if (desc != NULL) {
            tr_gen_key(ctx, "description");
            tr_gen_value(ctx, desc);
        }

        tr_gen_key(ctx, "parameters");

        if (schema != NULL) {
            tr_gen_value(ctx, schema);

        } else {
            tr_gen_empty_schema(ctx);
        }

        tr_gen_map_end(ctx);
        tr_gen_map_end(ctx);
    }

    tr_gen_array_end(ctx);

    return tr_ao_tool_choice(ctx, root);
}


static int
tr_ao_tool_choice(tr_ctx_t *ctx, tr_val_t *root)
{
    tr_val_t  *tc, *type, *name, *single;

    tc = tr_get(root, "tool_choice");

    if (tc == NULL) {
        return 0;
    }

    if (tc->type != yajl_t_object) {
        return tr_error(ctx, "\"tool_choice\" must be an object");
    }

    type = tr_get(tc, "type");

    if (tr_is(type, "auto")) {
        tr_gen_pair(ctx, "tool_choice", "auto");

    } else if (tr_is(type, "any")) {
        tr_gen_pair(ctx, "tool_choice", "required");

    } else if (tr_is(type, "none")) {
        tr_gen_pair(ctx, "tool_choice", "none");

    } else if (tr_is(type, "tool")) {
        name = tr_get(tc, "name");

        if (name == NULL || name->type != yajl_t_string) {
            return tr_error(ctx, "tool_choice.name must be a string");
        }

        tr_gen_key(ctx, "tool_choice");
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "function");
        tr_gen_key(ctx, "function");
        tr_gen_map(ctx);
        tr_gen_key(ctx, "name");
        tr_gen_value(ctx, name);
        tr_gen_map_end(ctx);
        tr_gen_map_end(ctx);

    } else {
        return tr_error(ctx, "unsupported \"tool_choice\" of type \"%s\"",
                        tr_name(ctx, type));
    }

    single = tr_get(tc, "disable_parallel_tool_use");

    if (single != NULL && single->type == yajl_t_true) {
        tr_gen_key(ctx, "parallel_tool_calls");
        tr_gen_status(ctx, yajl_gen_bool(ctx->gen, 0));
    }

    return 0;
}
