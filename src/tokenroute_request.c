
/*
 * Copyright (C) tokenroute authors
 */


#include <string.h>

#include <yajl/yajl_parse.h>

#include "tokenroute_arena.h"
#include "tokenroute_request.h"


typedef enum {
    TR_FIELD_NONE = 0,
    TR_FIELD_MODEL,
    TR_FIELD_STREAM,
    TR_FIELD_MAX_TOKENS,
    TR_FIELD_STREAM_OPTIONS,
    TR_FIELD_INCLUDE_USAGE,
    TR_FIELD_MODELS
} tr_field_e;


typedef struct {
    size_t                        start;
    size_t                        end;
    const char                   *text;
    size_t                        len;
    int                           json_string;
} tr_edit_t;


typedef struct {
    yajl_handle                   handle;
    const unsigned char          *body;
    tokenroute_request_t         *req;
    int                           depth;
    tr_field_e                    field;
    int                           seen_model;
    int                           max_tokens_from_completion;
    int                           in_stream_options;
    int                           in_models;
    tokenroute_request_status_e   status;
} tr_scan_t;


static int tr_scan_wrong_type(tr_scan_t *s);
static int tr_scan_null(void *ctx);
static int tr_scan_boolean(void *ctx, int value);
static int tr_scan_integer(void *ctx, long long value);
static int tr_scan_double(void *ctx, double value);
static int tr_scan_string(void *ctx, const unsigned char *s, size_t len);
static int tr_scan_start_map(void *ctx);
static int tr_scan_map_key(void *ctx, const unsigned char *key, size_t len);
static int tr_scan_end_map(void *ctx);
static int tr_scan_start_array(void *ctx);
static int tr_scan_end_array(void *ctx);
static size_t tr_token_start(const unsigned char *body, size_t end);
static size_t tr_edits(const unsigned char *body, size_t len,
    const tokenroute_request_t *req, const tokenroute_rewrite_t *rw,
    tr_edit_t *edits);
static void tr_drop_member(const unsigned char *body, size_t len,
    tr_edit_t *edit);
static unsigned char *tr_json_string(unsigned char *p, const char *s,
    size_t len);


static const yajl_callbacks  tr_scan_callbacks = {
    tr_scan_null,
    tr_scan_boolean,
    tr_scan_integer,
    tr_scan_double,
    NULL,
    tr_scan_string,
    tr_scan_start_map,
    tr_scan_map_key,
    tr_scan_end_map,
    tr_scan_start_array,
    tr_scan_end_array
};


tokenroute_request_status_e
tokenroute_request_scan(const unsigned char *body, size_t len,
    tokenroute_request_t *req)
{
    tr_scan_t            s;
    yajl_status          st;
    yajl_alloc_funcs     af;
    tokenroute_arena_t   arena;

    memset(req, 0, sizeof(tokenroute_request_t));
    req->max_tokens = -1;
    req->include_usage = -1;

    memset(&s, 0, sizeof(tr_scan_t));
    s.body = body;
    s.req = req;
    s.status = TOKENROUTE_REQUEST_OK;

    /* the parser lives on the stack: no heap for a request */
    tokenroute_arena_init(&arena, &af);

    s.handle = yajl_alloc(&tr_scan_callbacks, &af, &s);
    if (s.handle == NULL) {
        return TOKENROUTE_REQUEST_NO_MEMORY;
    }

    /* the provider checks its text; the gateway reads three fields */
    yajl_config(s.handle, yajl_dont_validate_strings, 1);

    st = yajl_parse(s.handle, body, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(s.handle);
    }

    yajl_free(s.handle);

    if (s.status != TOKENROUTE_REQUEST_OK) {
        return s.status;
    }

    if (st != yajl_status_ok) {
        return TOKENROUTE_REQUEST_INVALID_JSON;
    }

    if (!s.seen_model) {
        return TOKENROUTE_REQUEST_NO_MODEL;
    }

    return TOKENROUTE_REQUEST_OK;
}


const char *
tokenroute_request_strerror(tokenroute_request_status_e status)
{
    switch (status) {

    case TOKENROUTE_REQUEST_OK:
        return "ok";

    case TOKENROUTE_REQUEST_INVALID_JSON:
        return "The request body is not valid JSON";

    case TOKENROUTE_REQUEST_NOT_OBJECT:
        return "The request body must be a JSON object";

    case TOKENROUTE_REQUEST_NO_MODEL:
        return "The request body has no \"model\" field";

    case TOKENROUTE_REQUEST_BAD_MODEL:
        return "\"model\" must be a non-empty string of at most 256 bytes";

    case TOKENROUTE_REQUEST_BAD_FIELD:
        return "A request field has the wrong type";

    default:
        return "Out of memory while reading the request";
    }
}


