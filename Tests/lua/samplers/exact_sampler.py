#!/usr/bin/env python3
"""A qvlua command sampler (qv.sampler.command) for tests and as an example.

Reads one "qvlua-problem-1" JSON object on standard input, enumerates all
2^N states (small N only), and prints num_reads exact samples of
p(x) ∝ exp(-E(x)), E(x) = Σ linear_l x_l + Σ quadratic_uv x_u x_v + offset,
one per line: ±1 values for vartype SPIN, 0/1 for BINARY.
params.seed seeds the draw; params.fail = true exits with status 3.
"""
import json
import math
import random
import sys

p = json.load(sys.stdin)
params = p.get("params", {})
if params.get("fail"):
    print("exact_sampler.py: failing on purpose", file=sys.stderr)
    sys.exit(3)
n, reads = p["num_variables"], p["num_reads"]
if n > 20:
    print(f"exact_sampler.py: {n} variables is too many to enumerate", file=sys.stderr)
    sys.exit(2)
values = (-1, 1) if p["vartype"] == "SPIN" else (0, 1)
lin, quad, off = p["linear"], p["quadratic"], p["offset"]
states, energies = [], []
for bits in range(1 << n):
    x = [values[(bits >> i) & 1] for i in range(n)]
    e = off + sum(h * xi for h, xi in zip(lin, x)) + sum(j * x[u] * x[v] for u, v, j in quad)
    states.append(x)
    energies.append(e)
emin = min(energies)
weights = [math.exp(-(e - emin)) for e in energies]
rng = random.Random(params.get("seed", 0))
print("# exact samples")
for x in rng.choices(states, weights=weights, k=reads):
    print(" ".join(str(v) for v in x))
