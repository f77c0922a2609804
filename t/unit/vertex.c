
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the body Claude on Vertex AI takes
 * (src/tokenroute_vertex.c).  Prints TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_vertex.h>

#include "tap.h"


static void
check(const char *in, const char *want, const char *name)
{
    int      rc;
    char    *out;
    size_t   len;

    out = NULL;
    rc = tokenroute_vertex_body(in, strlen(in), &out, &len);

    if (want == NULL) {
        ok(rc == -1, "%s: refused", name);
        free(out);
        return;
    }

    ok(rc == 0 && len == strlen(want) && memcmp(out, want, len) == 0,
       "%s: %.*s", name, rc == 0 ? (int) len : 0, rc == 0 ? out : "");

    free(out);
}


int
main(void)
{
    check("{\"model\":\"claude-haiku-4-5@20251001\",\"max_tokens\":16,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":16,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "model dropped, version first");

    check("{\"stream\":true,\"anthropic_version\":\"bedrock-2023-05-31\","
          "\"model\":\"m\",\"temperature\":0.70,\"x\":1e3}",
          "{\"anthropic_version\":\"vertex-2023-10-16\",\"stream\":true,"
          "\"temperature\":0.70,\"x\":1e3}",
          "a client's version replaced, numbers as written");

    check("{\"system\":\"\\u00e9\\\"\\n\",\"metadata\":{\"user_id\":\"u\"}}",
          "{\"anthropic_version\":\"vertex-2023-10-16\",\"system\":\"\xc3\xa9"
          "\\\"\\n\",\"metadata\":{\"user_id\":\"u\"}}",
          "strings re-escaped, nested objects kept");

    check("{}", "{\"anthropic_version\":\"vertex-2023-10-16\"}", "empty");
    check("[1,2]", NULL, "an array");
    check("{\"model\":", NULL, "cut JSON");

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
