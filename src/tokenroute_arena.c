
/*
 * Copyright (C) tokenroute authors
 *
 * The bump allocator of tokenroute_arena.h: yajl's malloc, realloc and
 * free over the caller's buffer, falling back to the heap.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_arena.h"


#define tr_arena_align(n)                                                     \
    (((n) + TOKENROUTE_ARENA_ALIGN - 1)                                       \
     & ~((size_t) TOKENROUTE_ARENA_ALIGN - 1))


static void *tokenroute_arena_malloc(void *ctx, size_t size);
static void *tokenroute_arena_realloc(void *ctx, void *ptr, size_t size);
static void tokenroute_arena_free(void *ctx, void *ptr);


void
tokenroute_arena_init(tokenroute_arena_t *a, char *buf, size_t size,
    yajl_alloc_funcs *af)
{
    a->start = buf;
    a->last = (char *) (((uintptr_t) buf + TOKENROUTE_ARENA_ALIGN - 1)
                        & ~((uintptr_t) TOKENROUTE_ARENA_ALIGN - 1));
    a->end = buf + size;
    a->spilled = 0;

    af->malloc = tokenroute_arena_malloc;
    af->realloc = tokenroute_arena_realloc;
    af->free = tokenroute_arena_free;
    af->ctx = a;
}


/*
 * A bump allocator: each block is preceded by its capacity; free() is a
 * no-op inside the arena, and what does not fit goes to malloc().
 */

static void *
tokenroute_arena_malloc(void *ctx, size_t size)
{
    char                *p;
    size_t               n;
    tokenroute_arena_t  *a = ctx;

    n = tr_arena_align(size);

    if (n < size || n + TOKENROUTE_ARENA_ALIGN > (size_t) (a->end - a->last)) {
        a->spilled = 1;
        return malloc(size);
    }

    p = a->last + TOKENROUTE_ARENA_ALIGN;
    ((size_t *) p)[-1] = n;
    a->last = p + n;

    return p;
}


static void *
tokenroute_arena_realloc(void *ctx, void *ptr, size_t size)
{
    char                *p, *q;
    size_t               n, old;
    tokenroute_arena_t  *a = ctx;

    p = ptr;

    if (p == NULL) {
        return tokenroute_arena_malloc(ctx, size);
    }

    if ((uintptr_t) p < (uintptr_t) a->start
        || (uintptr_t) p >= (uintptr_t) a->end)
    {
        return realloc(p, size);
    }

    old = ((size_t *) p)[-1];

    if (size <= old) {
        return p;
    }

    n = tr_arena_align(size);

    /* the last block grows in place */

    if (p + old == a->last && n >= size
        && n <= (size_t) (a->end - p))
    {
        ((size_t *) p)[-1] = n;
        a->last = p + n;
        return p;
    }

    q = tokenroute_arena_malloc(ctx, size);
    if (q == NULL) {
        return NULL;
    }

    memcpy(q, p, old);

    return q;
}


static void
tokenroute_arena_free(void *ctx, void *ptr)
{
    tokenroute_arena_t  *a = ctx;

    if (ptr != NULL
        && ((uintptr_t) ptr < (uintptr_t) a->start
            || (uintptr_t) ptr >= (uintptr_t) a->end))
    {
        free(ptr);
    }
}
