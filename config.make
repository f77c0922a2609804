# Sourced by nginx's auto/make once objs/Makefile is written (config set
# TOKENROUTE_LUA and TOKENROUTE_LUA_C): the embedded Lua scripts are
# generated again whenever a script or the generator changes.

# PRELUDE.lua+NAME.lua, a control script behind its prelude, is two files
# the generated C file depends on.

tokenroute_lua=`echo $TOKENROUTE_LUA`
tokenroute_lua_deps=`echo $TOKENROUTE_LUA | tr '+' ' '`

cat << END                                                  >> $NGX_MAKEFILE

$TOKENROUTE_LUA_C: $ngx_addon_dir/src/lua/embed.sh $tokenroute_lua_deps
	sh $ngx_addon_dir/src/lua/embed.sh $TOKENROUTE_LUA_C $tokenroute_lua

END
