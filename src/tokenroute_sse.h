
/*
 * Copyright (C) tokenroute authors
 *
 * An incremental Server-Sent Events splitter (WHATWG EventSource parsing
 * rules): fed a response body in pieces of any size, it calls a handler
 * once per complete event with the joined "data" lines and the "event"
 * name.  Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_SSE_H_INCLUDED_
#define _TOKENROUTE_SSE_H_INCLUDED_


#include <stddef.h>


/* longer event names are cut to this many bytes */
#define TOKENROUTE_SSE_EVENT_LEN   64

/*
 * the data buffer allocated first, if max_data allows: a chat event's
 * data (a few hundred bytes) fits; a stream held open keeps it
 */
#define TOKENROUTE_SSE_INIT_SIZE   512


typedef struct tokenroute_sse_s  tokenroute_sse_t;

/*
 * Called once per dispatched event.  data holds the "data" lines joined
 * with "\n" (no trailing newline) and is NUL-terminated at data[data_len]
 * (unless the splitter lends, tokenroute_sse_lend());
 * event is the "event" field's value, NUL-terminated, or NULL with
 * event_len 0 when there was none or it was empty.  truncated is 1 if the
 * data exceeded max_data: data then holds its first max_data bytes.  Both
 * pointers are valid only during the call.  Returns 0 to continue or -1 to
 * stop: tokenroute_sse_feed() then returns -1, now and on every later call.
 */
typedef int (*tokenroute_sse_event_pt)(void *ctx, const char *event,
    size_t event_len, const char *data, size_t data_len, int truncated);


/*
 * Called with the value of a "data" line whole in the piece being fed, at
 * p, the piece ending at last: returns where the line's LF is if it can
 * tell without looking further (no CR or LF before it), or NULL to have
 * the splitter look.  With the handler's ctx.
 */
typedef const char *(*tokenroute_sse_line_pt)(void *ctx, const char *p,
    const char *last);


/* the fields are private; the struct is public so callers can embed it */
struct tokenroute_sse_s {
    tokenroute_sse_event_pt   handler;
    tokenroute_sse_line_pt    line;
    void                     *ctx;

    char                     *data;
    const char               *lent;
    size_t                    data_len;
    size_t                    data_size;
    size_t                    max_data;

    size_t                    pending;
    size_t                    event_len;

    const char               *end;

    unsigned                  state;
    unsigned                  field;
    unsigned                  field_len;
    unsigned                  bom;

    unsigned                  has_data:1;
    unsigned                  truncated:1;
    unsigned                  failed:1;
    unsigned                  lend:1;

    char                      name[8];
    char                      event[TOKENROUTE_SSE_EVENT_LEN + 1];
};


/* returns 0; the data buffer is allocated when an event first needs it */
int tokenroute_sse_init(tokenroute_sse_t *sse, size_t max_data,
    tokenroute_sse_event_pt handler, void *ctx);

/*
 * Consumes len bytes, split anywhere in the stream.  Returns 0, or -1 if
 * the handler stopped or memory ran out.
 */
int tokenroute_sse_feed(tokenroute_sse_t *sse, const char *p, size_t len);

/*
 * The bytes of the current, not yet complete event consumed so far: 0
 * right after an event's closing blank line.
 */
size_t tokenroute_sse_pending(tokenroute_sse_t *sse);

/*
 * Only during a handler's call: where the event ends in the bytes of the
 * current tokenroute_sse_feed() call, just after the line end of its
 * closing blank line (after the CR of a CR LF: the LF, which may come in
 * the next call, is then the first byte of what follows).
 */
static inline const char *
tokenroute_sse_event_end(tokenroute_sse_t *sse)
{
    /* inline: asked at the end of every event */
    return sse->end;
}

/*
 * From now on an event whose data is one "data" line, whole in the bytes
 * of one tokenroute_sse_feed() call, is handed to the handler where it
 * lies in them, not copied: data is then not NUL-terminated (data_len
 * says where it ends), and valid, as always, only during the call.
 */
void tokenroute_sse_lend(tokenroute_sse_t *sse);

/*
 * A hook that finds the end of a "data" line the caller knows the shape
 * of (a stream's content chunks) before the splitter looks for it.
 */
void tokenroute_sse_line_end(tokenroute_sse_t *sse,
    tokenroute_sse_line_pt line);

void tokenroute_sse_free(tokenroute_sse_t *sse);


#endif /* _TOKENROUTE_SSE_H_INCLUDED_ */
