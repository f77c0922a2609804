# Sourced by nginx's auto/make once objs/Makefile is written (config set
# TOKENROUTE_LUA and TOKENROUTE_LUA_C): the embedded Lua scripts are
# generated again whenever a script or the generator changes.

tokenroute_lua=`echo $TOKENROUTE_LUA`
# PRELUDE.lua+NAME.lua (a control script): both files are prerequisites
tokenroute_lua_deps=`echo $TOKENROUTE_LUA | tr '+' ' '`

cat << END                                                  >> $NGX_MAKEFILE

$TOKENROUTE_LUA_C: $ngx_addon_dir/src/lua/embed.sh $tokenroute_lua_deps
	sh $ngx_addon_dir/src/lua/embed.sh $TOKENROUTE_LUA_C $tokenroute_lua

END
