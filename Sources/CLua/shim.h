#ifndef QV_CLUA_SHIM_H
#define QV_CLUA_SHIM_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

/* The C side of the Lua bridge. Two jobs, no logic:
 *
 * 1. Lua's macros are not importable into Swift: each one the bridge needs is
 *    wrapped here as a static inline function with the same meaning.
 * 2. Everything that may raise a Lua error (longjmp) happens in a C frame,
 *    never in a Swift one: the trampoline that raises the error a Swift
 *    binding returned, the interrupt hook, the message handler, and the
 *    protected call used for every call from Swift into Lua.
 *
 * The one Lua error Swift cannot avoid triggering is "not enough memory"
 * (any push allocates). The allocator below turns an allocation failure that
 * happens while a Swift frame is on top into a clean abort with a message
 * instead of a longjmp through Swift; allocation failures in Lua code are
 * ordinary Lua errors.
 */

/* Per-state data, stored as the allocator's userdata. */
typedef struct qvL_Extra {
    int in_swift;                 /* 1 while Swift code (not Lua) is running */
    int (*take_interrupt)(void);  /* clears and returns the Ctrl-C flag */
    void *owner;                  /* unretained pointer to the Swift LuaState */
} qvL_Extra;

static inline qvL_Extra *qvL_extra(lua_State *L) {
    void *ud = NULL;
    (void)lua_getallocf(L, &ud);
    return (qvL_Extra *)ud;
}

static void *qvL_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)osize;
    if (nsize == 0) { free(ptr); return NULL; }
    void *p = realloc(ptr, nsize);
    if (p == NULL && ((qvL_Extra *)ud)->in_swift) {
        fprintf(stderr, "qvlua: out of memory (%zu bytes) in a Swift binding\n", nsize);
        abort();
    }
    return p;
}

static int qvL_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "qvlua: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
    abort();
    return 0;
}

static inline lua_State *qvL_newstate(qvL_Extra *extra) {
    extra->in_swift = 1;
    lua_State *L = lua_newstate(qvL_alloc, extra);
    if (L) lua_atpanic(L, qvL_panic);
    return L;
}

/* ---- the error trampoline ---------------------------------------------- */

/* Return codes of a Swift adapter (>= 0 is the number of results). */
#define QVL_ERROR_WHERE (-1)  /* message on top: prefix "chunk:line:" and raise */
#define QVL_ERROR_RAW   (-2)  /* error value on top: raise it unchanged */

/* The lua_CFunction behind every Swift binding. Upvalue 1 is the Swift
   adapter (a light userdata holding a lua_CFunction); it runs, returns, and
   only then, back in this C frame, is the error raised. */
static int qvL_trampoline(lua_State *L) {
    lua_CFunction fn = (lua_CFunction)lua_touserdata(L, lua_upvalueindex(1));
    qvL_Extra *x = qvL_extra(L);
    int saved = x->in_swift;
    x->in_swift = 1;
    int r = fn(L);
    x->in_swift = saved;
    if (r >= 0) return r;
    if (r == QVL_ERROR_WHERE) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* Pushes a closure that runs `adapter` through the trampoline. The `nup`
   values on top of the stack become upvalues 2...nup+1. */
static inline void qvL_pushswift(lua_State *L, lua_CFunction adapter, int nup) {
    lua_pushlightuserdata(L, (void *)adapter);
    lua_insert(L, -(nup + 1));
    lua_pushcclosure(L, qvL_trampoline, nup + 1);
}

static inline int qvL_upvalueindex(int i) { return lua_upvalueindex(i); }

/* Pushes "chunkname:currentline: " of the function at `level` (or ""), as
   luaL_where; raises only on memory errors (see qvL_alloc). */
static inline void qvL_pushwhere(lua_State *L, int level) { luaL_where(L, level); }

/* ---- Ctrl-C -------------------------------------------------------------- */

static void qvL_interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    qvL_Extra *x = qvL_extra(L);
    if (x->take_interrupt && x->take_interrupt()) luaL_error(L, "interrupted");
}

