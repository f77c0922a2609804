
/*
 * Copyright (C) tokenroute authors
 *
 * A JSON skimmer for token usage: fed a response body, or one SSE event's
 * data, in pieces split anywhere, it accepts exactly what yajl (with
 * yajl_dont_validate_strings) accepts (t/unit/usage_diff.c checks it
 * against a yajl-based reader), and picks out on the way only what
 * tokenroute_usage.c needs: token counts, an error, the end of a stream,
 * the length of generated text.  Strings are skipped 16 bytes at a time;
 * nothing is allocated unless nesting is deeper than
 * TOKENROUTE_SKIM_STACK or a number has more than
 * TOKENROUTE_SKIM_DIG_INLINE significant digits.  Plain C: no nginx
 * dependency.
 */


#ifndef _TOKENROUTE_SKIM_H_INCLUDED_
#define _TOKENROUTE_SKIM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * tokens[] indices, in tokenroute_usage_t order; then Anthropic's split
 * of the cache writes (usage.cache_creation) by lifetime
 */
#define TOKENROUTE_SKIM_INPUT           0
#define TOKENROUTE_SKIM_CACHED          1
#define TOKENROUTE_SKIM_WRITE           2
#define TOKENROUTE_SKIM_OUTPUT          3
#define TOKENROUTE_SKIM_WRITE_5M        4
#define TOKENROUTE_SKIM_WRITE_1H        5
#define TOKENROUTE_SKIM_TOKENS          6

/* Anthropic event types (type) */
#define TOKENROUTE_SKIM_OTHER           0
#define TOKENROUTE_SKIM_MESSAGE_START   1
#define TOKENROUTE_SKIM_MESSAGE_DELTA   2
#define TOKENROUTE_SKIM_BLOCK_DELTA     3
#define TOKENROUTE_SKIM_MESSAGE_STOP    4
#define TOKENROUTE_SKIM_ERROR           5

/* containers nested deeper than this are never looked into */
#define TOKENROUTE_SKIM_DEPTH           8

/*
 * Levels of nesting tracked in the struct; more go to the heap.  Few, so
 * that the struct stays small: a held response keeps it in the request's
 * pool, where 2K more took a pool block of its own.
 */
#define TOKENROUTE_SKIM_STACK           16

/*
 * Significant digits of a number kept for strtod(): no rounding boundary
 * of a double has more than 767, so the result is the one the whole
 * number gives.
 */
#define TOKENROUTE_SKIM_DIGITS          800

/* ... of which the struct holds this many; a longer number goes to heap */
#define TOKENROUTE_SKIM_DIG_INLINE      24

/* decoded bytes of a key or of an event type kept for matching */
#define TOKENROUTE_SKIM_STR             32


/* the struct is public so callers can embed it (or keep it on the stack) */

typedef struct {
    /* what was found */
    int64_t          tokens[TOKENROUTE_SKIM_TOKENS];
    int64_t          content_bytes;    /* generated text, decoded */
    unsigned         tokens_seen;      /* 1 << index, per tokens[] */
    unsigned         choices;          /* elements of "choices" */
    unsigned         type;

    unsigned         usage_object:1;   /* a top-level "usage" object */
    unsigned         choices_array:1;  /* a top-level "choices" array */
    unsigned         finish:1;         /* a "finish_reason" string */
    unsigned         error:1;

    /* the fields below are private */

    int              shape;
    unsigned         stream:1;
    unsigned         body:2;           /* the learned body: TR_B_* */
    unsigned         top_kind;

    unsigned         state;
    unsigned         key;              /* the key the next value has */
    unsigned         val_key;          /* ... the value being read has */

    /* per level of nesting: 1 for an object, | what it is for us << 1 */
    size_t           depth;
    size_t           levels;           /* in stack, or in heap if any */
    unsigned char   *heap;
    char            *dig_heap;         /* TOKENROUTE_SKIM_DIGITS + 24 */
    unsigned         top;              /* the innermost level's */

    /* a string in progress */
    unsigned         str_role;
    unsigned         str_mode;
    unsigned         str_split:1;
    unsigned         hex_n;
    unsigned         hex;
    unsigned         high;             /* a high surrogate, or 0 */
    size_t           str_len;
    unsigned char    str[TOKENROUTE_SKIM_STR];

    /* a literal or a number in progress */
    const char      *lit;
    unsigned         num_state;
    unsigned         num_neg:1;
    unsigned         num_double:1;
    unsigned         exp_neg:1;
    unsigned         sticky:1;
    unsigned         int_digits;       /* up to 20 */
    uint64_t         mag;              /* the integer part, while short */
    int64_t          exp;
    int64_t          dig_exp;
    size_t           dig_n;
    char             dig[TOKENROUTE_SKIM_DIG_INLINE + 24];

    unsigned char    stack[TOKENROUTE_SKIM_STACK];
} tokenroute_skim_t;


