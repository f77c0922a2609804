
/*
 * Copyright (C) tokenroute authors
 *
 * The request scan: one pass over a chat request body for the fields
 * routing needs; then the body the provider gets, spliced from the
 * positions the scan kept (the model replaced, "models" dropped,
 * include_usage asked for) without parsing it again.
 */


#include <string.h>

#include "tokenroute_json_scan.h"
#include "tokenroute_json_value.h"
#include "tokenroute_request.h"


typedef enum {
    TR_FIELD_NONE = 0,
    TR_FIELD_MODEL,
    TR_FIELD_STREAM,
    TR_FIELD_MAX_TOKENS,
    TR_FIELD_MAX_COMPLETION_TOKENS,
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


static tr_field_e tr_scan_key(tokenroute_json_scan_t *js, int top);
static tokenroute_request_status_e tr_scan_value(tokenroute_json_scan_t *js,
    const unsigned char *body, tokenroute_request_t *req, tr_field_e field,
    tokenroute_json_token_e t);
static tokenroute_request_status_e tr_scan_models(tokenroute_json_scan_t *js,
    const unsigned char *body, tokenroute_request_t *req);
static tokenroute_request_status_e tr_scan_stream_options(
    tokenroute_json_scan_t *js, const unsigned char *body,
    tokenroute_request_t *req);
static int tr_scan_model_id(tokenroute_json_scan_t *js, char *id,
    size_t *len);
static tokenroute_request_status_e tr_scan_wrong_type(
    tokenroute_request_t *req, tr_field_e field);
static size_t tr_edits(const unsigned char *body, size_t len,
    const tokenroute_request_t *req, const tokenroute_rewrite_t *rw,
    tr_edit_t *edits);
static void tr_drop_member(const unsigned char *body, size_t len,
    tr_edit_t *edit);
static unsigned char *tr_json_string(unsigned char *p, const char *s,
    size_t len);


/*
 * One pass over the body: the top-level members routing needs are read,
 * every other value is validated and skipped.  The first problem found
 * in text order decides the status, as it does for the yajl-based scan
 * t/unit/request_diff.c compares this one with.
 */

tokenroute_request_status_e
tokenroute_request_scan(const unsigned char *body, size_t len,
    tokenroute_request_t *req)
{
    tr_field_e                    field;
    tokenroute_json_token_e       t;
    tokenroute_json_scan_t        js;
    tokenroute_request_status_e   rc;

    /* not a memset(): the model lists are 2K; see the header */

    req->model[0] = '\0';
    req->model_len = 0;
    req->model_start = 0;
    req->model_end = 0;
    req->stream = 0;
    req->max_tokens = -1;
    req->object_start = 0;
    req->include_usage = -1;
    req->stream_options = 0;
    req->stream_options_empty = 0;
    req->stream_options_start = 0;
    req->stream_options_end = 0;
    req->nmodels = 0;
    req->models_start = 0;
    req->models_end = 0;
    req->bad_field = NULL;

    tokenroute_json_scan_init(&js, body, len);

    t = tokenroute_json_scan_next(&js);

    if (t != TOKENROUTE_JSON_OBJECT) {
        return (t == TOKENROUTE_JSON_ERROR) ? TOKENROUTE_REQUEST_INVALID_JSON
                                            : TOKENROUTE_REQUEST_NOT_OBJECT;
    }

    req->object_start = js.end - body;

    for ( ;; ) {
        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_OBJECT_END) {
            break;
        }

        if (t != TOKENROUTE_JSON_KEY) {
            return TOKENROUTE_REQUEST_INVALID_JSON;
        }

        field = tr_scan_key(&js, 1);

        /* a duplicate key: which one would the provider read? */

        switch (field) {

        case TR_FIELD_MODEL:
            if (req->model_len) {
                return TOKENROUTE_REQUEST_BAD_MODEL;
            }

            break;

        case TR_FIELD_MODELS:
            if (req->models_end) {
                return tr_scan_wrong_type(req, field);
            }

            req->models_start = js.token - body;
            req->models_end = 1;
            break;

        case TR_FIELD_STREAM_OPTIONS:
            if (req->stream_options) {
                return tr_scan_wrong_type(req, field);
            }

            break;

        default:
            break;
        }

        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_ERROR) {
            return TOKENROUTE_REQUEST_INVALID_JSON;
        }

        if (field == TR_FIELD_NONE) {
            if ((t == TOKENROUTE_JSON_OBJECT || t == TOKENROUTE_JSON_ARRAY)
                && tokenroute_json_scan_skip(&js) == TOKENROUTE_JSON_ERROR)
            {
                return TOKENROUTE_REQUEST_INVALID_JSON;
            }

            continue;
        }

        rc = tr_scan_value(&js, body, req, field, t);
        if (rc != TOKENROUTE_REQUEST_OK) {
            return rc;
        }
    }

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_END) {
        return TOKENROUTE_REQUEST_INVALID_JSON;
    }

    return req->model_len ? TOKENROUTE_REQUEST_OK
                          : TOKENROUTE_REQUEST_NO_MODEL;
}


