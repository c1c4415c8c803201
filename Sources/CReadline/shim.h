#ifndef QV_CREADLINE_SHIM_H
#define QV_CREADLINE_SHIM_H
#include <stdio.h>
#include <signal.h>
#include <sys/select.h>
#include <readline/readline.h>
#include <readline/history.h>

/* Waits until fd is readable with the signal mask `mask` in force (pselect
   swaps it atomically, so a SIGINT blocked before the call is not lost).
   Returns pselect's result: >0 readable, -1 with errno EINTR on a signal. */
static inline int qv_wait_readable(int fd, const sigset_t *mask) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    return pselect(fd + 1, &r, NULL, NULL, NULL, mask);
}
#endif
