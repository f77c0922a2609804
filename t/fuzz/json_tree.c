
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the JSON tree's parser (src/tokenroute_json_tree.c)
 * against the yajl-based one it replaced (t/unit/ref/json_tree_ref.c):
 * the same verdict (valid, invalid, too deep) and, when valid, the same
 * tree (types, keys, strings and number texts byte for byte, parents).
 * Input: a flags byte (bit 0: strings checked for UTF-8; bits 1-3: the
 * depth limit, 0 none), then the text.  The tree is reused across runs,
 * as a stream reuses it event after event.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ref/json_tree_ref.c"

#include "fuzz.h"


static int same(tokenroute_json_node_t *a, tokenroute_json_node_t *b);


static tokenroute_json_tree_t  mine, theirs;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int    rc1, rc2;
    char  *text;

    if (size == 0) {
        return 0;
    }

    /* a copy of the exact length: a read past the end is caught */
    text = malloc(size - 1 ? size - 1 : 1);
    if (text == NULL) {
        return 0;
    }

    memcpy(text, data + 1, size - 1);

    mine.validate = theirs.validate = data[0] & 1;
    mine.max_depth = theirs.max_depth = (data[0] >> 1) & 7;

    rc1 = tokenroute_json_tree_parse(&mine, text, size - 1, NULL);
    rc2 = ref_json_tree_parse(&theirs, text, size - 1, NULL);

    fuzz_check(rc1 == rc2, "the verdict of yajl's tree");

    if (rc1 == 0) {
        fuzz_check(same(mine.root, theirs.root), "the tree of yajl's tree");
    }

    free(text);

    return 0;
}


static int
same(tokenroute_json_node_t *a, tokenroute_json_node_t *b)
{
    tokenroute_json_node_t  *x, *y;

    if (a->type != b->type || a->len != b->len
        || a->key_len != b->key_len
        || (a->key == NULL) != (b->key == NULL)
        || (a->str == NULL) != (b->str == NULL)
        || (a->key != NULL && memcmp(a->key, b->key, a->key_len + 1) != 0)
        || (a->str != NULL && memcmp(a->str, b->str, a->len + 1) != 0))
    {
        return 0;
    }

    for (x = a->first, y = b->first; x != NULL && y != NULL;
         x = x->next, y = y->next)
    {
        if (x->parent != a || !same(x, y)) {
            return 0;
        }
    }

    return x == NULL && y == NULL;
}
