
/*
 * Copyright (C) tokenroute authors
 *
 * Translation between the OpenAI Chat Completions and the Anthropic
 * Messages shapes, for clients whose shape differs from their provider's.
 * Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_TRANSLATE_H_INCLUDED_
#define _TOKENROUTE_TRANSLATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "tokenroute_usage.h"     /* TOKENROUTE_SHAPE_OPENAI, _ANTHROPIC */


/*
 * Request bodies (src/tokenroute_translate.c, which names the files
 * it uses)
 */

/* an err buffer this size holds any message in full */
#define TOKENROUTE_TRANSLATE_ERR_SIZE  256


typedef struct {
    const char  *model;               /* upstream model id for "model" */
    size_t       model_len;

    /*
     * Anthropic requires max_tokens: used when an OpenAI request has
     * neither max_tokens nor max_completion_tokens
     */
    int64_t      default_max_tokens;

    /* OpenAI target and "stream": true: ask for stream_options usage */
    int          include_usage;
} tokenroute_translate_opts_t;


/*
 * Translates a request body from the client's shape (from) to the
 * provider's (to), both TOKENROUTE_API_*; from == to only replaces the
 * model (and applies include_usage).  Returns 0 with the new body in *out
 * (malloc()ed, the caller frees it) and *out_len; -1 if the request cannot
 * be translated, with a NUL-terminated message naming the field in err
 * (for a 400 response); -3 (with a message) if the body is not JSON text,
 * invalid UTF-8 included; -2 if out of memory.  If opts->model is NULL the
 * body's own "model" is kept.
 */
int tokenroute_translate_request(int from, int to, const unsigned char *body,
    size_t len, const tokenroute_translate_opts_t *opts, unsigned char **out,
    size_t *out_len, char *err, size_t err_size);


#endif /* _TOKENROUTE_TRANSLATE_H_INCLUDED_ */