/*
 * shape is TOKENROUTE_SHAPE_OPENAI or TOKENROUTE_SHAPE_ANTHROPIC; stream is 1
 * for an SSE event's data (everything is looked for) and 0 for a whole
 * response body (only the top-level "usage" and "error").
 */
void tokenroute_skim_init(tokenroute_skim_t *sk, int shape, int stream);

/*
 * feed returns 0, or -1 once the text is not JSON (and on every later
 * call); what was found before stays.  finish returns -1 if the text
 * ended early.  free releases what nesting deeper than
 * TOKENROUTE_SKIM_STACK, or a number longer than
 * TOKENROUTE_SKIM_DIG_INLINE digits, took: it is called after init in
 * any case.
 */
int tokenroute_skim_feed(tokenroute_skim_t *sk, const char *p, size_t len);
int tokenroute_skim_finish(tokenroute_skim_t *sk);
void tokenroute_skim_free(tokenroute_skim_t *sk);

/*
 * Shortcuts for what most of a stream is, the skimmer's result without
 * its state.  An Anthropic content_block_delta in the exact shape
 * Anthropic sends: returns the length of its text, or -1 if data is
 * anything else.
 */
int64_t tokenroute_skim_delta(const char *data, size_t len);

/*
 * An OpenAI content chunk as OpenAI sends it: returns 0 and sets *bytes
 * (the length of its content) and *finish (a finish_reason string), or
 * returns -1 if data is anything else.
 */
int tokenroute_skim_chunk(const char *data, size_t len, int64_t *bytes,
    int *finish);
int tokenroute_skim_chunk_text(const char *data, size_t len, int64_t *bytes,
    int *finish, const char **text);

/*
 * The same, and the bytes at its start that nothing is read from (*pre,
 * if pre is not NULL): "{" and top-level members with plain values and
 * keys not looked for, each with its comma.  Another chunk that starts
 * with the same bytes may be read from there (from = *pre) to the same
 * result, and a skimmer fed TOKENROUTE_SKIM_PREFIX instead of them reads
 * the rest as it would have after them.  from is 0 otherwise.
 */
int tokenroute_skim_chunk_from(const char *data, size_t len, size_t from,
    int64_t *bytes, int *finish, const char **text, size_t *pre);

#define TOKENROUTE_SKIM_PREFIX  "{\"\":0,"

/*
 * The same for any chunk of that compact shape, a usage chunk too
 * ("choices": [], "usage": an object of plain values and of objects of
 * them): returns 0 and sets what the skimmer (stream 1) would find in the
 * public fields of *sk (and its shape and stream: what
 * tokenroute_usage_skimmed() reads), or returns -1.
 */
int tokenroute_skim_chunk_read(const char *data, size_t len, size_t from,
    tokenroute_skim_t *sk, const char **text, size_t *pre);


/*
 * A whole body (stream 0) read by a skimmer fed it from its start, that
 * was not read by the template of an earlier body
 * (tokenroute_skim_body.c), when there is none or the body before was
 * not read by it either: it is to be learned, if the skimmer accepts
 * it.  learn keeps it as its API's template in this process (a body
 * that cannot be one leaves none); forget drops both.
 */
#define tokenroute_skim_body_new(sk)    ((sk)->body == 2)

/* ... and one that was (for tests) */
#define tokenroute_skim_body_used(sk)   ((sk)->body == 1)

void tokenroute_skim_body_learn(int shape, const char *body, size_t len);
void tokenroute_skim_body_forget(void);


#endif /* _TOKENROUTE_SKIM_H_INCLUDED_ */