/* "stream_options" edits; the model edit comes from the scan */

static const char  tr_so_member[] = "\"stream_options\":{\"include_usage\":true},";
static const char  tr_so_object[] = "{\"include_usage\":true}";
static const char  tr_iu_first[] = "\"include_usage\":true";
static const char  tr_iu_next[] = ",\"include_usage\":true";


static size_t
tr_edits(const unsigned char *body, size_t len,
    const tokenroute_request_t *req, const tokenroute_rewrite_t *rw,
    tr_edit_t *edits)
{
    size_t      i, j, n;
    tr_edit_t   so, tmp;

    n = 0;

    if (rw->drop_models && req->models_end > 1) {
        edits[n].start = req->models_start;
        edits[n].end = req->models_end;
        edits[n].text = "";
        edits[n].len = 0;
        edits[n].json_string = 0;

        /* the size computation does without the comma: an upper bound */
        if (body) {
            tr_drop_member(body, len, &edits[n]);
        }

        n++;
    }

    edits[n].start = req->model_start;
    edits[n].end = req->model_end;
    edits[n].text = rw->model;
    edits[n].len = rw->model_len;
    edits[n].json_string = 1;
    n++;

    if (!rw->include_usage || req->include_usage == 1) {
        goto sort;
    }

    so.json_string = 0;

    switch (req->stream_options) {

    case 1:
        /* appended last in the object: JSON parsers let the last key win */
        so.start = req->stream_options_end;
        so.end = so.start;
        so.text = req->stream_options_empty ? tr_iu_first : tr_iu_next;
        so.len = req->stream_options_empty ? sizeof(tr_iu_first) - 1
                                           : sizeof(tr_iu_next) - 1;
        break;

    case 2:
        so.start = req->stream_options_start;
        so.end = req->stream_options_end;
        so.text = tr_so_object;
        so.len = sizeof(tr_so_object) - 1;
        break;

    default:
        so.start = req->object_start;
        so.end = so.start;
        so.text = tr_so_member;
        so.len = sizeof(tr_so_member) - 1;
        break;
    }

    edits[n++] = so;

sort:

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && edits[j].start < edits[j - 1].start; j--) {
            tmp = edits[j];
            edits[j] = edits[j - 1];
            edits[j - 1] = tmp;
        }
    }

    return n;
}


/* a member removed with one of the commas around it */

static void
tr_drop_member(const unsigned char *body, size_t len, tr_edit_t *edit)
{
    size_t  p;

    for (p = edit->start; p > 0; p--) {
        if (body[p - 1] == ',') {
            edit->start = p - 1;
            return;
        }

        if (body[p - 1] != ' ' && body[p - 1] != '\t'
            && body[p - 1] != '\n' && body[p - 1] != '\r')
        {
            break;
        }
    }

    for (p = edit->end; p < len; p++) {
        if (body[p] == ',') {
            edit->end = p + 1;
            return;
        }

        if (body[p] != ' ' && body[p] != '\t' && body[p] != '\n'
            && body[p] != '\r')
        {
            return;
        }
    }
}


size_t
tokenroute_request_rewrite_size(size_t len, const tokenroute_request_t *req,
    const tokenroute_rewrite_t *rw)
{
    size_t      i, n;
    tr_edit_t   edits[3];

    n = tr_edits(NULL, len, req, rw, edits);

    for (i = 0; i < n; i++) {
        len -= edits[i].end - edits[i].start;

        /* a JSON string: quotes, and at worst \u00XX for every byte */
        len += edits[i].json_string ? 2 + 6 * edits[i].len : edits[i].len;
    }

    return len;
}


size_t
tokenroute_request_rewrite(const unsigned char *body, size_t len,
    const tokenroute_request_t *req, const tokenroute_rewrite_t *rw,
    unsigned char *out)
{
    size_t          i, n, pos;
    tr_edit_t       edits[3];
    unsigned char  *p;

    n = tr_edits(body, len, req, rw, edits);

    p = out;
    pos = 0;

    for (i = 0; i < n; i++) {
        memcpy(p, body + pos, edits[i].start - pos);
        p += edits[i].start - pos;

        if (edits[i].json_string) {
            p = tr_json_string(p, edits[i].text, edits[i].len);

        } else {
            memcpy(p, edits[i].text, edits[i].len);
            p += edits[i].len;
        }

        pos = edits[i].end;
    }

    memcpy(p, body + pos, len - pos);
    p += len - pos;

    return p - out;
}


