#ifndef QV_CBLAS_SHIM_H
#define QV_CBLAS_SHIM_H
#include <cblas.h>
#endif
