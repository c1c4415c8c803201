#ifndef QV_CLUA_SHIM_H
#define QV_CLUA_SHIM_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
/* Lua's macros are not importable into Swift: each one the bridge needs is
   wrapped here as a static inline function with the same meaning. */
static inline void qvL_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline const char *qvL_tostring(lua_State *L, int i) { return lua_tostring(L, i); }
static inline void qvL_newtable(lua_State *L) { lua_newtable(L); }
#endif
