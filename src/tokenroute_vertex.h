
/*
 * Copyright (C) tokenroute authors
 *
 * The body Claude on Vertex AI takes: Anthropic's Messages request with
 * no "model" (the URL names it) and "anthropic_version" in the body
 * rather than a header.  Plain C with yajl: no nginx dependency.
 */


#ifndef _TOKENROUTE_VERTEX_H_INCLUDED_
#define _TOKENROUTE_VERTEX_H_INCLUDED_


#include <stddef.h>


#define TOKENROUTE_VERTEX_VERSION  "vertex-2023-10-16"


/*
 * A Messages request (a JSON object) rewritten for Vertex into a
 * malloc()ed *out: "anthropic_version" first, then every member but
 * "model" and any "anthropic_version" the body had, as they were.  0, -1
 * if in is not a JSON object, -2 out of memory.
 */
int tokenroute_vertex_body(const char *in, size_t len, char **out,
    size_t *out_len);


#endif /* _TOKENROUTE_VERTEX_H_INCLUDED_ */
