
/*
 * Copyright (C) tokenroute authors
 */


#ifndef _TOKENROUTE_TRANSLATE_STREAM_TAP_H_INCLUDED_
#define _TOKENROUTE_TRANSLATE_STREAM_TAP_H_INCLUDED_


#include "tokenroute_translate_response.h"
#include "tokenroute_usage.h"


/*
 * For a stream's tap, during its call: what tokenroute_usage_event()
 * would do with the event, done without reading it again when the
 * translator read it (tap_bytes >= 0): *u updated, and its flags
 * returned; or -1: the event is the usage reader's to read.
 */
int tokenroute_stream_tap_usage(const tokenroute_stream_t *st,
    tokenroute_usage_t *u);


#endif /* _TOKENROUTE_TRANSLATE_STREAM_TAP_H_INCLUDED_ */
