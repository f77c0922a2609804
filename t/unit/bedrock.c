
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests of tokenroute_bedrock.c: the InvokeModel body and the model
 * id as a path segment.
 */


#include <stdlib.h>
#include <string.h>

#include "tokenroute_bedrock.h"

#include "tap.h"


static void
body(const char *in, const char *beta, const char *want, const char *name)
{
    size_t          n, size;
    unsigned char  *out;

    size = tokenroute_bedrock_body_size(strlen(in), beta ? strlen(beta) : 0);
    out = malloc(size + 1);

    n = tokenroute_bedrock_body((const unsigned char *) in, strlen(in), beta,
                                beta ? strlen(beta) : 0, out);
    out[n] = '\0';

    if (want == NULL) {
        ok(n == 0, "%s: refused", name);

    } else {
        ok(n <= size && strcmp((char *) out, want) == 0, "%s: %s", name,
           (char *) out);
    }

    free(out);
}


static int
span(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}


static void
cred_tests(void)
{
    int                            rc;
    tokenroute_aws_credentials_t   c;

    static const char  file[] =
        "# comment\n"
        "[default]\n"
        "aws_access_key_id = AKIDDEFAULT\n"
        "aws_secret_access_key=secret/default+\n"
        "\n"
        "[ profile work ]\r\n"
        "  aws_access_key_id=AKIDWORK \r\n"
        "aws_secret_access_key = s3cr=t \r\n"
        "aws_session_token = tok/en== \r\n"
        "[half]\n"
        "aws_access_key_id=AKIDHALF\n"
        "[legacy]\n"
        "aws_access_key_id=A\n"
        "aws_secret_access_key=B\n"
        "aws_security_token=C";

    rc = tokenroute_aws_credentials_parse(file, sizeof(file) - 1, "default",
                                          7, &c);
    ok(rc == 0 && span(c.access_key, c.access_key_len, "AKIDDEFAULT")
       && span(c.secret_key, c.secret_key_len, "secret/default+")
       && c.session_token == NULL, "credentials: default");

    rc = tokenroute_aws_credentials_parse(file, sizeof(file) - 1, "work", 4,
                                          &c);
    ok(rc == 0 && span(c.access_key, c.access_key_len, "AKIDWORK")
       && span(c.secret_key, c.secret_key_len, "s3cr=t")
       && span(c.session_token, c.session_token_len, "tok/en=="),
       "credentials: [profile work], CR LF, token");

    rc = tokenroute_aws_credentials_parse(file, sizeof(file) - 1, "legacy",
                                          6, &c);
    ok(rc == 0 && span(c.session_token, c.session_token_len, "C"),
       "credentials: aws_security_token, no final newline");

    ok(tokenroute_aws_credentials_parse(file, sizeof(file) - 1, "half", 4, &c)
       == -2, "credentials: a profile without its secret");

    ok(tokenroute_aws_credentials_parse(file, sizeof(file) - 1, "nope", 4, &c)
       == -1, "credentials: no such profile");

    ok(tokenroute_aws_credentials_parse(file, sizeof(file) - 1, "defaul", 6,
                                        &c) == -1,
       "credentials: a prefix is not a profile");
}


int
main(void)
{
    size_t  n;
    char    seg[256];

    body("{\"model\":\"claude\",\"max_tokens\":5,\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
         "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":5,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         "model and stream dropped");

    body(" { \"system\" : \"be \\\"brief\\\"\", \"model\":{\"a\":[1,2]},"
         "\"metadata\":{\"user_id\":\"u\"} } ", NULL,
         "{\"anthropic_version\":\"bedrock-2023-05-31\",\"system\" : "
         "\"be \\\"brief\\\"\",\"metadata\":{\"user_id\":\"u\"}}",
         "members kept as written, a nested model dropped whole");

    body("{\"anthropic_version\":\"2023-06-01\",\"max_tokens\":1}",
         " tools-2024-04-04 ,,  pdfs-2024-09-25,\"q\\ ",
         "{\"anthropic_version\":\"bedrock-2023-05-31\",\"anthropic_beta\":"
         "[\"tools-2024-04-04\",\"pdfs-2024-09-25\",\"\\\"q\\\\\"],"
         "\"max_tokens\":1}",
         "the client's version replaced, beta as an array");

    body("{}", " , ", "{\"anthropic_version\":\"bedrock-2023-05-31\"}",
         "empty object, blank beta");

    body("[1]", NULL, NULL, "an array");
    body("{\"a\":1", NULL, NULL, "cut");
    body("{\"a\":1}x", NULL, NULL, "trailing bytes");
    body("{\"a\" 1}", NULL, NULL, "no colon");

    n = tokenroute_bedrock_model_segment(
            "anthropic.claude-3-haiku-20240307-v1:0", 38, seg);
    seg[n] = '\0';
    ok(strcmp(seg, "anthropic.claude-3-haiku-20240307-v1%3A0") == 0,
       "model id: %s", seg);

    n = tokenroute_bedrock_model_segment(
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.a", 50, seg);
    seg[n] = '\0';
    ok(strcmp(seg, "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile"
                   "%2Fus.a") == 0, "an ARN: %s", seg);

    cred_tests();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
