/*
 * Copyright (C) tokenroute authors
 *
 * The JSON tree: a parser of our own appends linked values in the tree's
 * chunks, lookups walk a map's members, and the writer walks the tree
 * without recursion.
 *
 * The parser takes and refuses exactly what yajl_parse() and
 * yajl_complete_parse() do with a yajl_number callback (numbers kept as
 * text, never converted) and the tree's validate flag as yajl's
 * yajl_dont_validate_strings turned around; t/unit/json_tree_diff.c holds
 * it to the yajl-based tree (t/unit/ref/json_tree_ref.c).  yajl's ways
 * kept: \v and \f are whitespace; after the value, whitespace and then a
 * string left open to the end are let through; UTF-8 is checked by the
 * shape of its sequences only.  One pass, no recursion, no allocation
 * besides the tree's chunks: yajl's handle, lexer and callbacks cost
 * five times as much.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_json_esc.h"
#include "tokenroute_json_tree.h"
#include "tokenroute_json_value.h"


#define TOKENROUTE_JSON_CHUNK   8192
#define TOKENROUTE_JSON_ALIGN   sizeof(void *)

/* byte classes (the ends of plain string runs: tokenroute_json_esc.h) */
#define TR_TREE_SPACE    0x01
#define TR_TREE_ESCAPE   0x08        /* may follow a backslash, but 'u' */
#define TR_TREE_HEX      0x10


