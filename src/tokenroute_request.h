
/*
 * Copyright (C) tokenroute authors
 *
 * Scans a chat request body (OpenAI or Anthropic shape) once with yajl's
 * callback parser and reports what routing needs: the top-level "model"
 * (and where its token sits, so the body can be rewritten by splicing),
 * "stream" and the output-token cap.  Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_REQUEST_H_INCLUDED_
#define _TOKENROUTE_REQUEST_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define TOKENROUTE_MODEL_MAX_LEN  256


typedef enum {
    TOKENROUTE_REQUEST_OK = 0,
    TOKENROUTE_REQUEST_INVALID_JSON,
    TOKENROUTE_REQUEST_NOT_OBJECT,
    TOKENROUTE_REQUEST_NO_MODEL,
    TOKENROUTE_REQUEST_BAD_MODEL,
    TOKENROUTE_REQUEST_BAD_FIELD,
    TOKENROUTE_REQUEST_NO_MEMORY
} tokenroute_request_status_e;


typedef struct {
    char        model[TOKENROUTE_MODEL_MAX_LEN + 1];
    size_t      model_len;

    /* byte span of the model's JSON string token, quotes included */
    size_t      model_start;
    size_t      model_end;

    int         stream;          /* 1 if "stream": true */
    int64_t     max_tokens;      /* -1 when absent */

    const char *bad_field;       /* for TOKENROUTE_REQUEST_BAD_FIELD */
} tokenroute_request_t;


tokenroute_request_status_e tokenroute_request_scan(const unsigned char *body,
    size_t len, tokenroute_request_t *req);
const char *tokenroute_request_strerror(tokenroute_request_status_e status);

/*
 * Writes body with the model token replaced by the JSON string "model"
 * into out (which must hold len - (model_end - model_start) + 2 + 6 *
 * model_len bytes); returns the length written.
 */
size_t tokenroute_request_rewrite_model(const unsigned char *body, size_t len,
    const tokenroute_request_t *req, const char *model, size_t model_len,
    unsigned char *out);
size_t tokenroute_request_rewrite_size(size_t len,
    const tokenroute_request_t *req, size_t model_len);


#endif /* _TOKENROUTE_REQUEST_H_INCLUDED_ */
