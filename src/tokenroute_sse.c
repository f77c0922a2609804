
/*
 * Copyright (C) tokenroute authors
 *
 * The Server-Sent Events splitter: a BOM skipped, lines split on CR, LF
 * or CRLF across pieces, "data" lines joined and "event" kept, and the
 * handler called at each blank line.  Lending (tokenroute_sse_lend()),
 * the data of an event that is one "data" line, whole in the piece fed,
 * is not copied: it is pointed to (sse->lent) until the event ends, and
 * copied only if a second line follows or the piece ends first.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_sse.h"


#define TR_SSE_LF           '\n'
#define TR_SSE_CR           '\r'

#define TR_SSE_FIELD_OTHER  0
#define TR_SSE_FIELD_DATA   1
#define TR_SSE_FIELD_EVENT  2

/* sse->bom counts the BOM bytes matched; this ends the check */
#define TR_SSE_BOM_DONE     3


static int tokenroute_sse_parse(tokenroute_sse_t *sse, const char *p,
    size_t len);
static const char *tokenroute_sse_line(tokenroute_sse_t *sse,
    const char *p, const char *last, const char **cr);
static const char *tokenroute_sse_eol(tokenroute_sse_t *sse, const char *p,
    const char *last, const char **cr);
static int tokenroute_sse_field(tokenroute_sse_t *sse);
static int tokenroute_sse_append(tokenroute_sse_t *sse, const char *p,
    size_t n);
static int tokenroute_sse_keep(tokenroute_sse_t *sse);
static int tokenroute_sse_dispatch(tokenroute_sse_t *sse);


static const char  tokenroute_sse_bom[] = "\xEF\xBB\xBF";


int
tokenroute_sse_init(tokenroute_sse_t *sse, size_t max_data,
    tokenroute_sse_event_pt handler, void *ctx)
{
    memset(sse, 0, sizeof(tokenroute_sse_t));

    /* keeps max_data + 1 and the doubling in tokenroute_sse_append() exact */
    if (max_data > SIZE_MAX / 4) {
        max_data = SIZE_MAX / 4;
    }

    sse->max_data = max_data;
    sse->handler = handler;
    sse->ctx = ctx;

    return 0;
}


int
tokenroute_sse_feed(tokenroute_sse_t *sse, const char *p, size_t len)
{
    unsigned  n;

    if (sse->failed) {
        return -1;
    }

    if (sse->bom != TR_SSE_BOM_DONE) {

        while (len > 0 && *p == tokenroute_sse_bom[sse->bom]) {
            p++;
            len--;

            if (++sse->bom == TR_SSE_BOM_DONE) {
                break;
            }
        }

        if (sse->bom != TR_SSE_BOM_DONE) {

            if (len == 0) {
                /* a BOM may yet complete */
                return 0;
            }

            /* not a BOM after all: the bytes matched so far are text */

            n = sse->bom;
            sse->bom = TR_SSE_BOM_DONE;

            if (n > 0 && tokenroute_sse_parse(sse, tokenroute_sse_bom, n) != 0)
            {
                return -1;
            }
        }
    }

    return tokenroute_sse_parse(sse, p, len);
}


void
tokenroute_sse_lend(tokenroute_sse_t *sse)
{
    sse->lend = 1;
}


void
tokenroute_sse_line_end(tokenroute_sse_t *sse, tokenroute_sse_line_pt line)
{
    sse->line = line;
}


size_t
tokenroute_sse_pending(tokenroute_sse_t *sse)
{
    return sse->pending;
}


void
tokenroute_sse_free(tokenroute_sse_t *sse)
{
    free(sse->data);

    sse->data = NULL;
    sse->data_size = 0;
    sse->data_len = 0;
}


