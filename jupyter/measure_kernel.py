"""Start-up and round-trip latency of the qvlua kernel (the numbers in the
README's "How it is built, and why"): through Jupyter's client (ZeroMQ, the
ipykernel wrapper, the subprocess) and of the backend alone (the line
protocol on pipes: what a native Swift kernel would cost before ZeroMQ)."""

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
spec = tempfile.mkdtemp()
subprocess.run([sys.executable, os.path.join(HERE, "install_kernel.py"), "--path", os.path.join(spec, "kernels")],
               check=True, stdout=subprocess.DEVNULL)
os.environ["JUPYTER_PATH"] = spec
os.environ.setdefault("QVLUA", os.path.join(os.path.dirname(HERE), ".build", "release", "qvlua"))

from jupyter_client.manager import start_new_kernel  # noqa: E402
import qvlua_kernel  # noqa: E402

N = int(os.environ.get("N", "200"))


def ms(xs):
    return f"median {statistics.median(xs) * 1e3:.2f} ms (min {min(xs) * 1e3:.2f}, n={len(xs)})"


# the backend alone
starts, rtts = [], []
for _ in range(3):
    t0 = time.perf_counter()
    b = qvlua_kernel.Backend()
    starts.append(time.perf_counter() - t0)
    for _ in range(N):
        t0 = time.perf_counter()
        b.send({"op": "execute", "code": "1 + 1", "n": 1})
        b.wait(None)
        rtts.append(time.perf_counter() - t0)
    b.close()
print("backend alone (pipes):        start", ms(starts), "| execute '1 + 1'", ms(rtts))

t0 = time.perf_counter()
subprocess.run([sys.executable, "-c", "import ipykernel.kernelapp, ipykernel.kernelbase"], check=True)
imp = time.perf_counter() - t0
print(f"python + import ipykernel:    {imp * 1e3:.0f} ms")

starts, rtts, comps = [], [], []
for _ in range(3):
    t0 = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="qvlua", startup_timeout=60)
    starts.append(time.perf_counter() - t0)
    for _ in range(N):
        t0 = time.perf_counter()
        kc.execute_interactive("1 + 1", timeout=10, output_hook=lambda m: None)
        rtts.append(time.perf_counter() - t0)
    for _ in range(N // 4):
        t0 = time.perf_counter()
        kc.complete("qv.se", 5, reply=True, timeout=10)
        comps.append(time.perf_counter() - t0)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print("kernel via jupyter_client:    start", ms(starts), "| execute '1 + 1'", ms(rtts), "| complete", ms(comps))
