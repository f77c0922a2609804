
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: what Vertex AI's provider reads from outside
 * (src/tokenroute_jwt.c, src/tokenroute_vertex.c).  The first byte picks
 * the function, the rest is its input:
 *
 *   0  tokenroute_oauth_parse(): the token endpoint's answer; a token it
 *      accepts fits its buffer, is printable ASCII without a space (it
 *      goes into a header) and has a positive lifetime
 *   1  tokenroute_sa_parse(): a key file; accepted, it has the three
 *      fields; refused, the reason never holds a byte of the key
 *   2  tokenroute_vertex_body(): a request body; rewritten, it is a JSON
 *      object whose first member is anthropic_version and that has no
 *      model
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_json_tree.h>
#include <tokenroute_jwt.h>
#include <tokenroute_vertex.h>

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      rc;
    char                    *out, err[128];
    size_t                   i, len;
    int64_t                  exp;
    const char              *p;
    tokenroute_sa_t          sa;
    tokenroute_json_tree_t   j;
    char                     token[64];

    if (size == 0) {
        return 0;
    }

    p = (const char *) data + 1;
    len = size - 1;

    switch (data[0] % 3) {

    case 0:
        rc = tokenroute_oauth_parse(p, len, token, sizeof(token), &exp);

        if (rc >= 0) {
            fuzz_check(rc > 0 && (size_t) rc < sizeof(token), "fits");
            fuzz_check(strlen(token) == (size_t) rc, "NUL-ended");
            fuzz_check(exp > 0, "a lifetime");

            for (i = 0; i < (size_t) rc; i++) {
                fuzz_check(token[i] > 0x20 && token[i] < 0x7f,
                           "a header's bytes");
            }
        }

        break;

    case 1:
        rc = tokenroute_sa_parse(p, len, &sa, err, sizeof(err));

        if (rc == 0) {
            fuzz_check(sa.client_email && sa.private_key && sa.token_uri,
                       "the three fields");
            tokenroute_sa_free(&sa);

        } else if (rc == -1) {
            fuzz_check(strstr(err, "SECRET") == NULL, "no key in a reason");
        }

        break;

    default:
        rc = tokenroute_vertex_body(p, len, &out, &len);

        if (rc == 0) {
            memset(&j, 0, sizeof(tokenroute_json_tree_t));

            fuzz_check(tokenroute_json_tree_parse(&j, out, len, NULL) == 0,
                       "JSON");
            fuzz_check(j.root->type == TOKENROUTE_JSON_T_MAP, "an object");
            fuzz_check(j.root->first != NULL
                       && strcmp(j.root->first->key, "anthropic_version")
                          == 0, "the version first");
            fuzz_check(tokenroute_json_get(j.root, "model") == NULL,
                       "no model");

            tokenroute_json_tree_free(&j);
            free(out);
        }

        break;
    }

    return 0;
}
