#!/bin/sh
# One fuzz child, bounded: run.sh MEM_MB CALL_TIMEOUT_S HEARTBEAT_FILE command...
#
# Runs the command with an address-space limit of MEM_MB, no core files, one
# BLAS thread and no Swift backtracer (crashes stay fast). HEARTBEAT_FILE is
# the worker's log, written before every call: when it has not changed for
# CALL_TIMEOUT_S seconds the child gets SIGINT (qvlua's Ctrl-C: a call that
# honours it raises "interrupted"), and SIGKILL 20 seconds later.
# Exit status: the command's, or 128+signal.
mem=$1; t=$2; beat=$3; shift 3
ulimit -v $((mem * 1024)) 2>/dev/null
ulimit -c 0
export OPENBLAS_NUM_THREADS=1
# FUZZ_BACKTRACE=1: Swift's backtrace of a crash on stderr (slower crashes)
if [ "${FUZZ_BACKTRACE:-0}" = 1 ]; then
  export SWIFT_BACKTRACE=enable=yes,interactive=no,color=no
else
  export SWIFT_BACKTRACE=enable=no
fi
"$@" &
pid=$!
(
  while kill -0 $pid 2>/dev/null; do
    sleep 1
    [ -f "$beat" ] || continue
    age=$(( $(date +%s) - $(stat -c %Y "$beat" 2>/dev/null || date +%s) ))
    if [ "$age" -ge "$t" ]; then
      kill -INT $pid 2>/dev/null; sleep 20; kill -KILL $pid 2>/dev/null; exit 0
    fi
  done
) &
dog=$!
wait $pid
rc=$?
kill $dog 2>/dev/null
exit $rc