static unsigned char *
tr_json_string(unsigned char *p, const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    static const char  hex[] = "0123456789abcdef";

    *p++ = '"';

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;

        } else if (c < 0x20) {
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    *p++ = '"';

    return p;
}


/*
 * The body is parsed in one yajl_parse() call, so the bytes consumed so
 * far end just past the closing quote of the string just read; walk back
 * to its opening quote, skipping escaped quotes.
 */

static size_t
tr_token_start(const unsigned char *body, size_t end)
{
    size_t  n, start;

    start = end - 1;

    for ( ;; ) {
        do {
            start--;
        } while (body[start] != '"');

        for (n = 0; start - n > 0 && body[start - n - 1] == '\\'; n++) {
            /* void */
        }

        if (n % 2 == 0) {
            return start;
        }
    }
}


static int
tr_scan_wrong_type(tr_scan_t *s)
{
    static const char  *names[] = {
        NULL, "model", "stream", "max_tokens", "stream_options",
        "stream_options.include_usage", "models"
    };

    if (s->field == TR_FIELD_MODEL) {
        s->status = TOKENROUTE_REQUEST_BAD_MODEL;

    } else {
        s->status = TOKENROUTE_REQUEST_BAD_FIELD;
        s->req->bad_field = names[s->field];

        if (s->field == TR_FIELD_MAX_TOKENS && s->max_tokens_from_completion)
        {
            s->req->bad_field = "max_completion_tokens";
        }
    }

    return 0;
}


static int
tr_scan_null(void *ctx)
{
    tr_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = TR_FIELD_MODELS;
        return tr_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->field == TR_FIELD_MODEL) {
        return tr_scan_wrong_type(s);
    }

    if (s->field == TR_FIELD_MODELS) {
        s->req->models_end = yajl_get_bytes_consumed(s->handle);
    }

    if (s->field == TR_FIELD_STREAM_OPTIONS) {
        s->req->stream_options = 2;
        s->req->stream_options_end = yajl_get_bytes_consumed(s->handle);
        s->req->stream_options_start = s->req->stream_options_end - 4;
    }

    /* "stream": null and "max_tokens": null mean "not set" */
    s->field = TR_FIELD_NONE;

    return 1;
}


static int
tr_scan_boolean(void *ctx, int value)
{
    tr_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = TR_FIELD_MODELS;
        return tr_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    switch (s->field) {

    case TR_FIELD_NONE:
        return 1;

    case TR_FIELD_STREAM:
        s->req->stream = value ? 1 : 0;
        s->field = TR_FIELD_NONE;
        return 1;

    case TR_FIELD_INCLUDE_USAGE:
        s->req->include_usage = value ? 1 : 0;
        s->field = TR_FIELD_NONE;
        return 1;

    default:
        return tr_scan_wrong_type(s);
    }
}


static int
tr_scan_integer(void *ctx, long long value)
{
    tr_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = TR_FIELD_MODELS;
        return tr_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    switch (s->field) {

    case TR_FIELD_NONE:
        return 1;

    case TR_FIELD_MAX_TOKENS:
        if (value < 1) {
            return tr_scan_wrong_type(s);
        }

        /* max_completion_tokens supersedes the deprecated max_tokens */
        if (s->max_tokens_from_completion || s->req->max_tokens < 0) {
            s->req->max_tokens = value;
        }

        s->field = TR_FIELD_NONE;
        return 1;

    default:
        return tr_scan_wrong_type(s);
    }
}


static int
tr_scan_double(void *ctx, double value)
{
    tr_scan_t  *s = ctx;

    (void) value;

    if (s->in_models && s->depth == 2) {
        s->field = TR_FIELD_MODELS;
        return tr_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->field != TR_FIELD_NONE) {
        return tr_scan_wrong_type(s);
    }

    return 1;
}


static int
tr_scan_string(void *ctx, const unsigned char *str, size_t len)
{
    size_t      end, start;
    tr_scan_t  *s = ctx;

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->in_models && s->depth == 2) {
        if (len == 0 || len > TOKENROUTE_MODEL_MAX_LEN
            || memchr(str, '\0', len) != NULL
            || s->req->nmodels == TOKENROUTE_CHAIN_MAX)
        {
            s->field = TR_FIELD_MODELS;
            return tr_scan_wrong_type(s);
        }

        memcpy(s->req->models[s->req->nmodels], str, len);
        s->req->models[s->req->nmodels][len] = '\0';
        s->req->nmodels++;

        return 1;
    }

    if (s->field == TR_FIELD_NONE) {
        return 1;
    }

    if (s->field != TR_FIELD_MODEL) {
        return tr_scan_wrong_type(s);
    }

    if (len == 0 || len > TOKENROUTE_MODEL_MAX_LEN
        || memchr(str, '\0', len) != NULL)
    {
        return tr_scan_wrong_type(s);
    }

    memcpy(s->req->model, str, len);
    s->req->model[len] = '\0';
    s->req->model_len = len;

    /*
     * The body is parsed in one yajl_parse() call, so the bytes consumed
     * so far end just past the closing quote of this token; walk back to
     * the opening quote, skipping escaped quotes.
     */

    end = yajl_get_bytes_consumed(s->handle);
    start = tr_token_start(s->body, end);

    s->req->model_start = start;
    s->req->model_end = end;
    s->seen_model = 1;
    s->field = TR_FIELD_NONE;

    return 1;
}


