#ifndef QV_CZLIB_SHIM_H
#define QV_CZLIB_SHIM_H
#include <zlib.h>

/* zlib's init functions are macros (they pass the version and struct size);
   these wrappers make them importable into Swift. */
static inline int qv_inflateInit2(z_streamp s, int windowBits) {
    return inflateInit2(s, windowBits);
}
static inline int qv_deflateInit2(z_streamp s, int level, int windowBits, int memLevel, int strategy) {
    return deflateInit2(s, level, Z_DEFLATED, windowBits, memLevel, strategy);
}
#endif
