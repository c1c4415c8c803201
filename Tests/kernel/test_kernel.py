"""Tests of the qvlua Jupyter kernel through Jupyter's own client
(jupyter_client: ZeroMQ, signed messages) and of the notebook under
docs/notebooks (executed by nbclient). Run by `make test-kernel`.

The kernelspec is written to a temporary directory on JUPYTER_PATH, so the
user's own Jupyter setup is neither needed nor touched."""

import os
import queue
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NOTEBOOK = os.path.join(ROOT, "docs", "notebooks", "boltzmann_and_training.ipynb")

_spec_dir = tempfile.mkdtemp(prefix="qvlua-kernelspec-")
subprocess.run([sys.executable, os.path.join(ROOT, "jupyter", "install_kernel.py"),
                "--path", os.path.join(_spec_dir, "kernels")], check=True, stdout=subprocess.DEVNULL)
os.environ["JUPYTER_PATH"] = _spec_dir

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402


class Cell:
    """What one execute request produced."""

    def __init__(self, reply, messages):
        self.reply = reply["content"]
        self.messages = messages

    def of(self, msg_type):
        return [m for m in self.messages if m["msg_type"] == msg_type]

    @property
    def stdout(self):
        return "".join(m["content"]["text"] for m in self.of("stream") if m["content"]["name"] == "stdout")

    @property
    def result(self):
        r = self.of("execute_result")
        return r[0]["content"]["data"] if r else None


class KernelTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="qvlua", startup_timeout=60, cwd=ROOT)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def run_cell(self, code, timeout=60):
        messages = []
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=messages.append)
        return Cell(reply, messages)

    def kernel_state(self):
        # kernel_info's own status messages tell whether the kernel answers
        reply = self.kc.kernel_info(reply=True, timeout=10)
        return reply["content"]["status"]

    def test_listed_as_qvlua(self):
        specs = KernelSpecManager().find_kernel_specs()
        self.assertIn("qvlua", specs)
        self.assertEqual(KernelSpecManager().get_kernel_spec("qvlua").display_name, "qvlua")

    def test_printed_output_and_final_value(self):
        c = self.run_cell('print("hello from lua")\nlocal y = 20\ny + 22')
        self.assertEqual(c.reply["status"], "ok")
        self.assertEqual(c.stdout, "hello from lua\n")
        self.assertEqual(c.result["text/plain"], "42")
        # the REPL's pretty-printer, and a trailing ';' silences
        c = self.run_cell('{b = 2, a = "x"}')
        self.assertEqual(c.result["text/plain"], '{a = "x", b = 2}')
        self.assertIsNone(self.run_cell("1 + 1;").result)
        # a column-0 local survives into the next cell, as at the REPL prompt
        self.assertEqual(self.run_cell("y * 2").result["text/plain"], "40")
        # standard input is not the kernel's request stream
        self.assertEqual(self.run_cell("io.read()").result["text/plain"], "nil")
        self.assertEqual(self.run_cell("y").result["text/plain"], "20")

    def test_error_has_traceback_and_kernel_survives(self):
        c = self.run_cell('zz = 5\nlocal function f() error("boom") end\nf()')
        self.assertEqual(c.reply["status"], "error")
        self.assertEqual(c.reply["ename"], "LuaError")
        self.assertIn("boom", c.reply["evalue"])
        tb = "\n".join(c.reply["traceback"])
        self.assertIn("stack traceback", tb)
        self.assertIn("cell[", tb)
        self.assertEqual(len(c.of("error")), 1)
        syntax = self.run_cell("x = = 1")
        self.assertEqual(syntax.reply["status"], "error")
        self.assertEqual(self.run_cell("zz + 1").result["text/plain"], "6")

    def test_display_png_and_html_table(self):
        path = os.path.join(tempfile.mkdtemp(), "grid.png")
        c = self.run_cell(f'qv.seed(1)\ndisplay(qv.image.grid("{path}", qv.rand(4, 784)))')
        self.assertEqual(c.reply["status"], "ok")
        shown = c.of("display_data")
        self.assertEqual(len(shown), 1)
        self.assertTrue(shown[0]["content"]["data"]["image/png"].startswith("iVBORw0KGgo"))  # base64 of \x89PNG
        c = self.run_cell("qv.tensor({{1, 2}, {3, 4}})")
        self.assertIn("<table>", c.result["text/html"])
        self.assertIn("qv.Tensor(2x2", c.result["text/plain"])
        c = self.run_cell('display("/nonexistent.png")')
        self.assertEqual(c.reply["status"], "error")
        self.assertIn("no such file", c.reply["evalue"])

    def test_output_streams_while_cell_runs(self):
        times = {}

        def hook(m):
            if m["msg_type"] == "stream":
                times.setdefault(m["content"]["text"].strip(), time.monotonic())

        start = time.monotonic()
        self.kc.execute_interactive('print("first")\nqv.sleep(1.5)\nprint("second")', timeout=30, output_hook=hook)
        end = time.monotonic()
        self.assertIn("first", times)
        self.assertLess(times["first"] - start, 1.2, "first line arrived only at the end")
        self.assertGreater(end - times["first"], 1.0)

    def test_complete(self):
        reply = self.kc.complete("x = qv.se", 9, reply=True, timeout=10)["content"]
        self.assertEqual(reply["status"], "ok")
        self.assertIn("qv.seed", reply["matches"])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (4, 9))
        self.run_cell("tt = qv.zeros(2, 3)")
        reply = self.kc.complete("tt:su", 5, reply=True, timeout=10)["content"]
        self.assertIn("tt:sum", reply["matches"])

    def test_inspect(self):
        reply = self.kc.inspect("qv.seed(", 8, reply=True, timeout=10)["content"]
        self.assertEqual(reply["status"], "ok")
        self.assertTrue(reply["found"])
        self.assertIn("qv.seed(", reply["data"]["text/plain"])
        reply = self.kc.inspect("help", 2, reply=True, timeout=10)["content"]
        self.assertIn("help([x])", reply["data"]["text/plain"])
        reply = self.kc.inspect("no_such_thing_here", 3, reply=True, timeout=10)["content"]
        self.assertFalse(reply["found"])

    def interrupt_after(self, code, delay=1.0, limit=15):
        msg_id = self.kc.execute(code)
        time.sleep(delay)
        t0 = time.monotonic()
        self.km.interrupt_kernel()
        while True:
            reply = self.kc.get_shell_msg(timeout=limit)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        self.assertLess(time.monotonic() - t0, limit)
        # the kernel goes back to idle for this request
        idle = False
        while not idle:
            try:
                m = self.kc.get_iopub_msg(timeout=10)
            except queue.Empty:
                break
            idle = m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" \
                and m["parent_header"].get("msg_id") == msg_id
        self.assertTrue(idle, "no idle status after the interrupt")
        return reply["content"]

    def test_interrupt_lua_loop_keeps_state(self):
        self.run_cell("kept = 41")
        reply = self.interrupt_after("while true do end")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "Interrupted")
        self.assertEqual(self.kernel_state(), "ok")
        self.assertEqual(self.run_cell("kept + 1").result["text/plain"], "42")

    def test_interrupt_sampler(self):
        self.run_cell("qv.seed(2)\nbm = qv.bm.random(qv.graph.chimera(2), {bias_scale = 0.5, weight_scale = 0.5})")
        reply = self.interrupt_after("gibbs = qv.sampler.gibbs{sweeps = 100000000}\ns = gibbs:sample(bm, 100)")
        self.assertEqual(reply["status"], "error")
        self.assertIn("interrupted", reply["evalue"])
        self.assertEqual(self.run_cell("bm.n or #bm").reply["status"], "ok")
        self.assertEqual(self.run_cell("'alive'").result["text/plain"], '"alive"')


    def test_interrupt_blas_loop(self):
        self.run_cell("a = qv.randn(1500, 1500)")
        reply = self.interrupt_after("for i = 1, 100000 do b = a:matmul(a) end")
        self.assertEqual(reply["ename"], "Interrupted")
        self.assertEqual(self.run_cell("a:size(1)").result["text/plain"], "1500")

    def test_interrupt_training_epoch(self):
        data = os.path.join(ROOT, "..", "shared", "data", "mnist")
        if not os.path.exists(os.path.join(data, "train-images-idx3-ubyte.gz")):
            self.skipTest(f"no MNIST at {data}")
        out = tempfile.mkdtemp()
        self.run_cell(f'trainer = require "trainer"\nrun = trainer.new{{dataset = "mnist", data = "{data}", '
                      f'train_n = 20000, valid_n = 100, epochs = 1, chains = 100, out = "{out}", force = true}}')
        reply = self.interrupt_after("run:epoch()", delay=3.0)
        self.assertEqual(reply["status"], "error")
        self.assertIn("interrupted", reply["evalue"])
        c = self.run_cell("info = run:step()\ninfo.loss > 0")
        self.assertEqual(c.reply["status"], "ok")
        self.assertEqual(c.result["text/plain"], "true")


