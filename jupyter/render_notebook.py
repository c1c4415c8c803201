"""Executes docs/notebooks/boltzmann_and_training.ipynb on the qvlua kernel
(saving its outputs in place), renders it to HTML with nbconvert and takes a
screenshot with headless Chromium (Debian's `chromium`) into docs/images.
`make notebook-html` runs it (the kernelspec goes to a temporary JUPYTER_PATH)."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NB = os.path.join(ROOT, "docs", "notebooks", "boltzmann_and_training.ipynb")
PNG = os.path.join(ROOT, "docs", "images", "notebook.png")

spec = tempfile.mkdtemp()
subprocess.run([sys.executable, os.path.join(HERE, "install_kernel.py"), "--path", os.path.join(spec, "kernels")], check=True)
os.environ["JUPYTER_PATH"] = spec

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbconvert import HTMLExporter  # noqa: E402

nb = nbformat.read(NB, as_version=4)
NotebookClient(nb, kernel_name="qvlua", timeout=120, resources={"metadata": {"path": os.path.dirname(NB)}}).execute()
nbformat.write(nb, NB)
html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
out = os.path.join(tempfile.mkdtemp(), "notebook.html")
with open(out, "w") as f:
    f.write(html)
print("wrote", out)
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    sys.exit("no chromium (apt-get install chromium) for the screenshot")
height = int(os.environ.get("SHOT_HEIGHT", "3400"))
subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--window-size=1100,{height}", f"--screenshot={PNG}", "file://" + out], check=True)
print("wrote", PNG)
