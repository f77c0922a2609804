
/*
 * Copyright (C) tokenroute authors
 *
 * Internal to the response translator, tokenroute_translate_response*.c,
 * tokenroute_translate_error.c and tokenroute_translate_stream*.c: short
 * names, a provider's error as read, and the functions the files share.
 */


#ifndef _TOKENROUTE_TRANSLATE_RESPONSE_INT_H_INCLUDED_
#define _TOKENROUTE_TRANSLATE_RESPONSE_INT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenroute_json_scan.h"
#include "tokenroute_json_tree.h"
#include "tokenroute_translate_response.h"


/* tokenroute_json_node_t types */
#define TR_J_NULL               TOKENROUTE_JSON_T_NULL
#define TR_J_FALSE              TOKENROUTE_JSON_T_FALSE
#define TR_J_TRUE               TOKENROUTE_JSON_T_TRUE
#define TR_J_NUMBER             TOKENROUTE_JSON_T_NUMBER
#define TR_J_STRING             TOKENROUTE_JSON_T_STRING
#define TR_J_MAP                TOKENROUTE_JSON_T_MAP
#define TR_J_ARRAY              TOKENROUTE_JSON_T_ARRAY

/* st->usage[] */
#define TR_U_INPUT              0
#define TR_U_OUTPUT             1
#define TR_U_CACHE_READ         2
#define TR_U_CACHE_WRITE        3

#define tr_str_is(s, len, lit)                                                \
    ((s) != NULL && (len) == sizeof(lit) - 1                                  \
     && memcmp(s, lit, sizeof(lit) - 1) == 0)

#define tr_add_lit(b, lit)  tokenroute_json_add_lit(b, lit)


/* an error as read from a provider's body or event, before mapping */
typedef struct {
    const char               *message;
    size_t                    message_len;
    const char               *type;
    size_t                    type_len;
    const char               *code;
    size_t                    code_len;
} tokenroute_resp_error_t;


/* Anthropic usage fields, in st->usage[] order */
extern const char  *tokenroute_resp_usage_keys[];

int64_t tokenroute_resp_usage(tokenroute_json_node_t *usage, int i);


/* tokenroute_translate_response.c */
tokenroute_json_node_t *tokenroute_resp_choice(tokenroute_json_node_t *n);

const char *tokenroute_resp_finish_reason(const char *s, size_t len);
const char *tokenroute_resp_stop_reason(const char *s, size_t len);

/* tokenroute_translate_response_ao.c, _oa.c */
int tokenroute_resp_ao(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    const char *model, size_t model_len);
int tokenroute_resp_oa(tokenroute_json_tree_t *j, tokenroute_json_buf_t *b,
    const char *model, size_t model_len);

/* tokenroute_translate_error.c */
void tokenroute_resp_error_read(tokenroute_json_node_t *n,
    tokenroute_resp_error_t *e, int *status);
void tokenroute_resp_error_write(tokenroute_json_buf_t *b, int from, int to,
    int status, tokenroute_resp_error_t *e);

/* tokenroute_translate_stream.c */
int tokenroute_stream_parse(tokenroute_stream_t *st, const char *data,
    size_t len);
int tokenroute_stream_malformed(tokenroute_stream_t *st);
int tokenroute_stream_upstream_error(tokenroute_stream_t *st);

/*
 * A content_block_start as read: type NULL if it is no string, id and
 * name "" then.
 */
typedef struct {
    int64_t                   index;    /* -1: no integer */
    const char               *type;
    size_t                    type_len;
    const char               *id;
    size_t                    id_len;
    const char               *name;
    size_t                    name_len;
} tokenroute_stream_blk_t;


/*
 * An Anthropic event's data as tokenroute_translate_stream_scan.c read
 * it, for the fast path: what tokenroute_stream_ao() reads from the tree.
 */
typedef struct {
    tokenroute_stream_blk_t   blk;      /* content_block_start's */
    const char               *type;     /* the first "type", a string */
    size_t                    type_len;
    const char               *dtype;    /* the delta's first "type" */
    size_t                    dtype_len;
    const unsigned char      *str[3];   /* text, partial_json, thinking */
    const unsigned char      *str_end[3];
    unsigned                  escaped[3];
    const char               *s;        /* the wanted one, decoded */
    size_t                    len;
    const char               *quoted;   /* as JSON if unescaped, or NULL */
    const char               *id;       /* message_start's message id */
    size_t                    id_len;
    const char               *stop;     /* message_delta's stop_reason */
    size_t                    stop_len;
    int64_t                   usage[4]; /* as tokenroute_resp_usage() */
    int64_t                   msg_usage[4];     /* the message's */
    int64_t                   index;    /* -1: no integer */
    int64_t                   bytes;    /* for the usage reader, or -1 */
    int                       want;     /* str[want - 1]; 0: none */
    int                       canonical_str;
    unsigned                  has_type:1;
    unsigned                  has_delta:1;
    unsigned                  block_delta:1;
    unsigned                  canonical:1;
    unsigned                  final:1;  /* message_stop, for the tap */
    int64_t                   output;   /* message_delta's, for the tap */
    unsigned                  counts;   /* msg_usage[] for the tap too */
} tokenroute_stream_scan_t;

