
/*
 * Copyright (C) tokenroute authors
 *
 * The Lua scripts of src/lua/, embedded byte for byte by src/lua/embed.sh
 * at build time (the module's config.make, the Makefile for the CLI).
 * Each is NAME.lua: its text, NUL-terminated, and its length.  Plain C:
 * no nginx dependency.
 */


#ifndef _TOKENROUTE_LUA_H_INCLUDED_
#define _TOKENROUTE_LUA_H_INCLUDED_


#include <stddef.h>


/* the module's: admission, settlement, the reservation sweep */
extern const char    tokenroute_lua_admission[];
extern const size_t  tokenroute_lua_admission_len;
extern const char    tokenroute_lua_settle[];
extern const size_t  tokenroute_lua_settle_len;
extern const char    tokenroute_lua_sweep[];
extern const size_t  tokenroute_lua_sweep_len;
extern const char    tokenroute_lua_lease[];
extern const size_t  tokenroute_lua_lease_len;



/*
 * the control scripts, each behind the prelude src/lua/ctl_lib.lua: the
 * operations the CLI and the admin API share
 */
extern const char    tokenroute_lua_ctl_accounts[];
extern const size_t  tokenroute_lua_ctl_accounts_len;
extern const char    tokenroute_lua_ctl_tenants[];
extern const size_t  tokenroute_lua_ctl_tenants_len;
extern const char    tokenroute_lua_ctl_keys[];
extern const size_t  tokenroute_lua_ctl_keys_len;
extern const char    tokenroute_lua_ctl_admin[];
extern const size_t  tokenroute_lua_ctl_admin_len;


#endif /* _TOKENROUTE_LUA_H_INCLUDED_ */
