
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for a provider url's base-URL rules
 * (src/tokenroute_base_url.c): the endpoints a base must not end with,
 * the known vendors' bases, Anthropic's /v1 appended.  Each input is
 * checked from a heap copy of its exact length, so that a sanitizer
 * build sees any read past the end.  Prints TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_base_url.h>

#include "tap.h"


typedef struct {
    int                          api;
    const char                  *host;
    const char                  *path;
    tokenroute_base_verdict_e    verdict;
    const char                  *fix;       /* out->path, when not OK */
    int                          append_v1;
} check_case_t;


typedef struct {
    const char  *url;
    size_t       len;
} plain_case_t;


#define OA  TOKENROUTE_API_OPENAI
#define AN  TOKENROUTE_API_ANTHROPIC
#define AZ  TOKENROUTE_API_AZURE

static check_case_t  check_cases[] = {
    { OA, "api.openai.com", "/v1", TOKENROUTE_BASE_OK, NULL, 0 },
    { OA, "API.OpenAI.com", "/V1", TOKENROUTE_BASE_OK, NULL, 0 },
    { OA, "api.openai.com", "", TOKENROUTE_BASE_VENDOR_PATH, "/v1", 0 },
    { OA, "api.openai.com", "/v2", TOKENROUTE_BASE_VENDOR_PATH, "/v1", 0 },
    { OA, "api.openai.com", "/v1/chat/completions",
      TOKENROUTE_BASE_ENDPOINT, "/v1", 0 },
    { OA, "api.openai.com", "/v1/completions",
      TOKENROUTE_BASE_ENDPOINT, "/v1", 0 },
    { OA, "api.openai.com", "/v1/responses",
      TOKENROUTE_BASE_ENDPOINT, "/v1", 0 },
    { OA, "api.openai.com", "/v1/models", TOKENROUTE_BASE_ENDPOINT, "/v1", 0 },
    { OA, "api.openai.com", "/v1/Embeddings",
      TOKENROUTE_BASE_ENDPOINT, "/v1", 0 },
    { OA, "h", "/chat/completions", TOKENROUTE_BASE_ENDPOINT, "", 0 },
    { OA, "h", "/x/v1/messages/count_tokens",
      TOKENROUTE_BASE_ENDPOINT, "/x/v1", 0 },
    { OA, "generativelanguage.googleapis.com", "/v1beta/openai",
      TOKENROUTE_BASE_OK, NULL, 0 },
    { OA, "generativelanguage.googleapis.com", "/v1beta",
      TOKENROUTE_BASE_VENDOR_PATH, "/v1beta/openai", 0 },
    { OA, "api.anthropic.com", "/v1", TOKENROUTE_BASE_OK, NULL, 0 },
    { OA, "api.anthropic.com", "", TOKENROUTE_BASE_VENDOR_PATH, "/v1", 0 },
    { OA, "localhost", "", TOKENROUTE_BASE_OK, NULL, 0 },
    { OA, "vllm.internal", "/v1", TOKENROUTE_BASE_OK, NULL, 0 },
    { AN, "api.anthropic.com", "", TOKENROUTE_BASE_OK, NULL, 1 },
    { AN, "api.anthropic.com", "/v1", TOKENROUTE_BASE_OK, NULL, 0 },
    { AN, "api.anthropic.com", "/v2", TOKENROUTE_BASE_VENDOR_PATH, "", 0 },
    { AN, "api.anthropic.com", "/v1/messages",
      TOKENROUTE_BASE_ENDPOINT, "/v1", 0 },
    { AN, "api.openai.com", "/v1", TOKENROUTE_BASE_VENDOR_TYPE, "/v1", 0 },
    { AN, "generativelanguage.googleapis.com", "/v1beta/openai",
      TOKENROUTE_BASE_VENDOR_TYPE, "/v1beta/openai", 0 },
    { AN, "proxy.local", "", TOKENROUTE_BASE_OK, NULL, 1 },
    { AN, "proxy.local", "/anthropic", TOKENROUTE_BASE_OK, NULL, 1 },
    { AN, "proxy.local", "/anthropic/v1", TOKENROUTE_BASE_OK, NULL, 0 },
    { AN, "h", "/v", TOKENROUTE_BASE_OK, NULL, 1 },

    /* Azure OpenAI: type=azure only, its base "/openai" or "/openai/v1" */
    { AZ, "res.openai.azure.com", "/openai", TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "RES.OpenAI.Azure.com", "/OpenAI/V1", TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "res.cognitiveservices.azure.com", "/openai/v1",
      TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "res.openai.azure.com", "", TOKENROUTE_BASE_VENDOR_PATH,
      "/openai", 0 },
    { AZ, "res.openai.azure.com", "/v1", TOKENROUTE_BASE_VENDOR_PATH,
      "/openai", 0 },
    { AZ, "res.openai.azure.com", "/openai/v2", TOKENROUTE_BASE_VENDOR_PATH,
      "/openai", 0 },
    { AZ, "res.openai.azure.com", "/openai/deployments/gpt-4o",
      TOKENROUTE_BASE_VENDOR_PATH, "/openai", 0 },
    { AZ, "res.openai.azure.com",
      "/openai/deployments/gpt-4o/chat/completions",
      TOKENROUTE_BASE_VENDOR_PATH, "/openai", 0 },
    { AZ, "res.openai.azure.com", "/openai/Deployments",
      TOKENROUTE_BASE_VENDOR_PATH, "/openai", 0 },
    { AZ, "res.openai.azure.com", "/openai/v1/chat/completions",
      TOKENROUTE_BASE_ENDPOINT, "/openai/v1", 0 },
    { AZ, "apim.example.com", "/az/openai/deployments",
      TOKENROUTE_BASE_VENDOR_PATH, "/az/openai", 0 },
    { AZ, "apim.example.com", "/az/openai/deploymentsx",
      TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "apim.example.com", "/anything", TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "127.0.0.1", "/openai", TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "openai.azure.com", "/x", TOKENROUTE_BASE_OK, NULL, 0 },
    { AZ, "api.openai.com", "/v1", TOKENROUTE_BASE_VENDOR_TYPE, "/v1", 0 },
    { OA, "res.openai.azure.com", "/openai/v1", TOKENROUTE_BASE_AZURE_TYPE,
      "/openai", 0 },
    { OA, "res.cognitiveservices.azure.com", "/openai",
      TOKENROUTE_BASE_AZURE_TYPE, "/openai", 0 },
    { AN, "res.openai.azure.com", "/openai", TOKENROUTE_BASE_AZURE_TYPE,
      "/openai", 0 },
    { OA, "openai.azure.com.evil.example", "/v1", TOKENROUTE_BASE_OK, NULL,
      0 },
};