static int
tr_scan_start_map(void *ctx)
{
    tr_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = TR_FIELD_MODELS;
        return tr_scan_wrong_type(s);
    }

    if (s->field == TR_FIELD_STREAM_OPTIONS) {
        s->in_stream_options = 1;
        s->req->stream_options = 1;
        s->req->stream_options_empty = 1;
        s->field = TR_FIELD_NONE;

    } else if (s->field != TR_FIELD_NONE) {
        return tr_scan_wrong_type(s);
    }

    s->depth++;

    if (s->depth == 1) {
        s->req->object_start = yajl_get_bytes_consumed(s->handle);
    }

    return 1;
}


static int
tr_scan_map_key(void *ctx, const unsigned char *key, size_t len)
{
    tr_scan_t  *s = ctx;

    s->field = TR_FIELD_NONE;

    if (s->depth == 2 && s->in_stream_options) {
        s->req->stream_options_empty = 0;

        if (len == 13 && memcmp(key, "include_usage", 13) == 0) {
            s->field = TR_FIELD_INCLUDE_USAGE;
        }

        return 1;
    }

    if (s->depth != 1) {
        return 1;
    }

    if (len == 5 && memcmp(key, "model", 5) == 0) {

        if (s->seen_model) {
            /* a duplicate key: which one would the provider read? */
            s->status = TOKENROUTE_REQUEST_BAD_MODEL;
            return 0;
        }

        s->field = TR_FIELD_MODEL;

    } else if (len == 6 && memcmp(key, "stream", 6) == 0) {
        s->field = TR_FIELD_STREAM;

    } else if (len == 10 && memcmp(key, "max_tokens", 10) == 0) {
        s->field = TR_FIELD_MAX_TOKENS;
        s->max_tokens_from_completion = 0;

    } else if (len == 21 && memcmp(key, "max_completion_tokens", 21) == 0) {
        s->field = TR_FIELD_MAX_TOKENS;
        s->max_tokens_from_completion = 1;

    } else if (len == 6 && memcmp(key, "models", 6) == 0) {

        if (s->req->models_end) {
            s->status = TOKENROUTE_REQUEST_BAD_FIELD;
            s->req->bad_field = "models";
            return 0;
        }

        s->req->models_start = tr_token_start(s->body,
                                              yajl_get_bytes_consumed(s->handle));
        s->req->models_end = 1;
        s->field = TR_FIELD_MODELS;

    } else if (len == 14 && memcmp(key, "stream_options", 14) == 0) {

        if (s->req->stream_options) {
            s->status = TOKENROUTE_REQUEST_BAD_FIELD;
            s->req->bad_field = "stream_options";
            return 0;
        }

        s->field = TR_FIELD_STREAM_OPTIONS;
    }

    return 1;
}


static int
tr_scan_end_map(void *ctx)
{
    tr_scan_t  *s = ctx;

    if (s->depth == 2 && s->in_stream_options) {
        s->in_stream_options = 0;
        s->req->stream_options_end = yajl_get_bytes_consumed(s->handle) - 1;
    }

    s->depth--;
    s->field = TR_FIELD_NONE;

    return 1;
}


static int
tr_scan_start_array(void *ctx)
{
    tr_scan_t  *s = ctx;

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->field == TR_FIELD_MODELS) {
        s->in_models = 1;
        s->field = TR_FIELD_NONE;

    } else if (s->field != TR_FIELD_NONE) {
        return tr_scan_wrong_type(s);
    }

    /* arrays nest values we never look at: count them as depth */
    s->depth++;

    return 1;
}


static int
tr_scan_end_array(void *ctx)
{
    tr_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->in_models = 0;
        s->req->models_end = yajl_get_bytes_consumed(s->handle);
    }

    s->depth--;
    s->field = TR_FIELD_NONE;

    return 1;
}
