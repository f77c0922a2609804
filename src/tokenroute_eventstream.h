
/*
 * Copyright (C) tokenroute authors
 *
 * An incremental decoder of AWS's event-stream framing
 * (application/vnd.amazon.eventstream), the body of Bedrock's
 * InvokeModelWithResponseStream, and its Bedrock layer.
 *
 * A message is a prelude (total length, headers length, both big-endian
 * 32-bit, then the prelude's CRC32), the headers (name length, name,
 * type, value), the payload, and the CRC32 of all that came before.  The
 * decoder is fed the body in pieces split anywhere, checks both CRCs and
 * the lengths, and hands each complete message to es->message.
 *
 * The Bedrock layer (the default es->message): an "event" message of
 * event type "chunk" carries {"bytes":"BASE64"} whose decoding is an
 * Anthropic stream event; it is emitted as the SSE text
 * "event: TYPE\ndata: JSON\n\n".  An "exception" message (or an "error"
 * one) becomes Anthropic's "event: error" with the type of error the
 * exception means.  Other event types are skipped.
 *
 * Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_EVENTSTREAM_H_INCLUDED_
#define _TOKENROUTE_EVENTSTREAM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tokenroute_json_out.h"


#define TOKENROUTE_ES_PRELUDE_LEN   12
#define TOKENROUTE_ES_MIN_LEN       16

/* AWS's own limits (aws-c-event-stream): a message, its headers */
#define TOKENROUTE_ES_MAX_MESSAGE   (16 * 1024 * 1024)
#define TOKENROUTE_ES_MAX_HEADERS   (128 * 1024)

/* headers up to this long are remembered from one message to the next */
#define TOKENROUTE_ES_MEMO_LEN      128

/* header value types */
#define TOKENROUTE_ES_TRUE          0
#define TOKENROUTE_ES_FALSE         1
#define TOKENROUTE_ES_BYTE          2
#define TOKENROUTE_ES_INT16         3
#define TOKENROUTE_ES_INT32         4
#define TOKENROUTE_ES_INT64         5
#define TOKENROUTE_ES_BYTES         6
#define TOKENROUTE_ES_STRING        7
#define TOKENROUTE_ES_TIMESTAMP     8
#define TOKENROUTE_ES_UUID          9


typedef struct tokenroute_eventstream_s  tokenroute_eventstream_t;

/*
 * Called once per complete SSE text (one event, ending in a blank line).
 * Returns 0 to continue or -1 to stop: feed() then returns -1.
 */
typedef int (*tokenroute_eventstream_emit_pt)(void *data, const char *text,
    size_t len);

/*
 * Called once per complete message whose CRCs and lengths are right:
 * headers is [headers, headers + headers_len), walked with
 * tokenroute_eventstream_header_next().  Returns 0, or -1 with es->error
 * set.
 */
typedef int (*tokenroute_eventstream_message_pt)(tokenroute_eventstream_t *es,
    const u_char *headers, size_t headers_len, const u_char *payload,
    size_t payload_len);


/* one header: a number's value is in num, bytes' and a string's in value */
typedef struct {
    const u_char                      *name;
    size_t                             name_len;
    unsigned                           type;
    const u_char                      *value;
    size_t                             value_len;
    int64_t                            num;
} tokenroute_eventstream_header_t;


/* the fields are private; the struct is public so callers can embed it */
struct tokenroute_eventstream_s {
    tokenroute_eventstream_message_pt  message;
    tokenroute_eventstream_emit_pt     emit;
    void                              *data;

    u_char                            *buf;        /* a message in pieces */
    size_t                             len;
    size_t                             size;
    size_t                             need;       /* its total length */
    size_t                             max_message;

    tokenroute_json_buf_t              out;        /* the SSE text */

    uint64_t                           messages;   /* decoded so far */
    const char                        *error;      /* why it failed */

    /*
     * The headers of the message before, found well formed: the same
     * bytes again (Bedrock repeats them for every chunk) need no walk.
     * same: this message's are those; chunk: the Bedrock layer found
     * them a chunk's.
     */
    u_char                             last_headers[TOKENROUTE_ES_MEMO_LEN];
    size_t                             last_headers_len;
    unsigned                           last_headers_same:1;
    unsigned                           last_headers_chunk:1;
};


/* returns 0, or -1 if out of memory; max_message 0: the 16 MB limit */
int tokenroute_eventstream_init(tokenroute_eventstream_t *es,
    size_t max_message, tokenroute_eventstream_emit_pt emit, void *data);

/*
 * Consumes n bytes, split anywhere.  Returns 0, or -1 if the stream is
 * malformed, the emit callback stopped or memory ran out (es->error
 * says which); then -1 on every later call.
 */
int tokenroute_eventstream_feed(tokenroute_eventstream_t *es,
    const u_char *p, size_t n);

/* at the body's end: 0, or -1 if it was cut in the middle of a message */
int tokenroute_eventstream_finish(tokenroute_eventstream_t *es);

void tokenroute_eventstream_free(tokenroute_eventstream_t *es);

/*
 * The next header of [*pp, end): 1 and *pp moved past it, 0 at the end,
 * -1 if malformed (a zero-length name, an unknown type, a value past the
 * end).
 */
int tokenroute_eventstream_header_next(const u_char **pp, const u_char *end,
    tokenroute_eventstream_header_t *h);

/* CRC-32 (ISO-HDLC, zlib's): crc is 0 or the CRC of the bytes before */
uint32_t tokenroute_eventstream_crc32(uint32_t crc, const u_char *p,
    size_t n);

/* the Bedrock layer, the default es->message */
int tokenroute_eventstream_bedrock(tokenroute_eventstream_t *es,
    const u_char *headers, size_t headers_len, const u_char *payload,
    size_t payload_len);


#endif /* _TOKENROUTE_EVENTSTREAM_H_INCLUDED_ */
