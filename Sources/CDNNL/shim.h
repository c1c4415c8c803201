#ifndef QV_CDNNL_SHIM_H
#define QV_CDNNL_SHIM_H
/// oneDNN's C API (Debian 12: libdnnl-dev 2.6, built with the OpenMP
/// threading runtime, libgomp).
#include <dnnl.h>

/// Execution-argument indices (dnnl_types.h defines them as chained macros,
/// which Swift does not always import).
static const int QV_DNNL_ARG_SRC = DNNL_ARG_SRC;
static const int QV_DNNL_ARG_DST = DNNL_ARG_DST;
static const int QV_DNNL_ARG_WEIGHTS = DNNL_ARG_WEIGHTS;
static const int QV_DNNL_ARG_BIAS = DNNL_ARG_BIAS;
static const int QV_DNNL_ARG_DIFF_SRC = DNNL_ARG_DIFF_SRC;
static const int QV_DNNL_ARG_DIFF_DST = DNNL_ARG_DIFF_DST;
static const int QV_DNNL_ARG_DIFF_WEIGHTS = DNNL_ARG_DIFF_WEIGHTS;
static const int QV_DNNL_ARG_DIFF_BIAS = DNNL_ARG_DIFF_BIAS;
static const int QV_DNNL_ARG_FROM = DNNL_ARG_FROM;
static const int QV_DNNL_ARG_TO = DNNL_ARG_TO;

/// OpenMP's thread count for the calling thread's next parallel regions
/// (libgomp; declared here because clang's omp.h may be absent).
void omp_set_num_threads(int n);
#endif
