#include "qv_support.h"
#include <signal.h>
#include <string.h>
#include <cpuid.h>

static volatile sig_atomic_t interrupt_flag = 0;

static void on_sigint(int sig) { (void)sig; interrupt_flag = 1; }

void qv_install_sigint_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: readline must see EINTR */
    sigaction(SIGINT, &sa, NULL);
}

void qv_restore_sigint_handler(void) { signal(SIGINT, SIG_DFL); }

int qv_interrupt_pending(void) { return interrupt_flag != 0; }

int qv_take_interrupt(void) {
    int was = interrupt_flag != 0;
    interrupt_flag = 0;
    return was;
}

void qv_raise_interrupt(void) { interrupt_flag = 1; }

int qv_cpu_has_avx512f(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE)) return 0;
    /* XCR0 must enable opmask, ZMM_Hi256 and Hi16_ZMM state (bits 5,6,7) plus SSE/AVX. */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX512F) != 0;
}
