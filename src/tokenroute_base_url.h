
/*
 * Copyright (C) tokenroute authors
 *
 * A provider url's base-URL rules, the part that is plain logic: a url
 * is its vendor's API base as the vendor's SDK takes it, never an
 * endpoint.  Plain C: no nginx dependency
 * (src/ngx_http_tokenroute_upstream_url.c parses the url and logs).
 */


#ifndef _TOKENROUTE_BASE_URL_H_INCLUDED_
#define _TOKENROUTE_BASE_URL_H_INCLUDED_


#include <stddef.h>


/* the API a provider speaks (NGX_HTTP_TOKENROUTE_PROVIDER_* values) */
#define TOKENROUTE_API_OPENAI      1
#define TOKENROUTE_API_ANTHROPIC   2
#define TOKENROUTE_API_AZURE       3


typedef enum {
    TOKENROUTE_BASE_OK = 0,
    TOKENROUTE_BASE_ENDPOINT,       /* the path ends with an endpoint */
    TOKENROUTE_BASE_VENDOR_PATH,    /* a known host's base is another */
    TOKENROUTE_BASE_VENDOR_TYPE,    /* a known host speaks another API */
    TOKENROUTE_BASE_AZURE_TYPE      /* an Azure OpenAI host: type=azure */
} tokenroute_base_verdict_e;


typedef struct {
    tokenroute_base_verdict_e   verdict;
    const char                 *path;      /* the base path to write */
    size_t                      path_len;
    int                         append_v1; /* OK, Anthropic: add "/v1" */
} tokenroute_base_t;


/*
 * The length of a url before its query string or fragment ('?' or '#'),
 * trailing slashes dropped; len when it has neither.
 */
size_t tokenroute_base_plain(const unsigned char *url, size_t len);

/*
 * The verdict on a base: api is TOKENROUTE_API_*, host the url's host
 * name (no port), path its path without trailing slashes.  ENDPOINT:
 * out->path is path without the endpoint; VENDOR_PATH and VENDOR_TYPE:
 * out->path is the vendor's OpenAI-compatible base path (for
 * Anthropic's own base: none, path_len 0).  Azure OpenAI hosts
 * (*.openai.azure.com, *.cognitiveservices.azure.com) take type=azure
 * only (AZURE_TYPE) and the base "/openai" or "/openai/v1"; a type=azure
 * url naming a deployment (".../deployments/NAME") is a VENDOR_PATH whose
 * out->path is the part before "/deployments".
 */
void tokenroute_base_check(int api, const unsigned char *host,
    size_t host_len, const unsigned char *path, size_t path_len,
    tokenroute_base_t *out);


#endif /* _TOKENROUTE_BASE_URL_H_INCLUDED_ */