static int
tokenroute_sse_parse(tokenroute_sse_t *sse, const char *p, size_t len)
{
    char         ch;
    size_t       n;
    const char  *pos, *last, *start, *q, *cr;
    enum {
        sw_start = 0,
        sw_cr,
        sw_blank_cr,
        sw_comment,
        sw_field,
        sw_value_start,
        sw_value
    } state;

    state = sse->state;

    last = p + len;

    /* the bytes from start to pos belong to the event in progress */
    start = p;

    /* the next CR in the buffer, once looked for */
    cr = NULL;

    for (pos = p; pos < last; pos++) {
        ch = *pos;

        switch (state) {

        /* a CR ended the previous line: a LF right after it is part of it */

        case sw_blank_cr:
            if (ch == TR_SSE_LF) {
                start = pos + 1;
                state = sw_start;
                break;
            }

            /* fall through */

        case sw_cr:
            state = sw_start;

            if (ch == TR_SSE_LF) {
                break;
            }

            /* fall through */

        case sw_start:

            switch (ch) {

            case TR_SSE_LF:
            case TR_SSE_CR:

                /* a blank line ends the event */

                state = (ch == TR_SSE_CR) ? sw_blank_cr : sw_start;

            blank:

                sse->pending = 0;
                start = pos + 1;
                sse->end = start;

                if (tokenroute_sse_dispatch(sse) != 0) {
                    sse->state = state;
                    return -1;
                }

                break;

            case ':':
                state = sw_comment;
                break;

            default:
                q = tokenroute_sse_line(sse, pos, last, &cr);

                if (q == NULL) {
                    goto failed;
                }

                if (q != pos) {
                    /* a whole "data" or "event" line, up to its LF */
                    pos = q;

                    if (last - q < 2 || q[1] != TR_SSE_LF) {
                        break;
                    }

                    /* and the blank line after it, taken here at once */

                    pos++;
                    goto blank;
                }

                sse->name[0] = ch;
                sse->field_len = 1;
                state = sw_field;
                break;
            }

            break;

        case sw_comment:
            q = tokenroute_sse_eol(sse, pos, last, &cr);

            if (q == last) {
                pos = last - 1;
                break;
            }

            pos = q;
            state = (*q == TR_SSE_CR) ? sw_cr : sw_start;
            break;

        case sw_field:

            switch (ch) {

            case ':':
                if (tokenroute_sse_field(sse) != 0) {
                    goto failed;
                }

                state = sw_value_start;
                break;

            case TR_SSE_LF:
            case TR_SSE_CR:

                /* a line without a colon is a field with an empty value */

                if (tokenroute_sse_field(sse) != 0) {
                    goto failed;
                }

                state = (ch == TR_SSE_CR) ? sw_cr : sw_start;
                break;

            default:
                if (sse->field_len < sizeof(sse->name)) {
                    sse->name[sse->field_len++] = ch;
                }

                break;
            }

            break;

        case sw_value_start:
            state = sw_value;

            if (ch == ' ') {
                break;
            }

            /* fall through */

        case sw_value:
            q = tokenroute_sse_eol(sse, pos, last, &cr);

            if (q != pos) {

                if (sse->field == TR_SSE_FIELD_DATA) {
                    if (tokenroute_sse_append(sse, pos, q - pos) != 0) {
                        goto failed;
                    }

                } else if (sse->field == TR_SSE_FIELD_EVENT) {
                    n = q - pos;

                    if (n > TOKENROUTE_SSE_EVENT_LEN - sse->event_len) {
                        n = TOKENROUTE_SSE_EVENT_LEN - sse->event_len;
                    }

                    memcpy(sse->event + sse->event_len, pos, n);
                    sse->event_len += n;
                }
            }

            if (q == last) {
                pos = last - 1;
                break;
            }

            pos = q;
            state = (*q == TR_SSE_CR) ? sw_cr : sw_start;
            break;
        }
    }

    sse->pending += last - start;
    sse->state = state;

    /* the piece is the caller's only during this call */

    if (sse->lent != NULL && tokenroute_sse_keep(sse) != 0) {
        sse->failed = 1;
        return -1;
    }

    return 0;

failed:

    sse->failed = 1;
    sse->state = state;

    return -1;
}


/*
 * Most lines are "data: ..." or "event: ...", whole in the buffer and
 * ending with a LF: such a line is taken at once.  Returns where its LF
 * is, p if the line is to be read byte by byte, or NULL if memory ran
 * out.
 */

static const char *
tokenroute_sse_line(tokenroute_sse_t *sse, const char *p, const char *last,
    const char **cr)
{
    size_t       n;
    const char  *lf, *v;

    if (last - p < 6) {
        return p;
    }

    if (memcmp(p, "data:", 5) == 0) {
        /* p + 5 < last: a space there is not the line's end */
        v = p + 5;
        v += (*v == ' ');

        if (sse->line != NULL) {
            lf = sse->line(sse->ctx, v, last);

            if (lf != NULL) {
                goto data;
            }
        }

        lf = tokenroute_sse_eol(sse, v, last, cr);

        if (lf == last || *lf != TR_SSE_LF) {
            return p;
        }

        goto data;
    }

    if (memcmp(p, "event:", 6) != 0) {
        return p;
    }

    v = p + 6;
    lf = tokenroute_sse_eol(sse, v, last, cr);

    if (lf == last || *lf != TR_SSE_LF) {
        return p;
    }

    if (v < lf && *v == ' ') {
        v++;
    }

    n = lf - v;

    if (n > TOKENROUTE_SSE_EVENT_LEN) {
        n = TOKENROUTE_SSE_EVENT_LEN;
    }

    memcpy(sse->event, v, n);
    sse->event_len = n;

    return lf;

data:

    if (sse->has_data) {
        if (tokenroute_sse_append(sse, "\n", 1) != 0) {
            return NULL;
        }

    } else if (sse->lend && (size_t) (lf - v) <= sse->max_data) {
        /* the commonest event: its one line, pointed to where it lies */
        sse->has_data = 1;
        sse->lent = v;
        sse->data_len = lf - v;
        return lf;
    }

    sse->has_data = 1;

    if (v < lf && tokenroute_sse_append(sse, v, lf - v) != 0) {
        return NULL;
    }

    return lf;
}


