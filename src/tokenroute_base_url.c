
/*
 * Copyright (C) tokenroute authors
 *
 * A provider url's base-URL rules (see tokenroute_base_url.h): the
 * endpoints a base must not end with, and the bases of the vendors whose
 * hosts are known.
 */


#include <string.h>
#include <strings.h>

#include "tokenroute_base_url.h"


typedef struct {
    const char  *host;
    int          api;       /* the API the host speaks at its own base */
    const char  *openai;    /* its OpenAI-compatible base path */
} tokenroute_vendor_t;


/* the longer first where one ends another ("/chat/completions") */
static const char  *tokenroute_endpoints[] = {
    "/chat/completions",
    "/completions",
    "/messages/count_tokens",
    "/messages",
    "/responses",
    "/embeddings",
    "/models",
    NULL
};


static const tokenroute_vendor_t  tokenroute_vendors[] = {
    { "api.openai.com", TOKENROUTE_API_OPENAI, "/v1" },
    { "generativelanguage.googleapis.com", TOKENROUTE_API_OPENAI,
      "/v1beta/openai" },
    { "api.anthropic.com", TOKENROUTE_API_ANTHROPIC, "/v1" },
    { NULL, 0, NULL }
};


size_t
tokenroute_base_plain(const unsigned char *url, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (url[i] == '?' || url[i] == '#') {
            break;
        }
    }

    if (i == len) {
        return len;
    }

    while (i > 0 && url[i - 1] == '/') {
        i--;
    }

    return i;
}


void
tokenroute_base_check(int api, const unsigned char *host, size_t host_len,
    const unsigned char *path, size_t path_len, tokenroute_base_t *out)
{
    size_t                      n;
    const char                **e;
    const tokenroute_vendor_t  *v;

    memset(out, 0, sizeof(tokenroute_base_t));

    for (e = tokenroute_endpoints; *e; e++) {
        n = strlen(*e);

        if (path_len >= n
            && strncasecmp((const char *) path + path_len - n, *e, n) == 0)
        {
            out->verdict = TOKENROUTE_BASE_ENDPOINT;
            out->path = (const char *) path;
            out->path_len = path_len - n;
            return;
        }
    }

    for (v = tokenroute_vendors; v->host; v++) {
        if (host_len == strlen(v->host)
            && strncasecmp((const char *) host, v->host, host_len) == 0)
        {
            break;
        }
    }

    if (v->host) {
        n = strlen(v->openai);

        if (api == TOKENROUTE_API_ANTHROPIC
            && v->api != TOKENROUTE_API_ANTHROPIC)
        {
            out->verdict = TOKENROUTE_BASE_VENDOR_TYPE;
            out->path = v->openai;
            out->path_len = n;
            return;
        }

        if (api == TOKENROUTE_API_OPENAI
            && (path_len != n
                || strncasecmp((const char *) path, v->openai, n) != 0))
        {
            out->verdict = TOKENROUTE_BASE_VENDOR_PATH;
            out->path = v->openai;
            out->path_len = n;
            return;
        }

        if (api == TOKENROUTE_API_ANTHROPIC
            && path_len != 0
            && (path_len != 3 || strncmp((const char *) path, "/v1", 3) != 0))
        {
            out->verdict = TOKENROUTE_BASE_VENDOR_PATH;
            out->path = "";
            return;
        }
    }

    /* the Anthropic SDK's base has no version: it is appended */

    out->append_v1 = (api == TOKENROUTE_API_ANTHROPIC
                      && (path_len < 3
                          || strncmp((const char *) path + path_len - 3,
                                     "/v1", 3)
                             != 0));
}