/* Checks the Ctrl-C flag every `count` VM instructions (coroutines created
   afterwards inherit the hook). count <= 0 removes it. */
static inline void qvL_set_interrupt_hook(lua_State *L, int count) {
    if (count > 0) lua_sethook(L, qvL_interrupt_hook, LUA_MASKCOUNT, count);
    else lua_sethook(L, NULL, 0, 0);
}

/* ---- protected calls from Swift ----------------------------------------- */

#define QVL_TRACEBACK_KEY "qv.traceback"

/* Message handler: leaves the error value unchanged and stores the
   traceback (without the message) in the registry. */
static int qvL_msgh(lua_State *L) {
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, QVL_TRACEBACK_KEY);
    lua_settop(L, 1);
    return 1;
}

/* lua_pcall with the message handler above; the function and its nargs
   arguments are on top. Lua code runs with in_swift = 0. */
static inline int qvL_pcall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, qvL_msgh);
    lua_insert(L, base);
    qvL_Extra *x = qvL_extra(L);
    int saved = x->in_swift;
    x->in_swift = 0;
    int status = lua_pcall(L, nargs, nresults, base);
    x->in_swift = saved;
    lua_remove(L, base);
    return status;
}

/* luaL_tolstring may call __tostring and __name, so it runs protected. */
static int qvL_tostring_body(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* Pushes tostring(value at idx); never raises (falls back to a type name). */
static inline const char *qvL_safe_tostring(lua_State *L, int idx, size_t *len) {
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, qvL_tostring_body);
    lua_pushvalue(L, idx);
    qvL_Extra *x = qvL_extra(L);
    int saved = x->in_swift;
    x->in_swift = 0;
    int status = lua_pcall(L, 1, 1, 0);
    x->in_swift = saved;
    if (status != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushfstring(L, "(a %s value)", luaL_typename(L, idx));
    }
    return lua_tolstring(L, -1, len);
}

/* ---- macros and variadic functions --------------------------------------- */

static inline void qvL_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline const char *qvL_tostring(lua_State *L, int i) { return lua_tostring(L, i); }
static inline void qvL_newtable(lua_State *L) { lua_newtable(L); }
static inline void qvL_insert(lua_State *L, int idx) { lua_insert(L, idx); }
static inline void qvL_remove(lua_State *L, int idx) { lua_remove(L, idx); }
static inline void qvL_replace(lua_State *L, int idx) { lua_replace(L, idx); }
static inline void qvL_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
static inline void qvL_pushcfunction(lua_State *L, lua_CFunction f) { lua_pushcfunction(L, f); }
static inline int qvL_isnoneornil(lua_State *L, int i) { return lua_isnoneornil(L, i); }
static inline int qvL_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline const char *qvL_typename(lua_State *L, int i) { return luaL_typename(L, i); }
static inline void *qvL_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 0); }
static inline int qvL_gc_step(lua_State *L, int kbytes) { return lua_gc(L, LUA_GCSTEP, kbytes); }
static inline int qvL_gc_isrunning(lua_State *L) { return lua_gc(L, LUA_GCISRUNNING); }
static inline int qvL_gc_collect(lua_State *L) { return lua_gc(L, LUA_GCCOLLECT); }
static inline int qvL_gc_count_kb(lua_State *L) { return lua_gc(L, LUA_GCCOUNT); }
static inline int qvL_gc_count_b(lua_State *L) { return lua_gc(L, LUA_GCCOUNTB); }
static inline int qvL_loadbuffer(lua_State *L, const char *s, size_t n, const char *name) {
    return luaL_loadbufferx(L, s, n, name, NULL);
}
static inline int qvL_loadfile(lua_State *L, const char *path) { return luaL_loadfilex(L, path, NULL); }
static inline void qvL_warning_on(lua_State *L) { lua_warning(L, "@on", 0); }
static inline int qvL_version_num(void) { return LUA_VERSION_NUM * 100 + LUA_VERSION_RELEASE_NUM % 100; }
static inline const char *qvL_release(void) { return LUA_RELEASE; }
#endif