/*
 * Finds the first CR or LF in p..last, or returns last: memchr() scans a
 * word or a vector at a time.  Most streams have no CR at all: the next
 * one in the buffer is looked for once (in *cr), not once a line.  With
 * a line hook, which takes most lines, the few that come here are looked
 * through for a CR up to their LF only, not the piece to its end.
 */

static const char *
tokenroute_sse_eol(tokenroute_sse_t *sse, const char *p, const char *last,
    const char **cr)
{
    const char  *lf, *c;

    if (sse->line != NULL) {
        lf = memchr(p, TR_SSE_LF, last - p);

        if (lf == NULL) {
            lf = last;
        }

        c = memchr(p, TR_SSE_CR, lf - p);

        return (c != NULL) ? c : lf;
    }

    if (*cr == NULL || *cr < p) {
        *cr = memchr(p, TR_SSE_CR, last - p);

        if (*cr == NULL) {
            *cr = last;
        }
    }

    lf = memchr(p, TR_SSE_LF, *cr - p);

    return (lf != NULL) ? lf : *cr;
}


static int
tokenroute_sse_field(tokenroute_sse_t *sse)
{
    if (sse->field_len == 4 && memcmp(sse->name, "data", 4) == 0) {
        sse->field = TR_SSE_FIELD_DATA;

        if (sse->has_data) {
            return tokenroute_sse_append(sse, "\n", 1);
        }

        sse->has_data = 1;

    } else if (sse->field_len == 5 && memcmp(sse->name, "event", 5) == 0) {
        sse->field = TR_SSE_FIELD_EVENT;
        sse->event_len = 0;

    } else {
        /* "id", "retry" and unknown fields are ignored */
        sse->field = TR_SSE_FIELD_OTHER;
    }

    return 0;
}


static int
tokenroute_sse_append(tokenroute_sse_t *sse, const char *p, size_t n)
{
    char    *data;
    size_t   size;

    if (sse->lent != NULL && tokenroute_sse_keep(sse) != 0) {
        return -1;
    }

    if (n > sse->max_data - sse->data_len) {
        n = sse->max_data - sse->data_len;
        sse->truncated = 1;

        if (n == 0) {
            return 0;
        }
    }

    if (sse->data_len + n >= sse->data_size) {
        size = sse->data_size ? sse->data_size * 2 : TOKENROUTE_SSE_INIT_SIZE;

        while (size <= sse->data_len + n) {
            size *= 2;
        }

        if (size > sse->max_data + 1) {
            size = sse->max_data + 1;
        }

        data = realloc(sse->data, size);
        if (data == NULL) {
            return -1;
        }

        sse->data = data;
        sse->data_size = size;
    }

    memcpy(sse->data + sse->data_len, p, n);
    sse->data_len += n;

    return 0;
}


/* lent data copied into the buffer: a line follows, or the piece ends */

static int
tokenroute_sse_keep(tokenroute_sse_t *sse)
{
    size_t       n;
    const char  *p;

    p = sse->lent;
    n = sse->data_len;

    sse->lent = NULL;
    sse->data_len = 0;

    /* n <= max_data: nothing is cut; an empty line allocates nothing */

    if (n == 0) {
        return 0;
    }

    return tokenroute_sse_append(sse, p, n);
}


static int
tokenroute_sse_dispatch(tokenroute_sse_t *sse)
{
    int          rc;
    const char  *data;

    rc = 0;

    if (sse->has_data) {
        sse->event[sse->event_len] = '\0';

        if (sse->lent != NULL) {
            data = sse->lent;

        } else if (sse->data != NULL) {
            sse->data[sse->data_len] = '\0';
            data = sse->data;

        } else {
            /* no byte of data yet: nothing allocated */
            data = "";
        }

        rc = sse->handler(sse->ctx, sse->event_len ? sse->event : NULL,
                          sse->event_len, data, sse->data_len,
                          sse->truncated);
    }

    /* the event name does not outlive its event, dispatched or not */

    sse->lent = NULL;
    sse->data_len = 0;
    sse->event_len = 0;
    sse->has_data = 0;
    sse->truncated = 0;

    if (rc != 0) {
        sse->failed = 1;
        return -1;
    }

    return 0;
}
