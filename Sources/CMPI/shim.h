#ifndef QV_CMPI_SHIM_H
#define QV_CMPI_SHIM_H
#include <mpi.h>

/* The C side of qv.dist: the few MPI calls it makes, as plain functions
 * Swift can import. Open MPI's MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ... are
 * macros over addresses of global objects, which Swift cannot import; here
 * they are used in C. No logic: every function is one MPI call. All calls
 * work on MPI_COMM_WORLD with the default error handler (an MPI error
 * aborts the whole job with Open MPI's message). */

static inline int qv_mpi_initialized(void) { int f = 0; MPI_Initialized(&f); return f; }
static inline int qv_mpi_finalized(void) { int f = 0; MPI_Finalized(&f); return f; }
/* MPI_THREAD_FUNNELED: only the main thread calls MPI (the kernels' worker
 * threads never do). Returns the MPI error code (0 = MPI_SUCCESS). */
static inline int qv_mpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}
static inline int qv_mpi_finalize(void) { return MPI_Finalize(); }
static inline int qv_mpi_rank(void) { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
static inline int qv_mpi_size(void) { int s = 1; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }
static inline void qv_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static inline int qv_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static inline double qv_mpi_wtime(void) { return MPI_Wtime(); }

/* op: 0 sum, 1 max, 2 min, 3 prod. */
static inline MPI_Op qv_mpi_op(int op) {
    switch (op) { case 1: return MPI_MAX; case 2: return MPI_MIN; case 3: return MPI_PROD; default: return MPI_SUM; }
}
/* In place on every rank. */
static inline int qv_mpi_allreduce_float(float *buf, int n, int op) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, qv_mpi_op(op), MPI_COMM_WORLD);
}
static inline int qv_mpi_allreduce_double(double *buf, int n, int op) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, qv_mpi_op(op), MPI_COMM_WORLD);
}
static inline int qv_mpi_bcast_bytes(void *buf, int n, int root) {
    return MPI_Bcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD);
}
/* n floats from every rank into recv (size * n floats, rank order) on root
 * (or on every rank when root < 0: allgather). */
static inline int qv_mpi_gather_float(const float *send, int n, float *recv, int root) {
    if (root < 0) return MPI_Allgather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, MPI_COMM_WORLD);
    return MPI_Gather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, root, MPI_COMM_WORLD);
}
static inline int qv_mpi_gather_int(const int *send, int n, int *recv, int root) {
    if (root < 0) return MPI_Allgather(send, n, MPI_INT, recv, n, MPI_INT, MPI_COMM_WORLD);
    return MPI_Gather(send, n, MPI_INT, recv, n, MPI_INT, root, MPI_COMM_WORLD);
}
/* Variable-length gather of bytes onto root (counts/displs from the caller). */
static inline int qv_mpi_gatherv_bytes(const void *send, int n, void *recv, const int *counts, const int *displs, int root) {
    return MPI_Gatherv(send, n, MPI_BYTE, recv, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD);
}
static inline int qv_mpi_error_string(int code, char *buf, int cap) {
    int len = 0; if (cap < MPI_MAX_ERROR_STRING) { buf[0] = 0; return 0; }
    MPI_Error_string(code, buf, &len); return len;
}
#endif