static const unsigned char  tr_tree_class[256] = {
    /* controls: \t \n \v \f \r are whitespace */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* ' ', '"', '/' */
    1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8,
    /* digits */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0,
    /* 'A' - 'F' */
    0, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0,
    /* 'a' - 'f' with the 'b' and 'f' escapes, 'n' */
    0, 16, 24, 16, 16, 16, 24, 0, 0, 0, 0, 0, 0, 0, 8, 0,
    /* 'r', 't' */
    0, 0, 8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80 - 0xff */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


/* what a string lexed to */
#define TR_TREE_STR_OK       0
#define TR_TREE_STR_BAD      1        /* invalid inside */
#define TR_TREE_STR_OPEN     2        /* no closing quote before the end */
#define TR_TREE_STR_CUT      3        /* the end inside an escape or a
                                         UTF-8 sequence */


static TOKENROUTE_JSON_INLINE const unsigned char *
    tokenroute_json_tree_space(const unsigned char *p,
    const unsigned char *last);
static TOKENROUTE_JSON_INLINE int tokenroute_json_tree_string(
    tokenroute_json_tree_t *j, const unsigned char **pp,
    const unsigned char *last, const char **s, size_t *len);
static inline const unsigned char *tokenroute_json_tree_literal(
    const unsigned char *p, const unsigned char *last, yajl_type *type);
static int tokenroute_json_tree_lex(const unsigned char **pp,
    const unsigned char *last, unsigned validate, unsigned *escaped);
static int tokenroute_json_tree_open_ok(const unsigned char *p,
    const unsigned char *last, unsigned validate);
static const unsigned char *tokenroute_json_tree_number(
    const unsigned char *p, const unsigned char *last);
static inline const unsigned char *tokenroute_json_tree_digits(
    const unsigned char *p, const unsigned char *last);
static inline char *tokenroute_json_tree_text(tokenroute_json_tree_t *j,
    const unsigned char *p, const unsigned char *last, unsigned escaped,
    size_t *len);
static inline tokenroute_json_node_t *tokenroute_json_tree_node(
    tokenroute_json_tree_t *j, yajl_type type);
static inline void *tokenroute_json_tree_alloc(tokenroute_json_tree_t *j,
    size_t size);


int
tokenroute_json_tree_parse(tokenroute_json_tree_t *j, const char *text,
    size_t len, yajl_alloc_funcs *af)
{
    int                       rc;
    size_t                    n;
    yajl_type                 type;
    const char               *s;
    const unsigned char      *p, *last, *start;
    tokenroute_json_node_t   *nd, *cur;
    tokenroute_json_chunk_t  *c;

    /* af was yajl's allocator: no parse needs one any more */
    (void) af;

    /* the chunks of the document before are reused */

    for (c = j->chunks; c != NULL; c = c->next) {
        c->used = 0;
    }

    j->chunk = j->chunks;
    j->root = NULL;
    j->cur = NULL;
    j->depth = 0;
    j->oom = 0;
    j->deep = 0;

    p = (const unsigned char *) text;
    last = p + len;
    cur = NULL;

value:

    /* a value: at the top, after '[', ',' in an array, or ':' */

    p = tokenroute_json_tree_space(p, last);

    if (p == last) {
        return -1;
    }

    switch (*p) {

    case '{':
    case '[':
        if (++j->depth > j->max_depth && j->max_depth != 0) {
            j->deep = 1;
            return -3;
        }

        nd = tokenroute_json_tree_node(j, (*p == '{')
                                          ? TOKENROUTE_JSON_T_MAP
                                          : TOKENROUTE_JSON_T_ARRAY);
        if (nd == NULL) {
            return -2;
        }

        cur = nd;
        j->cur = nd;

        p = tokenroute_json_tree_space(p + 1, last);

        if (p == last) {
            return -1;
        }

        if (*p == ((nd->type == TOKENROUTE_JSON_T_MAP) ? '}' : ']')) {
            p++;
            goto close;
        }

        if (nd->type == TOKENROUTE_JSON_T_MAP) {
            goto key;
        }

        goto value;

    case '"':
        rc = tokenroute_json_tree_string(j, &p, last, &s, &n);
        if (rc != 0) {
            return rc;
        }

        nd = tokenroute_json_tree_node(j, TOKENROUTE_JSON_T_STRING);
        if (nd == NULL) {
            return -2;
        }

        nd->str = s;
        nd->len = n;
        break;

    case 't':
    case 'f':
    case 'n':
        p = tokenroute_json_tree_literal(p, last, &type);
        if (p == NULL) {
            return -1;
        }

        if (tokenroute_json_tree_node(j, type) == NULL) {
            return -2;
        }

        break;

    default:
        start = p;
        p = tokenroute_json_tree_number(p, last);
        if (p == NULL) {
            return -1;
        }

        nd = tokenroute_json_tree_node(j, TOKENROUTE_JSON_T_NUMBER);
        if (nd == NULL) {
            return -2;
        }

        nd->str = tokenroute_json_tree_text(j, start, p, 0, &nd->len);
        if (nd->str == NULL) {
            return -2;
        }

        break;
    }

next:

    /* after a value: ',' or the close of the container, or the end */

    if (cur == NULL) {
        goto done;
    }

    p = tokenroute_json_tree_space(p, last);

    if (p == last) {
        return -1;
    }

    if (*p == ',') {
        p++;

        if (cur->type == TOKENROUTE_JSON_T_MAP) {
            goto key;
        }

        goto value;
    }

    if (*p != ((cur->type == TOKENROUTE_JSON_T_MAP) ? '}' : ']')) {
        return -1;
    }

    p++;

close:

    j->depth--;
    cur = cur->parent;
    j->cur = cur;

    goto next;

key:

    p = tokenroute_json_tree_space(p, last);

    if (p == last || *p != '"') {
        return -1;
    }

    rc = tokenroute_json_tree_string(j, &p, last, &j->key, &j->key_len);
    if (rc != 0) {
        return rc;
    }

    p = tokenroute_json_tree_space(p, last);

    if (p == last || *p != ':') {
        return -1;
    }

    p++;

    goto value;

done:

    /*
     * After the value: whitespace, or yajl's leniency, a string still
     * open at the end (yajl_complete_parse() feeds it one more space)
     */

    p = tokenroute_json_tree_space(p, last);

    if (p < last
        && (*p != '"'
            || !tokenroute_json_tree_open_ok(p + 1, last, j->validate)))
    {
        return -1;
    }

    return 0;
}


/* the first byte from p on that is not whitespace, or last */

static TOKENROUTE_JSON_INLINE const unsigned char *
tokenroute_json_tree_space(const unsigned char *p, const unsigned char *last)
{
    while (p < last && (tr_tree_class[*p] & TR_TREE_SPACE)) {
        p++;
    }

    return p;
}


/*
 * A string, keys' and values' alike, from its opening quote at *pp: its
 * text decoded into *s and *len, *pp after its closing quote; 0, -1 if
 * it is invalid or open to the end, -2 if out of memory.
 */

static TOKENROUTE_JSON_INLINE int
tokenroute_json_tree_string(tokenroute_json_tree_t *j,
    const unsigned char **pp, const unsigned char *last, const char **s,
    size_t *len)
{
    unsigned              escaped;
    const unsigned char  *p, *start;

    start = *pp + 1;

    /* most strings are a plain run to their closing quote */

    p = tokenroute_json_plain(start, last,
                              TOKENROUTE_JSON_STOP
                              | (j->validate ? TOKENROUTE_JSON_HIGH : 0));
    escaped = 0;

    if ((p == last || *p != '"')
        && tokenroute_json_tree_lex(&p, last, j->validate, &escaped)
           != TR_TREE_STR_OK)
    {
        return -1;
    }

    *s = tokenroute_json_tree_text(j, start, p, escaped, len);
    if (*s == NULL) {
        return -2;
    }

    *pp = p + 1;

    return 0;
}


/* true, false or null at p (its first letter known): its end, or NULL */

static inline const unsigned char *
tokenroute_json_tree_literal(const unsigned char *p, const unsigned char *last,
    yajl_type *type)
{
    size_t       n;
    const char  *lit;

    if (*p == 't') {
        lit = "true";
        *type = TOKENROUTE_JSON_T_TRUE;

    } else if (*p == 'f') {
        lit = "false";
        *type = TOKENROUTE_JSON_T_FALSE;

    } else {
        lit = "null";
        *type = TOKENROUTE_JSON_T_NULL;
    }

    n = (*p == 'f') ? 5 : 4;

    if ((size_t) (last - p) < n || memcmp(p, lit, n) != 0) {
        return NULL;
    }

    return p + n;
}


/*
 * Lexes a string from *pp, just after its opening quote, as yajl's lexer:
 * on TR_TREE_STR_OK *pp is at the closing quote; *escaped tells whether
 * it has backslashes.  Like yajl's, the scan goes in order: the first
 * invalid byte or the end, whichever comes first, decides.
 */

static int
tokenroute_json_tree_lex(const unsigned char **pp, const unsigned char *last,
    unsigned validate, unsigned *escaped)
{
    int                   i;
    unsigned              mask, cls;
    const unsigned char  *p;
    unsigned char         c;

    p = *pp;
    *escaped = 0;
    mask = TOKENROUTE_JSON_STOP | (validate ? TOKENROUTE_JSON_HIGH : 0);

    for ( ;; ) {

        p = tokenroute_json_plain(p, last, mask);

        if (p == last) {
            *pp = p;
            return TR_TREE_STR_OPEN;
        }

        c = *p;

        if (c == '"') {
            *pp = p;
            return TR_TREE_STR_OK;
        }

        if (c == '\\') {
            *escaped = 1;

            if (++p == last) {
                return TR_TREE_STR_CUT;
            }

            if (*p == 'u') {
                for (i = 0; i < 4; i++) {
                    if (++p == last) {
                        return TR_TREE_STR_CUT;
                    }

                    if (!(tr_tree_class[*p] & TR_TREE_HEX)) {
                        return TR_TREE_STR_BAD;
                    }
                }

            } else if (!(tr_tree_class[*p] & TR_TREE_ESCAPE)) {
                return TR_TREE_STR_BAD;
            }

            p++;
            continue;
        }

        if (c < 0x20) {
            return TR_TREE_STR_BAD;
        }

        /* validating: a UTF-8 sequence by its shape, as yajl */

        if ((c >> 5) == 0x6) {
            cls = 1;

        } else if ((c >> 4) == 0xe) {
            cls = 2;

        } else if ((c >> 3) == 0x1e) {
            cls = 3;

        } else {
            return TR_TREE_STR_BAD;
        }

        for (p++; cls > 0; cls--, p++) {
            if (p == last) {
                return TR_TREE_STR_CUT;
            }

            if ((*p >> 6) != 0x2) {
                return TR_TREE_STR_BAD;
            }
        }
    }
}


/*
 * A string open to the end of the text after the value, [p, last): yajl
 * lets it through if it is valid so far and the space that
 * yajl_complete_parse() adds neither closes nor breaks it, as it would
 * inside an escape or a UTF-8 sequence.
 */

static int
tokenroute_json_tree_open_ok(const unsigned char *p, const unsigned char *last,
    unsigned validate)
{
    unsigned  escaped;

    return tokenroute_json_tree_lex(&p, last, validate, &escaped)
           == TR_TREE_STR_OPEN;
}


/*
 * A number as yajl's lexer reads one: its end, or NULL.  yajl stops at
 * the first byte that cannot continue it; what follows is the next
 * token's business.
 */

static const unsigned char *
tokenroute_json_tree_number(const unsigned char *p, const unsigned char *last)
{
    if (*p == '-') {
        p++;
    }

    if (p == last) {
        return NULL;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        p = tokenroute_json_tree_digits(p, last);

    } else {
        return NULL;
    }

    if (p < last && *p == '.') {
        p = tokenroute_json_tree_digits(p + 1, last);
        if (p == NULL) {
            return NULL;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        p = tokenroute_json_tree_digits(p, last);
    }

    return p;
}


/* a run of one digit or more from p: its end, or NULL */

static inline const unsigned char *
tokenroute_json_tree_digits(const unsigned char *p, const unsigned char *last)
{
    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    do {
        p++;
    } while (p < last && *p >= '0' && *p <= '9');

    return p;
}


/* from the current chunk when it has room, else as tokenroute_json_alloc() */

static inline void *
tokenroute_json_tree_alloc(tokenroute_json_tree_t *j, size_t size)
{
    char                     *p;
    tokenroute_json_chunk_t  *c;

    size = (size + TOKENROUTE_JSON_ALIGN - 1) & ~(TOKENROUTE_JSON_ALIGN - 1);
    c = j->chunk;

    if (c != NULL && c->size - c->used >= size) {
        p = (char *) (c + 1) + c->used;
        c->used += size;
        return p;
    }

    p = tokenroute_json_alloc(&j->chunks, &j->chunk, size);
    if (p == NULL) {
        j->oom = 1;
    }

    return p;
}


/* a NUL-terminated copy of [p, last), decoded if escaped, in the chunks */

static inline char *
tokenroute_json_tree_text(tokenroute_json_tree_t *j, const unsigned char *p,
    const unsigned char *last, unsigned escaped, size_t *len)
{
    char    *s;
    size_t   n;

    n = last - p;

    /* decoding never lengthens: an escape is longer than what it gives */

    s = tokenroute_json_tree_alloc(j, n + 1);
    if (s == NULL) {
        return NULL;
    }

    if (escaped) {
        n = tokenroute_json_unescape(p, last, (unsigned char *) s, n);

    } else if (n >= 8 && n <= 16) {
        /* most keys and short values: two fixed copies that overlap */
        memcpy(s, p, 8);
        memcpy(s + n - 8, p + n - 8, 8);

    } else if (n >= 4 && n < 8) {
        memcpy(s, p, 4);
        memcpy(s + n - 4, p + n - 4, 4);

    } else if (n != 0) {
        memcpy(s, p, n);
    }

    s[n] = '\0';
    *len = n;

    return s;
}


/* a new value, linked at the end of the open container */

static inline tokenroute_json_node_t *
tokenroute_json_tree_node(tokenroute_json_tree_t *j, yajl_type type)
{
    tokenroute_json_node_t  *nd, *parent;

    nd = tokenroute_json_tree_alloc(j, sizeof(tokenroute_json_node_t));
    if (nd == NULL) {
        return NULL;
    }

    memset(nd, 0, sizeof(tokenroute_json_node_t));
    nd->type = type;

    parent = j->cur;

    if (parent == NULL) {
        j->root = nd;
        return nd;
    }

    if (parent->type == TOKENROUTE_JSON_T_MAP) {
        nd->key = j->key;
        nd->key_len = j->key_len;
    }

    nd->parent = parent;

    if (parent->last != NULL) {
        parent->last->next = nd;

    } else {
        parent->first = nd;
    }

    parent->last = nd;
    parent->len++;

    return nd;
}


void
tokenroute_json_tree_free(tokenroute_json_tree_t *j)
{
    tokenroute_json_chunks_free(&j->chunks);

    j->chunk = NULL;
    j->root = NULL;
}


void *
tokenroute_json_alloc(tokenroute_json_chunk_t **head,
    tokenroute_json_chunk_t **cur, size_t size)
{
    char                     *p;
    size_t                    n;
    tokenroute_json_chunk_t  *c, *nc;

    size = (size + TOKENROUTE_JSON_ALIGN - 1) & ~(TOKENROUTE_JSON_ALIGN - 1);

    c = (*cur != NULL) ? *cur : *head;

    while (c != NULL && c->size - c->used < size && c->next != NULL) {
        c = c->next;
    }

    if (c == NULL || c->size - c->used < size) {
        n = (size > TOKENROUTE_JSON_CHUNK) ? size : TOKENROUTE_JSON_CHUNK;

        nc = malloc(sizeof(tokenroute_json_chunk_t) + n);
        if (nc == NULL) {
            return NULL;
        }

        nc->size = n;
        nc->used = 0;
        nc->next = NULL;

        if (c == NULL) {
            *head = nc;

        } else {
            c->next = nc;
        }

        c = nc;
    }

    *cur = c;

    p = (char *) (c + 1) + c->used;
    c->used += size;

    return p;
}


void
tokenroute_json_chunks_free(tokenroute_json_chunk_t **head)
{
    tokenroute_json_chunk_t  *c;

    while (*head != NULL) {
        c = *head;
        *head = c->next;
        free(c);
    }
}


/* the value of key in map n, or NULL */

tokenroute_json_node_t *
tokenroute_json_get(tokenroute_json_node_t *n, const char *key)
{
    size_t                   len;
    tokenroute_json_node_t  *c;

    if (n == NULL || n->type != TOKENROUTE_JSON_T_MAP) {
        return NULL;
    }

    len = strlen(key);

    for (c = n->first; c != NULL; c = c->next) {
        if (c->key_len == len
            && (len == 0 || (c->key[0] == key[0]
                             && memcmp(c->key, key, len) == 0)))
        {
            return c;
        }
    }

    return NULL;
}


int
tokenroute_json_str(tokenroute_json_node_t *n, const char **s, size_t *len)
{
    if (n == NULL || n->type != TOKENROUTE_JSON_T_STRING) {
        return 0;
    }

    *s = n->str;
    *len = n->len;

    return 1;
}


int64_t
tokenroute_json_int(tokenroute_json_node_t *n, int64_t dflt)
{
    char        *end;
    double       d;
    int64_t      r;
    long long    v;
    const char  *s;

    if (n == NULL || n->type != TOKENROUTE_JSON_T_NUMBER) {
        return dflt;
    }

    s = n->str;

    /* most counts, without strtoll() */

    if (tokenroute_json_small_int(s, n->len, &r)) {
        return r;
    }

    v = strtoll(s, &end, 10);

    if (*end == '\0') {
        return v;
    }

    /* 12.0, 1e3 */

    d = strtod(s, &end);

    if (*end != '\0' || d != d) {
        return dflt;
    }

    if (d >= 9.2e18) {
        return INT64_MAX;
    }

    if (d <= -9.2e18) {
        return INT64_MIN;
    }

    return (int64_t) d;
}


/* compact JSON of the value top; iterative, as inputs nest arbitrarily */

void
tokenroute_json_tree_write(tokenroute_json_buf_t *b,
    tokenroute_json_node_t *top)
{
    tokenroute_json_node_t  *n;

    n = top;

    for ( ;; ) {

        if (n != top && n->parent->type == TOKENROUTE_JSON_T_MAP) {
            tokenroute_json_add_str(b, n->key, n->key_len);
            tokenroute_json_add_lit(b, ":");
        }

        switch (n->type) {

        case TOKENROUTE_JSON_T_NULL:
            tokenroute_json_add_lit(b, "null");
            break;

        case TOKENROUTE_JSON_T_FALSE:
            tokenroute_json_add_lit(b, "false");
            break;

        case TOKENROUTE_JSON_T_TRUE:
            tokenroute_json_add_lit(b, "true");
            break;

        case TOKENROUTE_JSON_T_NUMBER:
            tokenroute_json_add(b, n->str, n->len);
            break;

        case TOKENROUTE_JSON_T_STRING:
            tokenroute_json_add_str(b, n->str, n->len);
            break;

        default:
            tokenroute_json_add(b,
                                (n->type == TOKENROUTE_JSON_T_MAP) ? "{" : "[",
                                1);

            if (n->first != NULL) {
                n = n->first;
                continue;
            }

            tokenroute_json_add(b,
                                (n->type == TOKENROUTE_JSON_T_MAP) ? "}" : "]",
                                1);
            break;
        }

        while (n != top && n->next == NULL) {
            n = n->parent;
            tokenroute_json_add(b,
                                (n->type == TOKENROUTE_JSON_T_MAP) ? "}" : "]",
                                1);
        }

        if (n == top) {
            return;
        }

        tokenroute_json_add_lit(b, ",");
        n = n->next;
    }
}
