"""The qvlua Jupyter kernel: ipykernel speaks Jupyter's messaging protocol
(ZeroMQ, HMAC-signed messages, heartbeat, control channel); this thin
wrapper forwards execute / complete / inspect requests to one long-lived
`qvlua --kernel-backend` subprocess, where the engine, the Lua state, the
REPL's pretty-printer, completion and help live (Sources/qvlua/KernelBackend.swift
documents the line protocol).

Run by Jupyter through the kernelspec that `make kernel` installs:
    python jupyter/qvlua_kernel.py -f {connection_file}
The qvlua executable is $QVLUA, else <project>/.build/release/qvlua.
"""

import base64
import ctypes
import json
import os
import re
import select
import signal
import subprocess

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEXT_MIMES = ("text/", "application/json", "image/svg+xml")
# The word before the cursor that the REPL completes: names joined by . and :
WORD_BEFORE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:]*$|$")
NAME_AROUND = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)*")


def qvlua_path():
    return os.environ.get("QVLUA") or os.path.join(ROOT, ".build", "release", "qvlua")


def _die_with_parent():
    # Linux: the backend gets SIGKILL if this wrapper dies (a forced restart).
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Backend:
    """One `qvlua --kernel-backend` process: requests on its stdin, printed
    output on its stdout/stderr, replies on a pipe (its fd $QVLUA_KERNEL_FD)."""

    def __init__(self):
        rd, wr = os.pipe()
        os.set_inheritable(wr, True)
        exe = qvlua_path()
        env = dict(os.environ, QVLUA_KERNEL_FD=str(wr))
        self.proc = subprocess.Popen(
            [exe, "--kernel-backend"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(wr,), preexec_fn=_die_with_parent, env=env)
        os.close(wr)
        self.replies = os.fdopen(rd, "rb", buffering=0)
        self.buf = b""
        for f in (self.proc.stdout, self.proc.stderr):
            os.set_blocking(f.fileno(), False)
        ready = self.wait(None)
        self.version = ready.get("version", "qvlua") if ready else "qvlua"

    def send(self, request):
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def _read_exact(self, n, on_output):
        while len(self.buf) < n:
            chunk = self._read_some(on_output)
            if chunk is None:
                raise EOFError("qvlua backend exited")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _drain(self, on_output):
        for f, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            while True:
                try:
                    data = os.read(f.fileno(), 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                if on_output:
                    on_output(name, data.decode("utf-8", "replace"))

    def _read_some(self, on_output):
        """Waits for output or replies; output is always handled first (the
        backend flushes its output before writing a reply). Returns the
        reply bytes read (b"" if none yet), or None at end of file."""
        fds = [self.proc.stdout.fileno(), self.proc.stderr.fileno(), self.replies.fileno()]
        while True:
            try:
                readable, _, _ = select.select(fds, [], [], 0.5)
            except InterruptedError:
                continue
            self._drain(on_output)
            if self.replies.fileno() in readable:
                data = os.read(self.replies.fileno(), 65536)
                if not data:
                    return None
                self.buf += data
                return data
            if self.proc.poll() is not None:
                self._drain(on_output)
                return None

    def next_message(self, on_output):
        while b"\n" not in self.buf:
            if self._read_some(on_output) is None:
                raise EOFError("qvlua backend exited")
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("type") == "display":
            msg["data"] = []
            for part in msg.get("parts", []):
                msg["data"].append(self._read_exact(part["bytes"], on_output))
        return msg

    def wait(self, on_output, on_message=None):
        """Messages until the request's "done" (returned)."""
        while True:
            msg = self.next_message(on_output)
            if msg.get("type") in ("done", "ready"):
                return msg
            if on_message:
                on_message(msg)

    def interrupt(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class QvluaKernel(Kernel):
    implementation = "qvlua"
    implementation_version = "0.1"
    language = "lua"
    language_version = "5.4"
    language_info = {
        "name": "lua",
        "mimetype": "text/x-lua",
        "file_extension": ".lua",
        "codemirror_mode": "lua",
        "pygments_lexer": "lua",
    }
    banner = "qvlua"
    help_links = []

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.backend = Backend()
        self.banner = self.backend.version

    # -- output
    def _stream(self, name, text):
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def _bundle(self, msg):
        data = {}
        for part, raw in zip(msg.get("parts", []), msg.get("data", [])):
            mime = part["mime"]
            if mime.startswith(TEXT_MIMES):
                data[mime] = raw.decode("utf-8", "replace")
            else:
                data[mime] = base64.b64encode(raw).decode("ascii")
        return data

    def _request(self, request, on_message=None, silent=False):
        """Sends a request and waits for its reply, streaming output; the
        stop button (SIGINT to the process group) reaches qvlua too, and
        the wait goes on until qvlua reports the cell's end."""
        on_output = None if silent else self._stream
        backend = self.backend
        # While qvlua works, SIGINT only passes the interrupt on (it has
        # usually reached qvlua already, through the process group): no
        # KeyboardInterrupt in the middle of reading a reply.
        try:
            previous = signal.signal(signal.SIGINT, lambda signum, frame: backend.interrupt())
        except ValueError:  # not the main thread: the signal is not ours to handle
            previous = None
        try:
            backend.send(request)
            return backend.wait(on_output, on_message)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    # -- requests
    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False):
        if self.backend.proc.poll() is not None:
            self.backend = Backend()
            self._stream("stderr", "qvlua backend had exited; started a fresh one (state lost)\n")
        result = {}

        def on_message(msg):
            if silent:
                return
            if msg["type"] == "result":
                data = {"text/plain": msg["text"]}
                if msg.get("html"):
                    data["text/html"] = msg["html"]
                result["data"] = data
            elif msg["type"] == "display":
                self.send_response(self.iopub_socket, "display_data", {"data": self._bundle(msg), "metadata": {}})

        try:
            done = self._request({"op": "execute", "code": code, "n": self.execution_count}, on_message, silent)
        except EOFError:
            self.backend = Backend()
            msg = "qvlua backend exited during the cell (state lost); a fresh one is running"
            self._stream("stderr", msg + "\n")
            return {"status": "error", "execution_count": self.execution_count,
                    "ename": "BackendExit", "evalue": msg, "traceback": [msg]}
        if "data" in result:
            self.send_response(self.iopub_socket, "execute_result",
                               {"execution_count": self.execution_count, "data": result["data"], "metadata": {}})
        if done.get("status") == "error":
            content = {"ename": done.get("ename", "LuaError"), "evalue": done.get("evalue", ""),
                       "traceback": done.get("traceback", [])}
            if not silent:
                self.send_response(self.iopub_socket, "error", content)
            content.update(status="error", execution_count=self.execution_count)
            return content
        return {"status": "ok", "execution_count": self.execution_count,
                "payload": [], "user_expressions": {}}

    def do_complete(self, code, cursor_pos):
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        word = WORD_BEFORE.search(code[:cursor_pos]).group(0)
        done = self._request({"op": "complete", "text": word}, silent=True)
        return {"status": "ok", "matches": done.get("matches", []),
                "cursor_start": cursor_pos - len(word), "cursor_end": cursor_pos, "metadata": {}}

    def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        # the name under (or just before) the cursor, or the function whose
        # call is being typed: "qv.seed(" -> qv.seed
        name = ""
        for m in NAME_AROUND.finditer(code):
            if m.start() <= cursor_pos <= m.end():
                name = m.group(0)
                break
        if not name:
            before = code[:cursor_pos].rstrip()
            if before.endswith("("):
                m = re.search(NAME_AROUND.pattern + r"\s*\($", before)
                name = m.group(0).rstrip("( \t") if m else ""
        if not name:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        done = self._request({"op": "inspect", "name": name}, silent=True)
        if not done.get("found"):
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "data": {"text/plain": done["text"]}, "metadata": {}}

    def do_is_complete(self, code):
        return {"status": "complete"}

    def do_shutdown(self, restart):
        self.backend.close()
        return {"status": "ok", "restart": restart}


if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=QvluaKernel)