class RestartTests(unittest.TestCase):
    def test_restart_clears_state_and_works(self):
        km, kc = start_new_kernel(kernel_name="qvlua", startup_timeout=60, cwd=ROOT)
        try:
            kc.execute_interactive("before = 1", timeout=30)
            km.restart_kernel(now=False)
            kc.wait_for_ready(timeout=60)
            out = []
            reply = kc.execute_interactive("before == nil, 6 * 7", timeout=30, output_hook=out.append)
            self.assertEqual(reply["content"]["status"], "ok")
            data = [m["content"]["data"]["text/plain"] for m in out if m["msg_type"] == "execute_result"]
            self.assertEqual(data, ["true\t42"])
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


class NotebookTests(unittest.TestCase):
    def test_notebook_runs_headless(self):
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.read(NOTEBOOK, as_version=4)
        t0 = time.monotonic()
        NotebookClient(nb, kernel_name="qvlua", timeout=120,
                       resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()
        elapsed = time.monotonic() - t0
        print(f"\n  notebook executed in {elapsed:.1f} s", file=sys.stderr)
        code = [c for c in nb.cells if c.cell_type == "code"]
        outputs = [o for c in code for o in c.outputs]
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream") + "".join(
            o["data"].get("text/plain", "") for o in outputs if o.output_type in ("execute_result", "display_data"))
        self.assertIn("Chimera C(2,2,4)", text)
        self.assertIn("epoch 3/3", text)            # training progress printed by the library
        self.assertIn("KL weight", text)            # the Lua-function KL schedule's hook
        pngs = [o for o in outputs if o.output_type == "display_data" and "image/png" in o["data"]]
        self.assertGreaterEqual(len(pngs), 1)
        errors = [(i, o) for i, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
        self.assertEqual(len(errors), 1, "exactly the one deliberate error cell")
        i, err = errors[0]
        self.assertIn("raises-exception", code[i].metadata.get("tags", []))
        self.assertTrue(any("stack traceback" in line for line in err.traceback))
        # cells after the error ran, in the same kernel
        self.assertTrue(any(c.outputs for c in code[i + 1:]))
        self.assertLess(elapsed, 60)


if __name__ == "__main__":
    unittest.main()
