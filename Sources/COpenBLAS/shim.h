// OpenBLAS's CBLAS interface and thread control (Debian libopenblas-dev).
#include <cblas.h>
#include <stddef.h>

// LAPACK's symmetric eigensolver, which libopenblas exports (Debian ships no lapacke.h with it): the Fortran symbol,
// arguments by pointer, column-major, and the hidden lengths of the two character arguments at the end.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
