
/*
 * Copyright (C) tokenroute authors
 *
 * A JSON document parsed by yajl's callbacks into a flat array of nodes,
 * its keys and scalars in one pool; both are kept from one parse to the
 * next, so a stream that parses a document an event stops allocating
 * once warm.  Lookups, and the compact JSON of any value.  Plain C plus
 * yajl: no nginx dependency.
 */


#ifndef _TOKENROUTE_JSON_TREE_H_INCLUDED_
#define _TOKENROUTE_JSON_TREE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_common.h>

#include "tokenroute_json_out.h"


/* tokenroute_json_node_t types */
#define TOKENROUTE_JSON_T_NULL    0
#define TOKENROUTE_JSON_T_FALSE   1
#define TOKENROUTE_JSON_T_TRUE    2
#define TOKENROUTE_JSON_T_NUMBER  3
#define TOKENROUTE_JSON_T_STRING  4
#define TOKENROUTE_JSON_T_MAP     5
#define TOKENROUTE_JSON_T_ARRAY   6


/*
 * One value.  Nodes are numbered from 1, the root; 0 stands for "none".
 * key and val are offsets into the pool, where keys, strings and numbers
 * are kept NUL-terminated.
 */
typedef struct {
    size_t                   key;
    size_t                   key_len;
    size_t                   val;
    size_t                   val_len;
    uint32_t                 parent;
    uint32_t                 child;
    uint32_t                 last;
    uint32_t                 next;
    unsigned                 type;
} tokenroute_json_node_t;


/* zeroed before its first parse; the other fields are the parser's */
typedef struct {
    tokenroute_json_node_t  *nodes;
    uint32_t                 nnodes;
    uint32_t                 nalloc;
    uint32_t                 cur;
    unsigned                 oom;
    size_t                   key;
    size_t                   key_len;
    tokenroute_json_buf_t    pool;
} tokenroute_json_tree_t;


/*
 * Parses p into j, replacing the document it held: 0, -1 if p is not
 * JSON, or -2 if out of memory.  String bytes are not checked for UTF-8.
 * af is yajl's allocator for the parser itself, or NULL for malloc().
 */
int tokenroute_json_tree_parse(tokenroute_json_tree_t *j, const char *p,
    size_t len, yajl_alloc_funcs *af);
void tokenroute_json_tree_free(tokenroute_json_tree_t *j);

/*
 * The value of key in map n, or 0 (also when n is not a map): the first
 * member of that name; a null member is a node like any other.
 */
uint32_t tokenroute_json_get(tokenroute_json_tree_t *j, uint32_t n,
    const char *key);

/* 1 with node n's string in *s and *len, or 0 if n is not a string */
int tokenroute_json_str(tokenroute_json_tree_t *j, uint32_t n,
    const char **s, size_t *len);

/*
 * Number n as an integer (12.0 and 1e3 too; beyond int64_t saturated),
 * or dflt if n is not a number.
 */
int64_t tokenroute_json_int(tokenroute_json_tree_t *j, uint32_t n,
    int64_t dflt);

/* appends the compact JSON of value top */
void tokenroute_json_tree_write(tokenroute_json_buf_t *b,
    tokenroute_json_tree_t *j, uint32_t top);


#endif /* _TOKENROUTE_JSON_TREE_H_INCLUDED_ */
