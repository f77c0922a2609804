
/*
 * Copyright (C) tokenroute authors
 *
 * Internal to the request translator, tokenroute_translate*.c but for
 * the response files: the parsed tree, the translation's context, the
 * messages built from OpenAI's, and the functions the files share.
 */


#ifndef _TOKENROUTE_TRANSLATE_INT_H_INCLUDED_
#define _TOKENROUTE_TRANSLATE_INT_H_INCLUDED_


#include <stddef.h>
#include <string.h>

#include "tokenroute_json_out.h"
#include "tokenroute_json_tree.h"
#include "tokenroute_translate.h"


#define TR_NOT_JSON            -3
#define TR_NOMEM               -2
#define TR_REJECT              -1

/*
 * Parsed JSON may nest this deep: the copy is recursive, and the writer
 * stops at TR_GEN_DEPTH_MAX (128) levels, of which a copied value may sit
 * under five more (a tool call's arguments inside messages[].content[]).
 */
#define TR_DEPTH_MAX           100

/* the writer's nesting limit: yajl_gen's YAJL_MAX_DEPTH */
#define TR_GEN_DEPTH_MAX       128

/* the writer's state at a depth: yajl_gen's */
#define TR_GEN_START           0
#define TR_GEN_MAP_START       1
#define TR_GEN_MAP_KEY         2
#define TR_GEN_MAP_VAL         3
#define TR_GEN_ARRAY_START     4
#define TR_GEN_IN_ARRAY        5
#define TR_GEN_COMPLETE        6

/* bytes of a client's string quoted in an error message */
#define TR_NAME_MAX            48

#define TR_BLOCK_TEXT          1
#define TR_BLOCK_IMAGE_BASE64  2
#define TR_BLOCK_IMAGE_URL     3
#define TR_BLOCK_TOOL_USE      4
#define TR_BLOCK_TOOL_RESULT   5

#define tr_str_is(s, len, lit)                                                \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)

#define tr_is(v, lit)                                                         \
    ((v) != NULL && (v)->type == yajl_t_string                                \
     && tr_str_is((v)->str, (v)->len, lit))

/*
 * Member names known when compiling: their lengths counted, and as keys
 * written with their quotes then (none of them needs an escape).  The
 * "" around lit refuses anything but a string literal.
 */
#define tr_get(obj, lit)                                                      \
    tr_get_n(obj, "" lit "", sizeof(lit) - 1)

#define tr_gen_key(ctx, lit)                                                  \
    tr_gen_lit(ctx, "\"" lit "\"", sizeof(lit) + 1)

#define tr_gen_pair(ctx, lit, value)                                          \
    do {                                                                      \
        tr_gen_key(ctx, lit);                                                 \
        tr_gen_string(ctx, value, strlen(value));                             \
    } while (0)


/*
 * The shared functions keep the short names the translator is written
 * with, and their symbols the module's prefix (zlib's Z_PREFIX does the
 * same): the file-local tr_ names cannot clash with other modules'.
 */
#define tr_error              tokenroute_tr_error
#define tr_name               tokenroute_tr_name
#define tr_alloc              tokenroute_tr_alloc
#define tr_calloc             tokenroute_tr_calloc
#define tr_parse              tokenroute_tr_parse
#define tr_check              tokenroute_tr_check
#define tr_integer            tokenroute_tr_integer
#define tr_above_one          tokenroute_tr_above_one
#define tr_text_add           tokenroute_tr_text_add
#define tr_gen_string         tokenroute_tr_gen_string
#define tr_gen_bool           tokenroute_tr_gen_bool
#define tr_gen_null           tokenroute_tr_gen_null
#define tr_gen_integer        tokenroute_tr_gen_integer
#define tr_gen_lit            tokenroute_tr_gen_lit
#define tr_gen_map            tokenroute_tr_gen_map
#define tr_gen_map_end        tokenroute_tr_gen_map_end
#define tr_gen_array          tokenroute_tr_gen_array
#define tr_gen_array_end      tokenroute_tr_gen_array_end
#define tr_gen_value          tokenroute_tr_gen_value
#define tr_gen_text           tokenroute_tr_gen_text
#define tr_gen_json           tokenroute_tr_gen_json
#define tr_gen_empty_schema   tokenroute_tr_gen_empty_schema
#define tr_gen_model          tokenroute_tr_gen_model
#define tr_oa                 tokenroute_tr_oa
#define tr_oa_system          tokenroute_tr_oa_system
#define tr_oa_messages        tokenroute_tr_oa_messages
#define tr_oa_part            tokenroute_tr_oa_part
#define tr_oa_tool_call       tokenroute_tr_oa_tool_call
#define tr_oa_block           tokenroute_tr_oa_block
#define tr_oa_text_block      tokenroute_tr_oa_text_block
#define tr_oa_gen_block       tokenroute_tr_oa_gen_block
#define tr_ao                 tokenroute_tr_ao
#define tr_ao_message         tokenroute_tr_ao_message


/* the translator's memory, freed at once, and a parsed JSON value */
typedef tokenroute_json_chunk_t  tr_chunk_t;
typedef tokenroute_json_node_t   tr_val_t;

typedef struct tr_piece_s  tr_piece_t;
typedef struct tr_block_s  tr_block_t;
typedef struct tr_msg_s    tr_msg_t;


