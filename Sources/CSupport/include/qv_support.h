#ifndef QV_SUPPORT_H
#define QV_SUPPORT_H
/* Process-wide facilities that must be written in C: the SIGINT flag that a
   signal handler may touch, and CPU feature queries. */

/* Installs a SIGINT handler that only sets the interrupt flag. */
void qv_install_sigint_handler(void);
/* Restores the default SIGINT action. */
void qv_restore_sigint_handler(void);
/* 1 if SIGINT arrived since the last clear, else 0. Async-signal safe. */
int qv_interrupt_pending(void);
/* Clears the flag; returns whether it was set. */
int qv_take_interrupt(void);
/* Sets the flag as if SIGINT had arrived (tests, programmatic cancel). */
void qv_raise_interrupt(void);

/* 1 if the CPU and OS support AVX-512F state, else 0. */
int qv_cpu_has_avx512f(void);
/* The instruction-set extensions of x86-64 "haswell" (what Runtime's kernels
   are compiled for) that this CPU or OS lacks, space-separated; "" if none.
   The environment variable QVLUA_TEST_CPU_MISSING, when set and non-empty,
   is returned instead (to test the start-up message). */
const char *qv_cpu_missing_haswell_features(void);
#endif
