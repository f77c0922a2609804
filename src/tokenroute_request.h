
/*
 * Copyright (C) tokenroute authors
 *
 * Scans a chat request body (OpenAI or Anthropic shape) once with a
 * validating JSON tokenizer (tokenroute_json_scan.c) and reports what
 * routing needs: the top-level "model" (and where its token sits, so the
 * body can be rewritten by splicing), "stream", the output-token cap,
 * "stream_options" and a "models" fallback chain.  Plain C: no nginx
 * dependency.
 */


#ifndef _TOKENROUTE_REQUEST_H_INCLUDED_
#define _TOKENROUTE_REQUEST_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define TOKENROUTE_MODEL_MAX_LEN  256

/*
 * The largest max_tokens / max_completion_tokens the gateway takes: no
 * model writes a billion tokens, and with it every reservation and charge
 * stays far from overflowing
 */
#define TOKENROUTE_MAX_TOKENS_LIMIT  1000000000

/* a request's own fallback chain ("models": [...]) holds at most this */
#define TOKENROUTE_CHAIN_MAX      8


typedef enum {
    TOKENROUTE_REQUEST_OK = 0,
    TOKENROUTE_REQUEST_INVALID_JSON,
    TOKENROUTE_REQUEST_NOT_OBJECT,
    TOKENROUTE_REQUEST_NO_MODEL,
    TOKENROUTE_REQUEST_BAD_MODEL,
    TOKENROUTE_REQUEST_BAD_FIELD,
    TOKENROUTE_REQUEST_NO_MEMORY,

    /* not the scan's: max_tokens above TOKENROUTE_MAX_TOKENS_LIMIT */
    TOKENROUTE_REQUEST_BIG_MAX_TOKENS
} tokenroute_request_status_e;


typedef struct {
    char        model[TOKENROUTE_MODEL_MAX_LEN + 1];
    size_t      model_len;

    /* byte span of the model's JSON string token, quotes included */
    size_t      model_start;
    size_t      model_end;

    int         stream;          /* 1 if "stream": true */
    int64_t     max_tokens;      /* -1 when absent */

    /* where "stream_options" can be made to ask for usage */
    size_t      object_start;    /* just past the top-level '{' */
    int         include_usage;   /* stream_options.include_usage: -1, 0, 1 */
    int         stream_options;  /* 0 absent, 1 an object, 2 null */
    int         stream_options_empty;
    size_t      stream_options_start;  /* the null token, if null */
    size_t      stream_options_end;    /* its '}' if an object, else null end */

    /* OpenRouter-style "models": [...]: removed from what is sent on */
    int         nmodels;
    size_t      models_start;    /* the key's opening quote */
    size_t      models_end;      /* just past the array's ']' */

    const char *bad_field;       /* for TOKENROUTE_REQUEST_BAD_FIELD */

    /*
     * last, so that a caller reading the names right after the scan can
     * keep the rest without them (2K): the gateway's request context does
     */
    char        models[TOKENROUTE_CHAIN_MAX][TOKENROUTE_MODEL_MAX_LEN + 1];
} tokenroute_request_t;


/*
 * Sets every field of req but the character arrays: model is a C string
 * ("" until a model is accepted) of model_len bytes, models[i] is one for
 * i < nmodels, and their other bytes are left as they were (the whole
 * struct is 2.3K, mostly models[], and the scan runs for every request).
 * After an error status, the fields read before the error keep what they
 * read; bad_field names the field for TOKENROUTE_REQUEST_BAD_FIELD.  The
 * first problem in the text decides the status; JSON is checked as
 * tokenroute_json_scan.h says.
 */
tokenroute_request_status_e tokenroute_request_scan(const unsigned char *body,
    size_t len, tokenroute_request_t *req);
const char *tokenroute_request_strerror(tokenroute_request_status_e status);

/*
 * 1 if the path names an Anthropic endpoint: "/messages" is in it before
 * any NUL byte (as ngx_strnstr() finds it), 0 otherwise.
 */
int tokenroute_request_anthropic_path(const unsigned char *path,
    size_t len);

typedef struct {
    const char *model;           /* the upstream model id */
    size_t      model_len;
    int         include_usage;   /* make stream_options.include_usage true */
    int         drop_models;     /* remove the "models" member */
} tokenroute_rewrite_t;


/*
 * Writes the body with the edits of rw applied into out, which must hold
 * tokenroute_request_rewrite_size() bytes; returns the length written.
 * Bytes outside the edits are copied unchanged.
 */
size_t tokenroute_request_rewrite_size(size_t len,
    const tokenroute_request_t *req, const tokenroute_rewrite_t *rw);
size_t tokenroute_request_rewrite(const unsigned char *body, size_t len,
    const tokenroute_request_t *req, const tokenroute_rewrite_t *rw,
    unsigned char *out);


#endif /* _TOKENROUTE_REQUEST_H_INCLUDED_ */
