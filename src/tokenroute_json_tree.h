
/*
 * Copyright (C) tokenroute authors
 *
 * A JSON document parsed (as yajl would take it) into linked values, with
 * their keys and scalars, in chunks of memory the tree keeps from one
 * parse to the next, so a stream that parses a document an event stops
 * allocating once warm.  The one tree of both translators: lookups, and
 * the compact JSON of any value.  Plain C plus yajl: no nginx
 * dependency (yajl's headers for the type numbers only).
 */


#ifndef _TOKENROUTE_JSON_TREE_H_INCLUDED_
#define _TOKENROUTE_JSON_TREE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_common.h>
#include <yajl/yajl_tree.h>     /* yajl_type only */

#include "tokenroute_json_out.h"


/* a value's type: yajl's numbers, which the request translator uses */
#define TOKENROUTE_JSON_T_NULL    yajl_t_null
#define TOKENROUTE_JSON_T_FALSE   yajl_t_false
#define TOKENROUTE_JSON_T_TRUE    yajl_t_true
#define TOKENROUTE_JSON_T_NUMBER  yajl_t_number
#define TOKENROUTE_JSON_T_STRING  yajl_t_string
#define TOKENROUTE_JSON_T_MAP     yajl_t_object
#define TOKENROUTE_JSON_T_ARRAY   yajl_t_array


typedef struct tokenroute_json_node_s   tokenroute_json_node_t;
typedef struct tokenroute_json_chunk_s  tokenroute_json_chunk_t;


/*
 * One value.  yajl_tree would lose the length of strings with "\u0000"
 * in them, hence a tree of our own.  Keys, strings and numbers are kept
 * NUL-terminated.
 */
struct tokenroute_json_node_s {
    yajl_type                 type;
    const char               *key;      /* member name */
    size_t                    key_len;
    const char               *str;      /* string, number text */
    size_t                    len;      /* str bytes; elements */
    tokenroute_json_node_t   *first;    /* elements, in order */
    tokenroute_json_node_t   *last;
    tokenroute_json_node_t   *next;
    tokenroute_json_node_t   *parent;
};


/* a chunk of memory; its bytes follow the header */
struct tokenroute_json_chunk_s {
    tokenroute_json_chunk_t  *next;
    size_t                    size;
    size_t                    used;
};


/*
 * Zeroed before its first parse; the caller may then set max_depth (0:
 * no limit) and validate (UTF-8 checked in strings); the other fields are
 * the parser's.
 */
typedef struct {
    tokenroute_json_node_t   *root;
    tokenroute_json_chunk_t  *chunks;
    unsigned                  max_depth;
    unsigned                  validate:1;

    tokenroute_json_chunk_t  *chunk;    /* the one allocated from */
    tokenroute_json_node_t   *cur;      /* the open container */
    const char               *key;
    size_t                    key_len;
    unsigned                  depth;
    unsigned                  oom:1;
    unsigned                  deep:1;
} tokenroute_json_tree_t;


/*
 * A bump allocator in chunks, freed at once (tokenroute_json_chunks_free):
 * from the chunk *cur, else the next chunk of the list *head with room
 * (kept from before), else a new one linked at the end; *cur (NULL: the
 * list's first) follows.  NULL if out of memory.
 */
void *tokenroute_json_alloc(tokenroute_json_chunk_t **head,
    tokenroute_json_chunk_t **cur, size_t size);
void tokenroute_json_chunks_free(tokenroute_json_chunk_t **head);

/*
 * Parses p into j, replacing the document it held: 0, -1 if p is not
 * JSON, -2 if out of memory, or -3 if it nests deeper than max_depth.
 * af is ignored (it was yajl's allocator when yajl parsed): pass NULL.
 */
int tokenroute_json_tree_parse(tokenroute_json_tree_t *j, const char *p,
    size_t len, yajl_alloc_funcs *af);
void tokenroute_json_tree_free(tokenroute_json_tree_t *j);

/*
 * The value of key in map n, or NULL (also when n is not a map): the
 * first member of that name; a null member is a node like any other.
 */
tokenroute_json_node_t *tokenroute_json_get(tokenroute_json_node_t *n,
    const char *key);

/* 1 with node n's string in *s and *len, or 0 if n is not a string */
int tokenroute_json_str(tokenroute_json_node_t *n, const char **s,
    size_t *len);

/*
 * Number n as an integer (12.0 and 1e3 too; beyond int64_t saturated),
 * or dflt if n is not a number.
 */
int64_t tokenroute_json_int(tokenroute_json_node_t *n, int64_t dflt);

/*
 * A number's text that is an optional '-' and up to 18 digits, which
 * cannot overflow: 1 with its value in *v; else 0 (a fraction, an
 * exponent, more digits), for strtoll() and strtod() to read.
 */

static inline int
tokenroute_json_small_int(const char *s, size_t len, int64_t *v)
{
    size_t   i;
    int64_t  r;

    i = (s[0] == '-');

    if (len - i > 18) {
        return 0;
    }

    for (r = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        r = r * 10 + (s[i] - '0');
    }

    if (i != len) {
        return 0;
    }

    *v = (s[0] == '-') ? -r : r;

    return 1;
}

/* appends the compact JSON of value top */
void tokenroute_json_tree_write(tokenroute_json_buf_t *b,
    tokenroute_json_node_t *top);


#endif /* _TOKENROUTE_JSON_TREE_H_INCLUDED_ */
