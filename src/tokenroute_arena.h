
/*
 * Copyright (C) tokenroute authors
 *
 * A bump allocator for yajl, in a buffer the caller owns (on the stack
 * for one parse, or kept from one parse to the next): a typical parse
 * makes no heap allocation; what does not fit goes to malloc(), and the
 * arena says so, so that a caller can give the next parse more room.
 * Plain C.
 */


#ifndef _TOKENROUTE_ARENA_H_INCLUDED_
#define _TOKENROUTE_ARENA_H_INCLUDED_


#include <stddef.h>

#include <yajl/yajl_common.h>


/* yajl's handle, lexer, state stack and decode buffer take about 2.5K */
#define TOKENROUTE_ARENA_SIZE   8192
#define TOKENROUTE_ARENA_ALIGN  16


typedef struct {
    char                     *start;
    char                     *last;
    char                     *end;
    unsigned                  spilled;   /* a block went to malloc() */
} tokenroute_arena_t;


/* starts the arena empty in buf and points af at it */
void tokenroute_arena_init(tokenroute_arena_t *a, char *buf, size_t size,
    yajl_alloc_funcs *af);


#endif /* _TOKENROUTE_ARENA_H_INCLUDED_ */
