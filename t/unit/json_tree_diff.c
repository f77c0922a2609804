
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the JSON tree's parser (src/tokenroute_json_tree.c)
 * against the yajl-based one it replaced (t/unit/ref/json_tree_ref.c):
 * generated and mutated texts, strings checked for UTF-8 or not, depth
 * limited or not, must get the same verdict (valid, invalid, too deep)
 * and, when valid, the same tree: types, keys, strings and number texts
 * byte for byte.  Each text is parsed from a heap copy of its exact
 * length, so that a sanitizer build sees any read past the end.
 * TOKENROUTE_FUZZ_ROUNDS and TOKENROUTE_FUZZ_SEED change the run.  Prints
 * TAP.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/json_tree_ref.c"

#include "json_gen.h"
#include "tap.h"


static void dump(buf_t *b, tokenroute_json_node_t *n);


int
main(void)
{
    int                      rounds, r, i, n, mine, theirs, variant;
    int                      bad_verdict, bad_tree, verdicts[4];
    char                    *env, *copy;
    buf_t                    b, t1, t2;
    tokenroute_json_tree_t   j1, j2;

    env = getenv("TOKENROUTE_FUZZ_ROUNDS");
    rounds = env ? atoi(env) : 200000;

    env = getenv("TOKENROUTE_FUZZ_SEED");
    if (env) {
        seed = strtoull(env, NULL, 0) | 1;
    }

    printf("# seed %#llx, %d rounds\n", (unsigned long long) seed, rounds);

    memset(&b, 0, sizeof(buf_t));
    memset(&t1, 0, sizeof(buf_t));
    memset(&t2, 0, sizeof(buf_t));
    memset(&j1, 0, sizeof(tokenroute_json_tree_t));
    memset(&j2, 0, sizeof(tokenroute_json_tree_t));
    memset(verdicts, 0, sizeof(verdicts));

    bad_verdict = 0;
    bad_tree = 0;

    for (r = 0; r < rounds; r++) {
        b.len = 0;

        gen_space(&b);
        gen_value(&b, 0);
        gen_space(&b);

        if (rnd(6) == 0) {
            gen_tail(&b);
        }

        n = rnd(7);

        for (i = 0; i < n - 3; i++) {
            mutate(&b);
        }

        copy = malloc(b.len ? b.len : 1);
        if (copy == NULL) {
            return 2;
        }

        memcpy(copy, b.data, b.len);

        /* the trees are reused from round to round, as a stream does */

        variant = rnd(4);
        j1.validate = j2.validate = variant & 1;
        j1.max_depth = j2.max_depth = (variant & 2) ? 1 + rnd(6) : 0;

        mine = tokenroute_json_tree_parse(&j1, copy, b.len, NULL);
        theirs = ref_json_tree_parse(&j2, copy, b.len, NULL);

        verdicts[-theirs]++;

        if (mine != theirs) {
            if (bad_verdict++ < 5) {
                printf("# verdict %d, yajl's %d (validate %d, depth %u)\n",
                       mine, theirs, variant & 1, j1.max_depth);
                diag_text("on", (unsigned char *) copy, b.len);
            }

        } else if (mine == 0) {
            t1.len = 0;
            t2.len = 0;
            dump(&t1, j1.root);
            dump(&t2, j2.root);

            if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len) != 0) {
                if (bad_tree++ < 5) {
                    diag_text("trees differ on", (unsigned char *) copy,
                              b.len);
                    diag_text("mine", t1.data, t1.len);
                    diag_text("yajl", t2.data, t2.len);
                }
            }
        }

        free(copy);
    }

    ok(bad_verdict == 0, "%d texts: the verdict of yajl's tree "
       "(%d differ)", rounds, bad_verdict);
    ok(bad_tree == 0, "the trees of yajl's tree, byte for byte (%d differ)",
       bad_tree);

    /* the generator must reach every outcome, or the test proves little */

    ok(verdicts[0] >= rounds / 10, "valid: %d", verdicts[0]);
    ok(verdicts[1] >= rounds / 10, "invalid: %d", verdicts[1]);
    ok(verdicts[3] >= rounds / 100, "too deep: %d", verdicts[3]);

    tokenroute_json_tree_free(&j1);
    tokenroute_json_tree_free(&j2);
    free(b.data);
    free(t1.data);
    free(t2.data);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


/* the tree as bytes: type, key and string with their lengths, nesting */

static void
dump(buf_t *b, tokenroute_json_node_t *n)
{
    char                     tmp[64];
    tokenroute_json_node_t  *e;

    snprintf(tmp, sizeof(tmp), "(%d %zu:", (int) n->type, n->key_len);
    puts_(b, tmp);

    if (n->key != NULL) {
        put(b, n->key, n->key_len + 1);
    }

    if (n->str != NULL) {
        snprintf(tmp, sizeof(tmp), " %zu:", n->len);
        puts_(b, tmp);
        put(b, n->str, n->len + 1);

    } else {
        snprintf(tmp, sizeof(tmp), " #%zu", n->len);
        puts_(b, tmp);
    }

    for (e = n->first; e != NULL; e = e->next) {
        if (e->parent != n) {
            puts_(b, "!parent");
        }

        dump(b, e);
    }

    puts_(b, ")");
}
