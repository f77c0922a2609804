
/*
 * Copyright (C) tokenroute authors
 *
 * The body Claude on Vertex AI takes (tokenroute_vertex.h).
 */


#include <stdlib.h>
#include <string.h>

#include "tokenroute_json_out.h"
#include "tokenroute_json_tree.h"
#include "tokenroute_vertex.h"


int
tokenroute_vertex_body(const char *in, size_t len, char **out,
    size_t *out_len)
{
    int                      rc;
    tokenroute_json_buf_t    b;
    tokenroute_json_node_t  *n;
    tokenroute_json_tree_t   j;

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    memset(&b, 0, sizeof(tokenroute_json_buf_t));

    rc = tokenroute_json_tree_parse(&j, in, len, NULL);

    if (rc != 0 || j.root == NULL || j.root->type != TOKENROUTE_JSON_T_MAP) {
        tokenroute_json_tree_free(&j);
        return (rc == -2) ? -2 : -1;
    }

    if (tokenroute_json_reserve(&b, len + 64) != 0) {
        tokenroute_json_tree_free(&j);
        return -2;
    }

    tokenroute_json_add(&b, "{\"anthropic_version\":\"",
                        sizeof("{\"anthropic_version\":\"") - 1);
    tokenroute_json_add(&b, TOKENROUTE_VERTEX_VERSION "\"",
                        sizeof(TOKENROUTE_VERTEX_VERSION "\"") - 1);

    for (n = j.root->first; n; n = n->next) {
        if ((n->key_len == 5 && memcmp(n->key, "model", 5) == 0)
            || (n->key_len == 17
                && memcmp(n->key, "anthropic_version", 17) == 0))
        {
            continue;
        }

        tokenroute_json_add(&b, ",", 1);
        tokenroute_json_add_str(&b, n->key, n->key_len);
        tokenroute_json_add(&b, ":", 1);
        tokenroute_json_tree_write(&b, n);
    }

    tokenroute_json_add(&b, "}", 1);

    tokenroute_json_tree_free(&j);

    if (b.failed) {
        tokenroute_json_buf_free(&b);
        return -2;
    }

    *out = b.data;
    *out_len = b.len;

    return 0;
}