/* keys compare decoded, as yajl hands them over: "mod\u0065l" is "model" */

static tr_field_e
tr_scan_key(tokenroute_json_scan_t *js, int top)
{
    size_t                len;
    unsigned char         buf[24];
    const unsigned char  *key;

    key = js->token + 1;
    len = js->end - key - 1;

    if (js->escaped) {
        len = tokenroute_json_unescape(key, key + len, buf, sizeof(buf));
        if (len > sizeof(buf)) {
            return TR_FIELD_NONE;
        }

        key = buf;
    }

    if (!top) {
        return (len == 13 && memcmp(key, "include_usage", 13) == 0)
               ? TR_FIELD_INCLUDE_USAGE : TR_FIELD_NONE;
    }

    switch (len) {

    case 5:
        if (memcmp(key, "model", 5) == 0) {
            return TR_FIELD_MODEL;
        }

        break;

    case 6:
        if (memcmp(key, "stream", 6) == 0) {
            return TR_FIELD_STREAM;
        }

        if (memcmp(key, "models", 6) == 0) {
            return TR_FIELD_MODELS;
        }

        break;

    case 10:
        if (memcmp(key, "max_tokens", 10) == 0) {
            return TR_FIELD_MAX_TOKENS;
        }

        break;

    case 14:
        if (memcmp(key, "stream_options", 14) == 0) {
            return TR_FIELD_STREAM_OPTIONS;
        }

        break;

    case 21:
        if (memcmp(key, "max_completion_tokens", 21) == 0) {
            return TR_FIELD_MAX_COMPLETION_TOKENS;
        }

        break;
    }

    return TR_FIELD_NONE;
}


/* the value of a top-level member routing reads; t is its first token */

static tokenroute_request_status_e
tr_scan_value(tokenroute_json_scan_t *js, const unsigned char *body,
    tokenroute_request_t *req, tr_field_e field, tokenroute_json_token_e t)
{
    int64_t  n;

    switch (field) {

    case TR_FIELD_MODEL:
        if (t != TOKENROUTE_JSON_STRING
            || tr_scan_model_id(js, req->model, &req->model_len) != 0)
        {
            break;
        }

        req->model_start = js->token - body;
        req->model_end = js->end - body;
        return TOKENROUTE_REQUEST_OK;

    case TR_FIELD_STREAM:
        if (t == TOKENROUTE_JSON_TRUE || t == TOKENROUTE_JSON_FALSE) {
            req->stream = (t == TOKENROUTE_JSON_TRUE);
            return TOKENROUTE_REQUEST_OK;
        }

        /* "stream": null and "max_tokens": null mean "not set" */

        if (t == TOKENROUTE_JSON_NULL) {
            return TOKENROUTE_REQUEST_OK;
        }

        break;

    case TR_FIELD_MAX_TOKENS:
    case TR_FIELD_MAX_COMPLETION_TOKENS:
        if (t == TOKENROUTE_JSON_NULL) {
            return TOKENROUTE_REQUEST_OK;
        }

        if (t != TOKENROUTE_JSON_INTEGER) {
            break;
        }

        n = tokenroute_json_integer(js->token, js->end);
        if (n < 1) {
            break;
        }

        /* max_completion_tokens supersedes the deprecated max_tokens */

        if (field == TR_FIELD_MAX_COMPLETION_TOKENS || req->max_tokens < 0) {
            req->max_tokens = n;
        }

        return TOKENROUTE_REQUEST_OK;

    case TR_FIELD_MODELS:
        if (t == TOKENROUTE_JSON_ARRAY) {
            return tr_scan_models(js, body, req);
        }

        if (t == TOKENROUTE_JSON_NULL) {
            req->models_end = js->end - body;
            return TOKENROUTE_REQUEST_OK;
        }

        break;

    default: /* TR_FIELD_STREAM_OPTIONS */
        if (t == TOKENROUTE_JSON_OBJECT) {
            return tr_scan_stream_options(js, body, req);
        }

        if (t == TOKENROUTE_JSON_NULL) {
            req->stream_options = 2;
            req->stream_options_start = js->token - body;
            req->stream_options_end = js->end - body;
            return TOKENROUTE_REQUEST_OK;
        }

        break;
    }

    return tr_scan_wrong_type(req, field);
}


static tokenroute_request_status_e
tr_scan_models(tokenroute_json_scan_t *js, const unsigned char *body,
    tokenroute_request_t *req)
{
    size_t                   len;
    tokenroute_json_token_e  t;

    for ( ;; ) {
        t = tokenroute_json_scan_next(js);

        switch (t) {

        case TOKENROUTE_JSON_ARRAY_END:
            req->models_end = js->end - body;
            return TOKENROUTE_REQUEST_OK;

        case TOKENROUTE_JSON_STRING:
            if (req->nmodels < TOKENROUTE_CHAIN_MAX
                && tr_scan_model_id(js, req->models[req->nmodels], &len) == 0)
            {
                req->nmodels++;
                continue;
            }

            break;

        case TOKENROUTE_JSON_ARRAY:
            /* a nested array passes unread, as in the yajl-based scan */
            if (tokenroute_json_scan_skip(js) == TOKENROUTE_JSON_ERROR) {
                return TOKENROUTE_REQUEST_INVALID_JSON;
            }

            continue;

        case TOKENROUTE_JSON_ERROR:
            return TOKENROUTE_REQUEST_INVALID_JSON;

        default:
            break;
        }

        return tr_scan_wrong_type(req, TR_FIELD_MODELS);
    }
}


