#ifndef QV_CREADLINE_SHIM_H
#define QV_CREADLINE_SHIM_H
#include <stdio.h>
#include <signal.h>
#include <sys/select.h>
#include <readline/readline.h>
#include <readline/history.h>

/* Waits up to timeout_ms until fd is readable, with the signal mask `mask`
   in force (pselect swaps it atomically, so a SIGINT blocked before the
   call is not lost). Returns pselect's result: >0 readable, 0 timeout,
   -1 with errno EINTR on a signal. The timeout matters because a signal
   may be delivered to another thread (OpenBLAS workers) and then does not
   interrupt this wait: the caller re-checks its flag at least that often. */
static inline int qv_wait_readable(int fd, const sigset_t *mask, int timeout_ms) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timespec ts;
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    return pselect(fd + 1, &r, NULL, NULL, &ts, mask);
}
#endif
