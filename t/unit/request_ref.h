
/*
 * Copyright (C) tokenroute authors
 *
 * The yajl-based request scan that tokenroute_json_scan.c replaced,
 * kept unchanged (but for its names and the arena) as the oracle of the
 * differential test t/unit/request_diff.c.  Included by that file only.
 */


#ifndef _REQUEST_REF_H_INCLUDED_
#define _REQUEST_REF_H_INCLUDED_


#include <string.h>

#include <yajl/yajl_parse.h>

#include <tokenroute_request.h>


typedef enum {
    REF_FIELD_NONE = 0,
    REF_FIELD_MODEL,
    REF_FIELD_STREAM,
    REF_FIELD_MAX_TOKENS,
    REF_FIELD_STREAM_OPTIONS,
    REF_FIELD_INCLUDE_USAGE,
    REF_FIELD_MODELS
} ref_field_e;


typedef struct {
    yajl_handle                   handle;
    const unsigned char          *body;
    tokenroute_request_t         *req;
    int                           depth;
    ref_field_e                    field;
    int                           seen_model;
    int                           max_tokens_from_completion;
    int                           in_stream_options;
    int                           in_models;
    tokenroute_request_status_e   status;
} ref_scan_t;


static int ref_scan_wrong_type(ref_scan_t *s);
static int ref_scan_null(void *ctx);
static int ref_scan_boolean(void *ctx, int value);
static int ref_scan_integer(void *ctx, long long value);
static int ref_scan_double(void *ctx, double value);
static int ref_scan_string(void *ctx, const unsigned char *s, size_t len);
static int ref_scan_start_map(void *ctx);
static int ref_scan_map_key(void *ctx, const unsigned char *key, size_t len);
static int ref_scan_end_map(void *ctx);
static int ref_scan_start_array(void *ctx);
static int ref_scan_end_array(void *ctx);
static size_t ref_token_start(const unsigned char *body, size_t end);


static const yajl_callbacks  ref_scan_callbacks = {
    ref_scan_null,
    ref_scan_boolean,
    ref_scan_integer,
    ref_scan_double,
    NULL,
    ref_scan_string,
    ref_scan_start_map,
    ref_scan_map_key,
    ref_scan_end_map,
    ref_scan_start_array,
    ref_scan_end_array
};


static tokenroute_request_status_e
ref_request_scan(const unsigned char *body, size_t len,
    tokenroute_request_t *req)
{
    ref_scan_t            s;
    yajl_status          st;

    memset(req, 0, sizeof(tokenroute_request_t));
    req->max_tokens = -1;
    req->include_usage = -1;

    memset(&s, 0, sizeof(ref_scan_t));
    s.body = body;
    s.req = req;
    s.status = TOKENROUTE_REQUEST_OK;

    s.handle = yajl_alloc(&ref_scan_callbacks, NULL, &s);
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


static size_t
ref_token_start(const unsigned char *body, size_t end)
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
ref_scan_wrong_type(ref_scan_t *s)
{
    static const char  *names[] = {
        NULL, "model", "stream", "max_tokens", "stream_options",
        "stream_options.include_usage", "models"
    };

    if (s->field == REF_FIELD_MODEL) {
        s->status = TOKENROUTE_REQUEST_BAD_MODEL;

    } else {
        s->status = TOKENROUTE_REQUEST_BAD_FIELD;
        s->req->bad_field = names[s->field];

        if (s->field == REF_FIELD_MAX_TOKENS && s->max_tokens_from_completion)
        {
            s->req->bad_field = "max_completion_tokens";
        }
    }

    return 0;
}


static int
ref_scan_null(void *ctx)
{
    ref_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = REF_FIELD_MODELS;
        return ref_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->field == REF_FIELD_MODEL) {
        return ref_scan_wrong_type(s);
    }

    if (s->field == REF_FIELD_MODELS) {
        s->req->models_end = yajl_get_bytes_consumed(s->handle);
    }

    if (s->field == REF_FIELD_STREAM_OPTIONS) {
        s->req->stream_options = 2;
        s->req->stream_options_end = yajl_get_bytes_consumed(s->handle);
        s->req->stream_options_start = s->req->stream_options_end - 4;
    }

    /* "stream": null and "max_tokens": null mean "not set" */
    s->field = REF_FIELD_NONE;

    return 1;
}


static int
ref_scan_boolean(void *ctx, int value)
{
    ref_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = REF_FIELD_MODELS;
        return ref_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    switch (s->field) {

    case REF_FIELD_NONE:
        return 1;

    case REF_FIELD_STREAM:
        s->req->stream = value ? 1 : 0;
        s->field = REF_FIELD_NONE;
        return 1;

    case REF_FIELD_INCLUDE_USAGE:
        s->req->include_usage = value ? 1 : 0;
        s->field = REF_FIELD_NONE;
        return 1;

    default:
        return ref_scan_wrong_type(s);
    }
}


static int
ref_scan_integer(void *ctx, long long value)
{
    ref_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = REF_FIELD_MODELS;
        return ref_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    switch (s->field) {

    case REF_FIELD_NONE:
        return 1;

    case REF_FIELD_MAX_TOKENS:
        if (value < 1) {
            return ref_scan_wrong_type(s);
        }

        /* max_completion_tokens supersedes the deprecated max_tokens */
        if (s->max_tokens_from_completion || s->req->max_tokens < 0) {
            s->req->max_tokens = value;
        }

        s->field = REF_FIELD_NONE;
        return 1;

    default:
        return ref_scan_wrong_type(s);
    }
}


