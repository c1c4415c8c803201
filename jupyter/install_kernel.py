"""Writes the "qvlua" kernelspec: for the current user (default, what
`make kernel` does), or into DIR/qvlua with --path DIR (tests put DIR on
JUPYTER_PATH). Run it with the Python that has ipykernel (make kernel uses
the project's .venv-jupyter), whose path goes into the kernelspec."""

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def spec(qvlua):
    return {
        "argv": [sys.executable, os.path.join(HERE, "qvlua_kernel.py"), "-f", "{connection_file}"],
        "display_name": "qvlua",
        "language": "lua",
        "interrupt_mode": "signal",
        "env": {"QVLUA": qvlua},
        "metadata": {"debugger": False},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", help="write DIR/qvlua/kernel.json instead of installing for the user")
    ap.add_argument("--qvlua", default=os.path.join(ROOT, ".build", "release", "qvlua"),
                    help="the qvlua executable (default: the release build)")
    a = ap.parse_args()
    qvlua = os.path.abspath(a.qvlua)
    if not os.access(qvlua, os.X_OK):
        sys.exit(f"install_kernel: {qvlua} is not an executable (run `make build` first)")
    if a.path:
        d = os.path.join(a.path, "qvlua")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "kernel.json"), "w") as f:
            json.dump(spec(qvlua), f, indent=1)
        print(f"wrote {d}/kernel.json")
        return
    from jupyter_client.kernelspec import KernelSpecManager
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "qvlua")
        os.makedirs(d)
        with open(os.path.join(d, "kernel.json"), "w") as f:
            json.dump(spec(qvlua), f, indent=1)
        dest = KernelSpecManager().install_kernel_spec(d, "qvlua", user=True)
    print(f"installed the qvlua kernel in {dest} (Jupyter lists it as \"qvlua\")")


if __name__ == "__main__":
    main()
