
/*
 * Copyright (C) tokenroute authors
 *
 * Claude on AWS Bedrock: the InvokeModel body made from an Anthropic
 * Messages body (no "model", no "stream", "anthropic_version":
 * "bedrock-2023-05-31", the client's anthropic-beta header as an
 * "anthropic_beta" array) and the model id as a path segment.  Plain C.
 */


#ifndef _TOKENROUTE_BEDROCK_H_INCLUDED_
#define _TOKENROUTE_BEDROCK_H_INCLUDED_


#include <stddef.h>


#define TOKENROUTE_BEDROCK_VERSION  "bedrock-2023-05-31"


/* the most tokenroute_bedrock_body() writes */
size_t tokenroute_bedrock_body_size(size_t len, size_t beta_len);

/*
 * The body of "len" bytes (a JSON object) rewritten into out; beta is the
 * comma-separated anthropic-beta header (beta_len 0: none).  Returns the
 * length written, or 0 when the body is not a JSON object.
 */
size_t tokenroute_bedrock_body(const unsigned char *body, size_t len,
    const char *beta, size_t beta_len, unsigned char *out);

/* the most tokenroute_bedrock_model_segment() writes */
#define tokenroute_bedrock_model_segment_size(len)  (3 * (len))

/* the model id (an ARN too) as one path segment: ':' and '/' encoded */
size_t tokenroute_bedrock_model_segment(const char *model, size_t len,
    char *out);


/* credentials from an AWS shared credentials file: spans into its text */
typedef struct {
    const char  *access_key;
    size_t       access_key_len;
    const char  *secret_key;
    size_t       secret_key_len;
    const char  *session_token;      /* NULL: none */
    size_t       session_token_len;
} tokenroute_aws_credentials_t;

/*
 * The profile's section ("[name]", or "[profile name]" as in the config
 * file): 0 found with a key id and a secret; -1 no such profile; -2 the
 * profile lacks aws_access_key_id or aws_secret_access_key.
 */
int tokenroute_aws_credentials_parse(const char *text, size_t len,
    const char *profile, size_t profile_len,
    tokenroute_aws_credentials_t *cred);


#endif /* _TOKENROUTE_BEDROCK_H_INCLUDED_ */