static int
ref_scan_double(void *ctx, double value)
{
    ref_scan_t  *s = ctx;

    (void) value;

    if (s->in_models && s->depth == 2) {
        s->field = REF_FIELD_MODELS;
        return ref_scan_wrong_type(s);
    }

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->field != REF_FIELD_NONE) {
        return ref_scan_wrong_type(s);
    }

    return 1;
}


static int
ref_scan_string(void *ctx, const unsigned char *str, size_t len)
{
    size_t      end, start;
    ref_scan_t  *s = ctx;

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->in_models && s->depth == 2) {
        if (len == 0 || len > TOKENROUTE_MODEL_MAX_LEN
            || memchr(str, '\0', len) != NULL
            || s->req->nmodels == TOKENROUTE_CHAIN_MAX)
        {
            s->field = REF_FIELD_MODELS;
            return ref_scan_wrong_type(s);
        }

        memcpy(s->req->models[s->req->nmodels], str, len);
        s->req->models[s->req->nmodels][len] = '\0';
        s->req->nmodels++;

        return 1;
    }

    if (s->field == REF_FIELD_NONE) {
        return 1;
    }

    if (s->field != REF_FIELD_MODEL) {
        return ref_scan_wrong_type(s);
    }

    if (len == 0 || len > TOKENROUTE_MODEL_MAX_LEN
        || memchr(str, '\0', len) != NULL)
    {
        return ref_scan_wrong_type(s);
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
    start = ref_token_start(s->body, end);

    s->req->model_start = start;
    s->req->model_end = end;
    s->seen_model = 1;
    s->field = REF_FIELD_NONE;

    return 1;
}


static int
ref_scan_start_map(void *ctx)
{
    ref_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->field = REF_FIELD_MODELS;
        return ref_scan_wrong_type(s);
    }

    if (s->field == REF_FIELD_STREAM_OPTIONS) {
        s->in_stream_options = 1;
        s->req->stream_options = 1;
        s->req->stream_options_empty = 1;
        s->field = REF_FIELD_NONE;

    } else if (s->field != REF_FIELD_NONE) {
        return ref_scan_wrong_type(s);
    }

    s->depth++;

    if (s->depth == 1) {
        s->req->object_start = yajl_get_bytes_consumed(s->handle);
    }

    return 1;
}


static int
ref_scan_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ref_scan_t  *s = ctx;

    s->field = REF_FIELD_NONE;

    if (s->depth == 2 && s->in_stream_options) {
        s->req->stream_options_empty = 0;

        if (len == 13 && memcmp(key, "include_usage", 13) == 0) {
            s->field = REF_FIELD_INCLUDE_USAGE;
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

        s->field = REF_FIELD_MODEL;

    } else if (len == 6 && memcmp(key, "stream", 6) == 0) {
        s->field = REF_FIELD_STREAM;

    } else if (len == 10 && memcmp(key, "max_tokens", 10) == 0) {
        s->field = REF_FIELD_MAX_TOKENS;
        s->max_tokens_from_completion = 0;

    } else if (len == 21 && memcmp(key, "max_completion_tokens", 21) == 0) {
        s->field = REF_FIELD_MAX_TOKENS;
        s->max_tokens_from_completion = 1;

    } else if (len == 6 && memcmp(key, "models", 6) == 0) {

        if (s->req->models_end) {
            s->status = TOKENROUTE_REQUEST_BAD_FIELD;
            s->req->bad_field = "models";
            return 0;
        }

        s->req->models_start = ref_token_start(s->body,
                                   yajl_get_bytes_consumed(s->handle));
        s->req->models_end = 1;
        s->field = REF_FIELD_MODELS;

    } else if (len == 14 && memcmp(key, "stream_options", 14) == 0) {

        if (s->req->stream_options) {
            s->status = TOKENROUTE_REQUEST_BAD_FIELD;
            s->req->bad_field = "stream_options";
            return 0;
        }

        s->field = REF_FIELD_STREAM_OPTIONS;
    }

    return 1;
}


static int
ref_scan_end_map(void *ctx)
{
    ref_scan_t  *s = ctx;

    if (s->depth == 2 && s->in_stream_options) {
        s->in_stream_options = 0;
        s->req->stream_options_end = yajl_get_bytes_consumed(s->handle) - 1;
    }

    s->depth--;
    s->field = REF_FIELD_NONE;

    return 1;
}


static int
ref_scan_start_array(void *ctx)
{
    ref_scan_t  *s = ctx;

    if (s->depth == 0) {
        s->status = TOKENROUTE_REQUEST_NOT_OBJECT;
        return 0;
    }

    if (s->field == REF_FIELD_MODELS) {
        s->in_models = 1;
        s->field = REF_FIELD_NONE;

    } else if (s->field != REF_FIELD_NONE) {
        return ref_scan_wrong_type(s);
    }

    /* arrays nest values we never look at: count them as depth */
    s->depth++;

    return 1;
}


static int
ref_scan_end_array(void *ctx)
{
    ref_scan_t  *s = ctx;

    if (s->in_models && s->depth == 2) {
        s->in_models = 0;
        s->req->models_end = yajl_get_bytes_consumed(s->handle);
    }

    s->depth--;
    s->field = REF_FIELD_NONE;

    return 1;
}


#endif /* _REQUEST_REF_H_INCLUDED_ */