/* texts to be joined into one string */
struct tr_piece_s {
    tr_piece_t                         *next;
    const char                         *data;
    size_t                              len;
};


typedef struct {
    tr_piece_t                         *first;
    tr_piece_t                         *last;
    size_t                              n;
    size_t                              len;
} tr_text_t;


/* an Anthropic content block made from OpenAI message parts */
struct tr_block_s {
    tr_block_t                         *next;
    unsigned                            type;
    const char                         *a;        /* text, media type, */
    size_t                              a_len;    /* URL or tool id */
    const char                         *b;        /* base64 data, name */
    size_t                              b_len;
    tr_val_t                           *value;    /* input, result */
};


/* an Anthropic message made from one or more OpenAI messages */
struct tr_msg_s {
    tr_msg_t                           *next;
    unsigned                            assistant;
    tr_val_t                           *text;     /* content: one string */
    tr_block_t                         *first;
    tr_block_t                         *last;
};


/* the request being written */
typedef struct {
    tokenroute_json_buf_t               buf;
    unsigned                            depth;
    unsigned char                       state[TR_GEN_DEPTH_MAX];
} tr_gen_t;


typedef struct {
    tr_gen_t                           *gen;      /* written to */
    tr_gen_t                            out;      /* the request */
    tr_chunk_t                         *chunks;
    tr_chunk_t                         *chunk;    /* tr_alloc()'s */
    const tokenroute_translate_opts_t  *opts;
    char                               *err;
    size_t                              err_size;
    unsigned                            gen_failed:1;
    unsigned                            not_json:1;
    char                                name[TR_NAME_MAX + 4];
} tr_ctx_t;


/* tokenroute_translate_tree.c */
int tr_error(tr_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *tr_name(tr_ctx_t *ctx, tr_val_t *v);
void *tr_alloc(tr_ctx_t *ctx, size_t size);
void *tr_calloc(tr_ctx_t *ctx, size_t size);
int tr_parse(tr_ctx_t *ctx, const char *p, size_t len, tr_val_t **root,
    const char *what);
int tr_check(tr_ctx_t *ctx, tr_val_t *v, yajl_type type, const char *what);
int tr_integer(tr_val_t *v, long long *n);
int tr_above_one(tr_val_t *v);

/* tokenroute_translate_gen.c */
int tr_text_add(tr_ctx_t *ctx, tr_text_t *text, const char *s, size_t len);
void tr_gen_string(tr_ctx_t *ctx, const char *s, size_t len);
void tr_gen_bool(tr_ctx_t *ctx, int value);
void tr_gen_null(tr_ctx_t *ctx);
void tr_gen_integer(tr_ctx_t *ctx, long long v);
void tr_gen_lit(tr_ctx_t *ctx, const char *s, size_t len);
void tr_gen_map(tr_ctx_t *ctx);
void tr_gen_map_end(tr_ctx_t *ctx);
void tr_gen_array(tr_ctx_t *ctx);
void tr_gen_array_end(tr_ctx_t *ctx);
void tr_gen_value(tr_ctx_t *ctx, tr_val_t *v);
int tr_gen_text(tr_ctx_t *ctx, tr_text_t *text, const char *prefix);
int tr_gen_json(tr_ctx_t *ctx, tr_val_t *v);
void tr_gen_empty_schema(tr_ctx_t *ctx);
int tr_gen_model(tr_ctx_t *ctx, tr_val_t *root);

/* tokenroute_translate_oa.c, _oa_messages.c, _oa_content.c */
int tr_oa(tr_ctx_t *ctx, tr_val_t *root);
int tr_oa_system(tr_ctx_t *ctx, tr_val_t *messages);
int tr_oa_messages(tr_ctx_t *ctx, tr_val_t *messages);
int tr_oa_part(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j, tr_msg_t *m);
int tr_oa_tool_call(tr_ctx_t *ctx, tr_val_t *tc, size_t i, size_t k,
    tr_msg_t *m);
tr_block_t *tr_oa_block(tr_ctx_t *ctx, tr_msg_t *m, unsigned type);
int tr_oa_text_block(tr_ctx_t *ctx, tr_msg_t *m, tr_val_t *text);
void tr_oa_gen_block(tr_ctx_t *ctx, tr_block_t *b);

/* tokenroute_translate_ao.c, _ao_messages.c */
int tr_ao(tr_ctx_t *ctx, tr_val_t *root);
int tr_ao_message(tr_ctx_t *ctx, tr_val_t *msg, size_t i);


/*
 * The member named key; the last one if the name repeats, as most JSON
 * parsers (and so the providers) read it.  A null is no member.
 * Inline: with the length known, the compare is a few moves.
 */

static inline tr_val_t *
tr_get_n(tr_val_t *obj, const char *key, size_t len)
{
    tr_val_t  *v, *found;

    if (obj == NULL || obj->type != yajl_t_object) {
        return NULL;
    }

    found = NULL;

    for (v = obj->first; v != NULL; v = v->next) {
        if (v->key_len == len
            && (len == 0
                || (v->key[0] == key[0] && memcmp(v->key, key, len) == 0)))
        {
            found = v;
        }
    }

    if (found != NULL && found->type == yajl_t_null) {
        return NULL;
    }

    return found;
}


#endif /* _TOKENROUTE_TRANSLATE_INT_H_INCLUDED_ */
