
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for Azure OpenAI's request URIs (src/tokenroute_azure.c):
 * the deployments API and the v1 API, a deployment name percent-encoded,
 * the api-version's characters.  Each input is a heap copy of its exact
 * length, so that a sanitizer build sees any read past the end.  Prints
 * TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_azure.h>

#include "tap.h"


typedef struct {
    int          v1;
    const char  *base;
    const char  *deployment;
    const char  *endpoint;
    const char  *version;
    const char  *uri;
} uri_case_t;


typedef struct {
    const char  *version;
    int          valid;
} version_case_t;


static uri_case_t  uri_cases[] = {
    { 0, "/openai", "gpt-4o", "/chat/completions", "2024-10-21",
      "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21" },
    { 0, "/openai", "text-embed", "/embeddings", "2025-04-01-preview",
      "/openai/deployments/text-embed/embeddings"
      "?api-version=2025-04-01-preview" },
    { 0, "/gw/openai", "a.b_c~d-e", "/chat/completions", "v",
      "/gw/openai/deployments/a.b_c~d-e/chat/completions?api-version=v" },
    { 0, "/openai", "a/b?c d%", "/chat/completions", "1",
      "/openai/deployments/a%2Fb%3Fc%20d%25/chat/completions"
      "?api-version=1" },
    { 0, "/openai", "\xc3\xa9\xff", "/embeddings", "1",
      "/openai/deployments/%C3%A9%FF/embeddings?api-version=1" },
    { 1, "/openai/v1", "gpt-4o", "/chat/completions", "",
      "/openai/v1/chat/completions" },
    { 1, "/openai/v1", "a/b", "/chat/completions", "preview",
      "/openai/v1/chat/completions?api-version=preview" },
    { 1, "", "x", "/embeddings", "", "/embeddings" },
};


static version_case_t  version_cases[] = {
    { "2024-10-21", 1 },
    { "2025-04-01-preview", 1 },
    { "preview", 1 },
    { "v1.0", 1 },
    { "", 0 },
    { "2024-10-21&x=1", 0 },
    { "2024 10 21", 0 },
    { "2024/10", 0 },
    { "a#b", 0 },
    { "%41", 0 },
    { "0123456789012345678901234567890123456789012345678901234567890123",
      1 },
    { "01234567890123456789012345678901234567890123456789012345678901234",
      0 },
};


static unsigned char *
copy(const char *s)
{
    unsigned char  *p;

    p = malloc(strlen(s) + 1);
    if (p == NULL) {
        exit(2);
    }

    memcpy(p, s, strlen(s));

    return p;
}


int
main(void)
{
    size_t          i, n, size, len;
    unsigned char  *base, *dep, *ep, *ver, *out;

    for (i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
        uri_case_t  *c = &uri_cases[i];

        base = copy(c->base);
        dep = copy(c->deployment);
        ep = copy(c->endpoint);
        ver = copy(c->version);

        size = tokenroute_azure_uri_size(strlen(c->base),
                                         strlen(c->deployment),
                                         strlen(c->endpoint),
                                         strlen(c->version));

        out = malloc(size);
        if (out == NULL) {
            return 2;
        }

        len = tokenroute_azure_uri(out, c->v1, base, strlen(c->base), dep,
                                   strlen(c->deployment), ep,
                                   strlen(c->endpoint), ver,
                                   strlen(c->version));

        ok(len <= size && len == strlen(c->uri)
           && memcmp(out, c->uri, len) == 0,
           "uri %zu: \"%.*s\"", i, (int) len, out);

        free(base);
        free(dep);
        free(ep);
        free(ver);
        free(out);
    }

    for (i = 0; i < sizeof(version_cases) / sizeof(version_cases[0]); i++) {
        n = strlen(version_cases[i].version);
        ver = copy(version_cases[i].version);

        ok(tokenroute_azure_version_valid(ver, n) == version_cases[i].valid,
           "api-version \"%s\": %d", version_cases[i].version,
           version_cases[i].valid);

        free(ver);
    }

    ver = copy("/openai/v1");
    ok(tokenroute_azure_is_v1(ver, 10), "/openai/v1 is the v1 API");
    ok(!tokenroute_azure_is_v1(ver, 7), "/openai is not");
    ok(!tokenroute_azure_is_v1(ver, 2), "a short path is not");
    free(ver);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
