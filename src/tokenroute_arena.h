
/*
 * Copyright (C) tokenroute authors
 *
 * A bump allocator for yajl, in a buffer the caller owns (on the stack
 * for one parse, or inside a longer-lived struct): a typical parse makes
 * no heap allocation; what does not fit goes to malloc().  Plain C.
 */


#ifndef _TOKENROUTE_ARENA_H_INCLUDED_
#define _TOKENROUTE_ARENA_H_INCLUDED_


#include <stddef.h>

#include <yajl/yajl_common.h>


/* yajl's handle, lexer, state stack and decode buffer take about 2.5K */
#define TOKENROUTE_ARENA_SIZE   8192
#define TOKENROUTE_ARENA_ALIGN  16


typedef struct {
    char                     *last;
    char                     *end;
    char                      buf[TOKENROUTE_ARENA_SIZE];
} tokenroute_arena_t;


/* (re)starts the arena empty and points af at it */
void tokenroute_arena_init(tokenroute_arena_t *a, yajl_alloc_funcs *af);


#endif /* _TOKENROUTE_ARENA_H_INCLUDED_ */
