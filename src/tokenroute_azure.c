
/*
 * Copyright (C) tokenroute authors
 *
 * Azure OpenAI's request URIs (see tokenroute_azure.h).
 */


#include <string.h>

#include "tokenroute_azure.h"


#define TOKENROUTE_AZURE_DEPLOYMENTS  "/deployments/"
#define TOKENROUTE_AZURE_QUERY        "?api-version="


static int tokenroute_azure_unreserved(unsigned char c);


int
tokenroute_azure_version_valid(const unsigned char *v, size_t len)
{
    size_t  i;

    if (len == 0 || len > TOKENROUTE_AZURE_VERSION_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z')
              || (v[i] >= 'A' && v[i] <= 'Z') || v[i] == '-' || v[i] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


int
tokenroute_azure_is_v1(const unsigned char *path, size_t len)
{
    return len >= 3 && memcmp(path + len - 3, "/v1", 3) == 0;
}


size_t
tokenroute_azure_uri_size(size_t base_len, size_t deployment_len,
    size_t endpoint_len, size_t version_len)
{
    return base_len + sizeof(TOKENROUTE_AZURE_DEPLOYMENTS) - 1
           + 3 * deployment_len + endpoint_len
           + sizeof(TOKENROUTE_AZURE_QUERY) - 1 + version_len;
}


size_t
tokenroute_azure_uri(unsigned char *out, int v1, const unsigned char *base,
    size_t base_len, const unsigned char *deployment, size_t deployment_len,
    const unsigned char *endpoint, size_t endpoint_len,
    const unsigned char *version, size_t version_len)
{
    size_t                i;
    unsigned char        *p;
    static const char     hex[] = "0123456789ABCDEF";

    p = out;

    memcpy(p, base, base_len);
    p += base_len;

    if (!v1) {
        memcpy(p, TOKENROUTE_AZURE_DEPLOYMENTS,
               sizeof(TOKENROUTE_AZURE_DEPLOYMENTS) - 1);
        p += sizeof(TOKENROUTE_AZURE_DEPLOYMENTS) - 1;

        /* a name is the operator's: "/" or "?" in it must not move it */

        for (i = 0; i < deployment_len; i++) {
            if (tokenroute_azure_unreserved(deployment[i])) {
                *p++ = deployment[i];

            } else {
                *p++ = '%';
                *p++ = hex[deployment[i] >> 4];
                *p++ = hex[deployment[i] & 0x0f];
            }
        }
    }

    memcpy(p, endpoint, endpoint_len);
    p += endpoint_len;

    if (version_len) {
        memcpy(p, TOKENROUTE_AZURE_QUERY, sizeof(TOKENROUTE_AZURE_QUERY) - 1);
        p += sizeof(TOKENROUTE_AZURE_QUERY) - 1;
        memcpy(p, version, version_len);
        p += version_len;
    }

    return p - out;
}


static int
tokenroute_azure_unreserved(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_'
           || c == '~';
}
