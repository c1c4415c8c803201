#include "qv_support.h"
#include <signal.h>
#include <string.h>
#include <cpuid.h>
#include <stdlib.h>

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

const char *qv_cpu_missing_haswell_features(void) {
    static char missing[160];
    const char *pretend = getenv("QVLUA_TEST_CPU_MISSING");
    if (pretend && *pretend) return pretend;
    unsigned a = 0, b = 0, c1 = 0, d = 0, b7 = 0, c7 = 0, d7 = 0, cx = 0, dx = 0, xlo = 0;
    __get_cpuid(1, &a, &b, &c1, &d);
    __get_cpuid_count(7, 0, &a, &b7, &c7, &d7);
    __get_cpuid(0x80000001, &a, &b, &cx, &dx);
    if (c1 & bit_OSXSAVE) {
        unsigned xhi;
        __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    }
    struct { int ok; const char *name; } need[] = {
        {(c1 & bit_SSE3) != 0, "sse3"}, {(c1 & bit_SSSE3) != 0, "ssse3"}, {(c1 & bit_SSE4_1) != 0, "sse4.1"},
        {(c1 & bit_SSE4_2) != 0, "sse4.2"}, {(c1 & bit_POPCNT) != 0, "popcnt"}, {(c1 & bit_CMPXCHG16B) != 0, "cx16"},
        {(c1 & bit_MOVBE) != 0, "movbe"}, {(c1 & bit_F16C) != 0, "f16c"}, {(c1 & bit_FMA) != 0, "fma"},
        {(c1 & bit_AVX) != 0 && (xlo & 6) == 6, "avx"}, {(b7 & bit_AVX2) != 0, "avx2"},
        {(b7 & bit_BMI) != 0, "bmi"}, {(b7 & bit_BMI2) != 0, "bmi2"}, {(cx & bit_LZCNT) != 0, "lzcnt"},
    };
    missing[0] = 0;
    for (unsigned i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (need[i].ok) continue;
        if (missing[0]) strcat(missing, " ");
        strcat(missing, need[i].name);
    }
    return missing;
}
