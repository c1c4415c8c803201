#ifndef QV_CBLAS_SHIM_H
#define QV_CBLAS_SHIM_H
#include <cblas.h>

/// LAPACK's divide-and-conquer symmetric eigensolver (Fortran ABI), exported
/// by Debian's OpenBLAS: eigenvalues (ascending) of the n×n symmetric
/// matrix a (column-major, lda >= n) into w, and with jobz = 'V' the
/// orthonormal eigenvectors into the columns of a. Query the workspace with
/// lwork = liwork = -1.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info);
#endif
