
/*
 * Copyright (C) tokenroute authors
 *
 * Azure OpenAI's request URIs, the part that is plain logic: the
 * deployments API ({base}/deployments/{deployment}/{endpoint}?api-version=V)
 * and the v1 API ({base}/{endpoint}[?api-version=V], the deployment in the
 * body).  Plain C: no nginx dependency
 * (src/ngx_http_tokenroute_provider_azure.c is the nginx side).
 */


#ifndef _TOKENROUTE_AZURE_H_INCLUDED_
#define _TOKENROUTE_AZURE_H_INCLUDED_


#include <stddef.h>


/* Azure's api-versions are dates ("2024-10-21", "2025-04-01-preview") or
 * words ("preview", "latest"): a bound well above them */
#define TOKENROUTE_AZURE_VERSION_MAX  64


/* 1: an api-version that can go in a query string as it is */
int tokenroute_azure_version_valid(const unsigned char *v, size_t len);

/* 1: a base path of the v1 API (it ends with "/v1") */
int tokenroute_azure_is_v1(const unsigned char *path, size_t len);

/* the most bytes tokenroute_azure_uri() writes for these lengths */
size_t tokenroute_azure_uri_size(size_t base_len, size_t deployment_len,
    size_t endpoint_len, size_t version_len);

/*
 * Writes the URI into out (tokenroute_azure_uri_size() bytes) and returns
 * its length.  v1: the deployment is not in the path.  The deployment is
 * percent-encoded but for RFC 3986's unreserved characters; version_len
 * 0: no query string.
 */
size_t tokenroute_azure_uri(unsigned char *out, int v1,
    const unsigned char *base, size_t base_len,
    const unsigned char *deployment, size_t deployment_len,
    const unsigned char *endpoint, size_t endpoint_len,
    const unsigned char *version, size_t version_len);


#endif /* _TOKENROUTE_AZURE_H_INCLUDED_ */
