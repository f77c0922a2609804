
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


/* Azure OpenAI resources: RESOURCE followed by one of these */
static const char  *tokenroute_azure_hosts[] = {
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    NULL
};


static int tokenroute_base_azure_host(const unsigned char *host,
    size_t host_len);
static int tokenroute_base_azure(int api, const unsigned char *host,
    size_t host_len, const unsigned char *path, size_t path_len,
    tokenroute_base_t *out);


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

    if (tokenroute_base_azure(api, host, host_len, path, path_len, out)) {
        return;
    }

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

        if (api == TOKENROUTE_API_AZURE) {
            out->verdict = TOKENROUTE_BASE_VENDOR_TYPE;
            out->path = v->openai;
            out->path_len = n;
            return;
        }

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


static int
tokenroute_base_azure_host(const unsigned char *host, size_t host_len)
{
    size_t        n;
    const char  **h;

    for (h = tokenroute_azure_hosts; *h; h++) {
        n = strlen(*h);

        /* a resource name before the suffix */

        if (host_len > n
            && strncasecmp((const char *) host + host_len - n, *h, n) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The Azure rules, before the generic ones: returns 1 with a verdict set,
 * 0 when the generic rules decide (endpoints, other hosts).
 */

static int
tokenroute_base_azure(int api, const unsigned char *host, size_t host_len,
    const unsigned char *path, size_t path_len, tokenroute_base_t *out)
{
    size_t  i, n;
    int     azure_host;

    azure_host = tokenroute_base_azure_host(host, host_len);

    if (api != TOKENROUTE_API_AZURE) {
        if (!azure_host) {
            return 0;
        }

        out->verdict = TOKENROUTE_BASE_AZURE_TYPE;
        out->path = "/openai";
        out->path_len = sizeof("/openai") - 1;
        return 1;
    }

    /* ".../deployments/NAME/...": the deployment comes from the model */

    for (i = 0; i + 12 <= path_len; i++) {
        if (strncasecmp((const char *) path + i, "/deployments", 12) == 0
            && (i + 12 == path_len || path[i + 12] == '/'))
        {
            out->verdict = TOKENROUTE_BASE_VENDOR_PATH;
            out->path = (const char *) path;
            out->path_len = i;
            return 1;
        }
    }

    if (!azure_host) {
        return 0;
    }

    if ((path_len == 7 && strncasecmp((const char *) path, "/openai", 7) == 0)
        || (path_len == 10
            && strncasecmp((const char *) path, "/openai/v1", 10) == 0))
    {
        return 1;
    }

    for (i = 0; tokenroute_endpoints[i]; i++) {
        /* an endpoint's own message is clearer: the generic rules */
        n = strlen(tokenroute_endpoints[i]);

        if (path_len >= n
            && strncasecmp((const char *) path + path_len - n,
                           tokenroute_endpoints[i], n) == 0)
        {
            return 0;
        }
    }

    out->verdict = TOKENROUTE_BASE_VENDOR_PATH;
    out->path = "/openai";
    out->path_len = sizeof("/openai") - 1;

    return 1;
}