static plain_case_t  plain_cases[] = {
    { "https://api.openai.com/v1", 25 },
    { "https://api.openai.com/v1?x=1", 25 },
    { "https://api.openai.com/v1/?x=1", 25 },
    { "https://api.anthropic.com/#x", 25 },
    { "https://h/a#b?c", 11 },
    { "?", 0 },
    { "", 0 },
};


int
main(void)
{
    size_t              i, len;
    unsigned char      *host, *path, *url;
    tokenroute_base_t   out;

    for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        check_case_t  *c = &check_cases[i];

        host = malloc(strlen(c->host) + 1);
        path = malloc(strlen(c->path) + 1);
        if (host == NULL || path == NULL) {
            return 2;
        }

        memcpy(host, c->host, strlen(c->host));
        memcpy(path, c->path, strlen(c->path));

        tokenroute_base_check(c->api, host, strlen(c->host), path,
                              strlen(c->path), &out);

        ok(out.verdict == c->verdict, "%s %s \"%s\": verdict %d",
           c->api == OA ? "openai" : c->api == AN ? "anthropic" : "azure",
           c->host, c->path,
           (int) out.verdict);

        if (c->fix) {
            ok(out.path_len == strlen(c->fix)
               && memcmp(out.path, c->fix, out.path_len) == 0,
               "%s \"%s\": write \"%.*s\"", c->host, c->path,
               (int) out.path_len, out.path ? out.path : "");
        }

        ok(out.append_v1 == c->append_v1, "%s \"%s\": append /v1 %d",
           c->host, c->path, out.append_v1);

        free(host);
        free(path);
    }

    for (i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
        len = strlen(plain_cases[i].url);

        url = malloc(len + 1);
        if (url == NULL) {
            return 2;
        }

        memcpy(url, plain_cases[i].url, len);

        ok(tokenroute_base_plain(url, len) == plain_cases[i].len,
           "plain \"%s\": %zu", plain_cases[i].url,
           tokenroute_base_plain(url, len));

        free(url);
    }

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