/* the delta's strings, in tokenroute_stream_scan_t's str[] */
#define TR_S_TEXT               0
#define TR_S_JSON               1
#define TR_S_THINKING           2

/* tokenroute_translate_stream_scan.c */
int tokenroute_stream_scan_ao(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len,
    tokenroute_stream_scan_t *sc);
/* string i of *sc as the tree holds it: 0, or -1 if out of memory */
int tokenroute_stream_scan_decode(tokenroute_stream_t *st,
    tokenroute_stream_scan_t *sc, int i);

/*
 * tokenroute_translate_stream_shape.c: an event in Anthropic's own
 * shape, a content delta (shape) or another (small, *sc cleared before):
 * 1 with *sc set as tokenroute_stream_scan_ao() sets it, or 0
 */
int tokenroute_stream_scan_shape(tokenroute_stream_t *st, const char *data,
    size_t len, tokenroute_stream_scan_t *sc);
int tokenroute_stream_scan_small(const char *data, size_t len,
    tokenroute_stream_scan_t *sc);

/*
 * tokenroute_translate_stream_scan_msg.c: each after its object's '{'
 * (js from tokenroute_json_scan.h): 0, or -1 if the tree must read
 */
int tokenroute_stream_scan_message(tokenroute_json_scan_t *js,
    tokenroute_stream_scan_t *sc);
int tokenroute_stream_scan_usage(tokenroute_json_scan_t *js,
    int64_t *usage);
int tokenroute_stream_scan_block(tokenroute_json_scan_t *js,
    tokenroute_stream_blk_t *b);

/*
 * The scans' step through an object's members: 1 with the next member's
 * name in *k, *n and its value's first token in *t; 0 after the last; -1
 * on invalid JSON or an escaped name (the tree reads those).
 */
static inline int
tokenroute_stream_scan_member(tokenroute_json_scan_t *js, const char **k,
    size_t *n, tokenroute_json_token_e *t)
{
    *t = tokenroute_json_scan_next(js);

    if (*t == TOKENROUTE_JSON_OBJECT_END) {
        return 0;
    }

    if (*t != TOKENROUTE_JSON_KEY || js->escaped) {
        return -1;
    }

    *k = (const char *) js->token + 1;
    *n = js->end - js->token - 2;

    *t = tokenroute_json_scan_next(js);

    return (*t == TOKENROUTE_JSON_ERROR) ? -1 : 1;
}

/* a member's value the scan does not read, passed over: -1 if invalid */
static inline int
tokenroute_stream_scan_pass(tokenroute_json_scan_t *js,
    tokenroute_json_token_e t)
{
    return ((t == TOKENROUTE_JSON_OBJECT || t == TOKENROUTE_JSON_ARRAY)
            && tokenroute_json_scan_skip(js) == TOKENROUTE_JSON_ERROR)
           ? -1 : 0;
}

/*
 * A member's value kept if it is a string: its bytes between the quotes
 * in *s, *len (left as they are if it is none); -1 if it is escaped (the
 * tree decodes it).
 */
static inline int
tokenroute_stream_scan_str(tokenroute_json_scan_t *js,
    tokenroute_json_token_e t, const char **s, size_t *len)
{
    if (t != TOKENROUTE_JSON_STRING) {
        return 0;
    }

    if (js->escaped) {
        return -1;
    }

    *s = (const char *) js->token + 1;
    *len = js->end - js->token - 2;

    return 0;
}

/* tokenroute_translate_stream_ao.c */
int tokenroute_stream_ao(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len);
int tokenroute_stream_ao_scanned(tokenroute_stream_t *st, const char *event,
    size_t event_len, tokenroute_stream_scan_t *sc);
void tokenroute_stream_ao_end(tokenroute_stream_t *st);

/* tokenroute_translate_stream_oa.c */
int tokenroute_stream_oa(tokenroute_stream_t *st, const char *data, size_t len);
void tokenroute_stream_oa_end(tokenroute_stream_t *st);


#endif /* _TOKENROUTE_TRANSLATE_RESPONSE_INT_H_INCLUDED_ */
