
/*
 * Copyright (C) tokenroute authors
 *
 * Accounts for the CLI's commands: the account name rule, and an account
 * (or a list of them) as src/lua/ctl_accounts.lua returns it, printed as
 * JSON, a line or a table.  The records and their rules are the script's.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_ctl.h"
#include "tr_cli_doc.h"
#include "tr_cli_util.h"


/* 1-128 letters, digits and . _ : @ -; never '|', the usage separator */

int
tr_cli_account_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > TR_CLI_ACCOUNT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] >= 'a' && s[i] <= 'z')
            || (s[i] >= 'A' && s[i] <= 'Z')
            || (s[i] >= '0' && s[i] <= '9')
            || (s[i] != '\0' && strchr("._:@-", s[i]) != NULL))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/*
 * TR_CLI_ACCOUNT_LINE: one line ("credit add", "credit adjust");
 * TR_CLI_ACCOUNT_CREDIT: a table of the money ("credit show");
 * TR_CLI_ACCOUNT_CREATED: the same and the creation time; doc an
 * account or an array of them; with json the document itself.  An
 * account with a damaged record (null amounts) is skipped with a warning.
 */

int
tr_cli_account_print(redisReply *doc, int json, int how)
{
    int          rc;
    yajl_val     tree;
    const char  *name, *credit, *avail, *held, *spent;

    static const char  *needed[] = {
        "credit_usd", "reserved_usd", "spent_usd", "added_usd", NULL
    };

    static const tr_cli_doc_check_t  check = { "account", needed };

    static const tr_cli_doc_col_t  cols[] = {
        { "ACCOUNT", "account", TR_CLI_DOC_STR },
        { "CREDIT", "credit_usd", TR_CLI_DOC_STR },
        { "RESERVED", "reserved_usd", TR_CLI_DOC_STR },
        { "AVAILABLE", "available_usd", TR_CLI_DOC_STR },
        { "SPENT", "spent_usd", TR_CLI_DOC_STR },
        { "ADDED", "added_usd", TR_CLI_DOC_STR },
        { "CREATED", "created_at", TR_CLI_DOC_TIME }
    };

    if (json) {
        return tr_cli_ctl_print(doc);
    }

    tree = tr_cli_ctl_tree(doc);
    if (tree == NULL) {
        return TR_CLI_FAILED;
    }

    if (how != TR_CLI_ACCOUNT_LINE) {
        rc = tr_cli_doc_table(tree, cols,
                              (how == TR_CLI_ACCOUNT_CREATED) ? 7 : 6,
                              &check, stdout);
        yajl_tree_free(tree);
        return rc;
    }

    name = tr_cli_ctl_string(tree, "account");
    credit = tr_cli_ctl_string(tree, "credit_usd");
    avail = tr_cli_ctl_string(tree, "available_usd");
    held = tr_cli_ctl_string(tree, "reserved_usd");
    spent = tr_cli_ctl_string(tree, "spent_usd");

    rc = (printf("account %s: credit %s USD (available %s, reserved %s, "
                 "spent %s)\n", name, credit, avail, held, spent) < 0)
         ? TR_CLI_FAILED : TR_CLI_OK;

    yajl_tree_free(tree);

    return rc;
}