static tokenroute_request_status_e
tr_scan_stream_options(tokenroute_json_scan_t *js, const unsigned char *body,
    tokenroute_request_t *req)
{
    int                      usage;
    tokenroute_json_token_e  t;

    req->stream_options = 1;
    req->stream_options_empty = 1;

    for ( ;; ) {
        t = tokenroute_json_scan_next(js);

        if (t == TOKENROUTE_JSON_OBJECT_END) {
            /* the '}', where "include_usage" can be appended */
            req->stream_options_end = js->token - body;
            return TOKENROUTE_REQUEST_OK;
        }

        if (t != TOKENROUTE_JSON_KEY) {
            return TOKENROUTE_REQUEST_INVALID_JSON;
        }

        req->stream_options_empty = 0;
        usage = (tr_scan_key(js, 0) == TR_FIELD_INCLUDE_USAGE);

        t = tokenroute_json_scan_next(js);

        switch (t) {

        case TOKENROUTE_JSON_ERROR:
            return TOKENROUTE_REQUEST_INVALID_JSON;

        case TOKENROUTE_JSON_TRUE:
        case TOKENROUTE_JSON_FALSE:
            if (usage) {
                req->include_usage = (t == TOKENROUTE_JSON_TRUE);
            }

            continue;

        case TOKENROUTE_JSON_NULL:
            continue;

        case TOKENROUTE_JSON_OBJECT:
        case TOKENROUTE_JSON_ARRAY:
            if (usage) {
                break;
            }

            if (tokenroute_json_scan_skip(js) == TOKENROUTE_JSON_ERROR) {
                return TOKENROUTE_REQUEST_INVALID_JSON;
            }

            continue;

        default:
            if (usage) {
                break;
            }

            continue;
        }

        return tr_scan_wrong_type(req, TR_FIELD_INCLUDE_USAGE);
    }
}


/* a model id: 1 to 256 bytes, no NUL (a C string cannot carry it) */

static int
tr_scan_model_id(tokenroute_json_scan_t *js, char *id, size_t *len)
{
    size_t                n;
    const unsigned char  *p, *last;

    p = js->token + 1;
    last = js->end - 1;

    if (js->escaped) {
        n = tokenroute_json_unescape(p, last, (unsigned char *) id,
                                     TOKENROUTE_MODEL_MAX_LEN);

        if (n == 0 || n > TOKENROUTE_MODEL_MAX_LEN
            || memchr(id, '\0', n) != NULL)
        {
            id[0] = '\0';
            return -1;
        }

    } else {
        n = last - p;

        if (n == 0 || n > TOKENROUTE_MODEL_MAX_LEN) {
            return -1;
        }

        memcpy(id, p, n);
    }

    id[n] = '\0';
    *len = n;

    return 0;
}


static tokenroute_request_status_e
tr_scan_wrong_type(tokenroute_request_t *req, tr_field_e field)
{
    static const char  *names[] = {
        NULL, "model", "stream", "max_tokens", "max_completion_tokens",
        "stream_options", "stream_options.include_usage", "models"
    };

    if (field == TR_FIELD_MODEL) {
        return TOKENROUTE_REQUEST_BAD_MODEL;
    }

    req->bad_field = names[field];

    return TOKENROUTE_REQUEST_BAD_FIELD;
}


/*
 * Asked of every request for the shape of its errors: a path is short,
 * and memchr() finds its few slashes faster than a byte loop does.  A
 * path that ends in "/chat/completions" (and slashes), as most do, is
 * looked at in front of that ending only: no "/messages" starts in it,
 * nor runs into it from before (its '/' is no letter of "messages"),
 * and it holds no NUL.
 */

int
tokenroute_request_anthropic_path(const unsigned char *path, size_t len)
{
    size_t                n;
    const unsigned char  *p, *last, *nul;

    static const char     chat[] = "/chat/completions";

    n = len;

    while (n && path[n - 1] == '/') {
        n--;
    }

    if (n >= sizeof(chat) - 1
        && memcmp(path + n - (sizeof(chat) - 1), chat, sizeof(chat) - 1)
           == 0)
    {
        len = n - (sizeof(chat) - 1);
    }

    nul = memchr(path, '\0', len);
    last = nul ? nul : path + len;

    for (p = path; last - p >= 9; p++) {
        p = memchr(p, '/', last - p - 8);
        if (p == NULL) {
            return 0;
        }

        if (memcmp(p + 1, "messages", 8) == 0) {
            return 1;
        }
    }

    return 0;
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

    case TOKENROUTE_REQUEST_BIG_MAX_TOKENS:
        return "\"max_tokens\" (or \"max_completion_tokens\") must be at "
               "most 1000000000";

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
