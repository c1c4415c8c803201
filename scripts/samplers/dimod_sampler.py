#!/usr/bin/env python3
"""qvlua command sampler (qv.sampler.command, train.lua --sampler command:...)
backed by D-Wave Ocean's dimod samplers.

    qvlua scripts/train.lua --sampler 'command:python3 scripts/samplers/dimod_sampler.py'
    qvlua scripts/train.lua --sampler 'command:python3 scripts/samplers/dimod_sampler.py --solver qpu'

Protocol (see `qv.sampler.command`'s help): one "qvlua-problem-1" JSON object
on standard input,

    {"format": "qvlua-problem-1", "vartype": "SPIN" | "BINARY", "num_variables": N,
     "num_reads": n, "linear": [h...], "quadratic": [[u, v, J], ...], "offset": c,
     "params": {...}}

to be sampled from p(x) ∝ exp(-E(x)); the answer is n lines of N values (±1
for SPIN, 0/1 for BINARY) on standard output, variables 0..N-1 in order.

Solvers (--solver, or params.solver):
  sa      dwave-samplers' SimulatedAnnealingSampler (default; `pip install
          dwave-samplers`). Its schedule ends at beta = --beta-final (default 1),
          so the reads approximate exp(-E) (num_sweeps --sweeps, default 100,
          from beta = --beta-initial, default 0.01, geometric).
  gibbs   the same sampler at a fixed beta (--beta-final) throughout: plain
          Metropolis sampling of exp(-beta_final E).
  random  dwave-samplers' RandomSampler (uniform; a baseline).
  qpu     D-Wave hardware: dwave-system's DWaveSampler (needs `pip install
          dwave-system` and a configured token: `dwave config create` or
          DWAVE_API_TOKEN). The problem is sent natively when every coupler is
          a qubit coupler of the solver, else through EmbeddingComposite.
          The annealer samples at an unknown effective temperature: train
          with beta_eff tracking (train.lua turns it on for command samplers
          with --beta-eff-rate). Options: --annealing-time (µs), --solver-name.
  mock-qpu  the qpu path end to end (native check, embedding, the QPU's
          sample() call) against dwave-system's MockDWaveSampler, a local
          stand-in with a QPU's interface and topology (--mock-topology,
          default chimera:16,16,4, a D-Wave 2000Q's graph), sampled
          classically: test a QPU set-up without a token or QPU time.

When the problem's couplers are not the solver's (qpu, mock-qpu), it is
placed natively when it is a Chimera block of a Chimera solver (a
C(6,6,4) prior on a 2000Q's C(16,16,4): one qubit per unit, no chains, at
the first offset whose qubits and couplers all work), else minor-embedded
with minorminer, once per (solver, problem graph); the
embedding is kept in --embedding-cache DIR (default
$XDG_CACHE_HOME/qvlua/embeddings, else ~/.cache/qvlua/embeddings), so a
training run, which sends the same graph at every step, embeds it once.

params given by the caller (qv.sampler.command{params = {...}}) override the
command-line options of the same names (solver, sweeps, beta_initial,
beta_final, seed, annealing_time, solver_name, mock_topology).
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile


def fail(msg, code=2):
    print("dimod_sampler.py: " + msg, file=sys.stderr)
    sys.exit(code)


def build_bqm(dimod, p):
    n = p["num_variables"]
    vartype = dimod.SPIN if p["vartype"] == "SPIN" else dimod.BINARY
    linear = {i: float(h) for i, h in enumerate(p["linear"])}
    if len(linear) != n:
        fail(f"{len(linear)} linear terms for {n} variables")
    quadratic = {(int(u), int(v)): float(j) for u, v, j in p["quadratic"]}
    return dimod.BinaryQuadraticModel(linear, quadratic, float(p.get("offset", 0)), vartype)


def open_qpu(o):
    """D-Wave's hardware sampler, or for mock-qpu dwave-system's local stand-in."""
    try:
        from dwave.system import DWaveSampler
        from dwave.system.testing import MockDWaveSampler
    except ImportError:
        fail(f"--solver {o.solver} needs dwave-system (pip install dwave-system)"
             + (" and a D-Wave token" if o.solver == "qpu" else ""))
    if o.solver == "qpu":
        return DWaveSampler(solver=o.solver_name) if o.solver_name else DWaveSampler()
    kind, _, shape = o.mock_topology.partition(":")
    try:
        dims = [int(d) for d in shape.split(",")] if shape else None
    except ValueError:
        fail(f"--mock-topology {o.mock_topology!r}: expected KIND:N[,N...], e.g. chimera:16,16,4 or pegasus:6")
    try:
        return MockDWaveSampler(topology_type=kind, topology_shape=dims, parameter_warnings=False)
    except Exception as e:  # dwave-system raises ValueError/KeyError/TypeError for unknown kinds and shapes
        fail(f"--mock-topology {o.mock_topology!r}: {e}")


def is_native(qpu, bqm):
    """Every variable a qubit and every coupler a qubit coupler of `qpu`."""
    edges = set(map(tuple, qpu.edgelist)) | set((v, u) for u, v in qpu.edgelist)
    nodes = set(qpu.nodelist)
    return all(v in nodes for v in bqm.variables) and all(e in edges for e in bqm.quadratic)


def chimera_placement(qpu, bqm):
    """A one-qubit-per-variable embedding of a Chimera C(m,n,t) problem (in
    qvlua's and dwave_networkx's numbering, ((i*n + j)*2 + u)*t + k) into a
    Chimera QPU C(M,N,t) as a block of cells at some offset whose qubits and
    couplers all work: the problem runs natively, as the paper's priors ran
    on the D-Wave 2000Q, with no chains. None when there is no such block."""
    topo = (getattr(qpu, "properties", None) or {}).get("topology") or {}
    if topo.get("type") != "chimera":
        return None
    M, N, t = (list(topo.get("shape") or []) + [None] * 3)[:3]
    if not (M and N and t):
        return None
    nv = len(bqm.variables)
    if nv % (2 * t) or set(bqm.variables) != set(range(nv)):
        return None
    cells = nv // (2 * t)
    nodes = set(qpu.nodelist)
    edges = set(map(tuple, qpu.edgelist)) | set((v, u) for u, v in qpu.edgelist)
    for m in range(1, M + 1):
        if cells % m or cells // m > N:
            continue
        n = cells // m
        for di in range(M - m + 1):
            for dj in range(N - n + 1):
                def q(v):
                    k, rest = v % t, v // t
                    u, cell = rest % 2, rest // 2
                    return (((cell // n + di) * N + cell % n + dj) * 2 + u) * t + k
                if all(q(v) in nodes for v in bqm.variables) and \
                   all((q(a), q(b)) in edges for a, b in bqm.quadratic):
                    return {v: [q(v)] for v in bqm.variables}
    return None


def embedding_cache_dir(o):
    if o.embedding_cache:
        return o.embedding_cache
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "qvlua", "embeddings")


def embedded(qpu, bqm, o):
    """`qpu` behind a FixedEmbeddingComposite whose embedding of the problem's
    graph is found once (minorminer) and then read from the cache."""
    import minorminer
    from dwave.system import FixedEmbeddingComposite
    source = sorted((min(u, v), max(u, v)) for u, v in bqm.quadratic)
    if o.solver == "mock-qpu":
        solver_id = "mock:" + o.mock_topology
    else:
        solver_id = getattr(qpu.solver, "name", str(qpu.solver))
    key = hashlib.sha256(json.dumps([solver_id, sorted(qpu.edgelist), len(bqm.variables), source]).encode()).hexdigest()
    path = os.path.join(embedding_cache_dir(o), key[:32] + ".json")
    embedding = None
    if os.path.exists(path):
        try:
            with open(path) as f:
                embedding = {int(k): list(v) for k, v in json.load(f).items()}
        except (OSError, ValueError, AttributeError):
            embedding = None  # a torn or foreign file: embed again and overwrite it
    if embedding is None or set(embedding) != set(bqm.variables):
        embedding = chimera_placement(qpu, bqm) or dict(minorminer.find_embedding(source, qpu.edgelist, random_seed=o.seed or 0)) if source else {}
        used = {q for chain in embedding.values() for q in chain}
        free = (q for q in qpu.nodelist if q not in used)
        for v in bqm.variables:  # uncoupled variables: any free qubit
            if v not in embedding:
                q = next(free, None)
                if q is None:
                    break
                embedding[v] = [q]
        if set(embedding) != set(bqm.variables):
            fail(f"could not embed the {len(bqm.variables)}-variable problem in the solver's graph")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({str(k): list(v) for k, v in embedding.items()}, f)
        os.replace(tmp, path)
    return FixedEmbeddingComposite(qpu, embedding)


def sample(p, o):
    try:
        import dimod
    except ImportError:
        fail("needs dimod: pip install dwave-samplers")
    bqm = build_bqm(dimod, p)
    reads = int(p["num_reads"])
    solver = o.solver
    if solver in ("sa", "gibbs", "random"):
        try:
            from dwave.samplers import SimulatedAnnealingSampler, RandomSampler
        except ImportError:
            fail("needs dwave-samplers: pip install dwave-samplers")
        if solver == "random":
            ss = RandomSampler().sample(bqm, num_reads=reads, seed=o.seed)
        else:
            b0 = o.beta_final if solver == "gibbs" else o.beta_initial
            kw = dict(num_reads=reads, num_sweeps=o.sweeps, beta_range=[b0, o.beta_final],
                      beta_schedule_type="geometric" if solver == "sa" else "linear")
            if o.seed is not None:
                kw["seed"] = o.seed
            ss = SimulatedAnnealingSampler().sample(bqm, **kw)
    elif solver in ("qpu", "mock-qpu"):
        qpu = open_qpu(o)
        sampler = qpu if is_native(qpu, bqm) else embedded(qpu, bqm, o)
        kw = dict(num_reads=reads, answer_mode="raw", auto_scale=True)
        if o.annealing_time:
            kw["annealing_time"] = o.annealing_time
        ss = sampler.sample(bqm, **kw)
    else:
        fail(f"unknown solver '{solver}' (sa, gibbs, random, qpu, mock-qpu)")
    order = list(ss.variables)
    col = {v: k for k, v in enumerate(order)}
    idx = [col[i] for i in range(p["num_variables"])]
    rows = []
    for rec in ss.record:
        x = rec.sample
        line = " ".join(str(int(x[k])) for k in idx)
        for _ in range(int(rec.num_occurrences)):
            rows.append(line)
    if len(rows) < reads:
        fail(f"the solver returned {len(rows)} reads, {reads} asked")
    return rows[:reads]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--solver", default="sa", choices=["sa", "gibbs", "random", "qpu", "mock-qpu"])
    ap.add_argument("--sweeps", type=int, default=100)
    ap.add_argument("--beta-initial", type=float, default=0.01)
    ap.add_argument("--beta-final", type=float, default=1.0)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--annealing-time", type=float)
    ap.add_argument("--solver-name")
    ap.add_argument("--mock-topology", default="chimera:16,16,4")
    ap.add_argument("--embedding-cache", metavar="DIR")
    o = ap.parse_args(argv)
    try:
        p = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        fail(f"standard input is not JSON: {e}")
    if p.get("format") != "qvlua-problem-1":
        fail(f"unknown problem format {p.get('format')!r}")
    for k, v in (p.get("params") or {}).items():
        k = k.replace("-", "_")
        if hasattr(o, k):
            setattr(o, k, v)
    sys.stdout.write("\n".join(sample(p, o)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
