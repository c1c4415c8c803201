#!/usr/bin/env python3
"""PyTorch CPU reference for qvlua's P-conv benchmarks (BENCHMARKS.md, "P-conv
against PyTorch"): the same network, batch, prior, negative phase and K·D as
`vaebench train --arch conv --prior chimera` and `vaebench ll --arch conv`.

Network (DiscreteVAE.conv, the paper's Fig. 12, all paddings 0): encoder
gated convs (conv 2f → batch norm → ReLU(a)·σ(g)) with (f, k, s) =
(16,4,1) (32,3,2) (32,4,1) (64,3,2) (128,4,1), 28 → 1, h = 128;
hierarchical heads over the Chimera graph's two colour classes (144 + 144
units; head 2 also reads group 1's sample); decoder Linear(288 → 128) as
[128, 1, 1], gated transposed convs (deconv 2f → batch norm →
act(a)·σ(g) → dropout 0.2) with (64,4,1) (32,3,2) (32,4,1) (16,3,2) (1,4,1),
the last with identity value and no dropout; Bernoulli logits.

Prior: Boltzmann machine on Chimera C(6,6,4) (288 units, 816 couplers),
PCD with 1000 persistent chains advanced 10 block-Gibbs sweeps per step
(vectorized: each colour class in one matmul with the dense coupler block),
the negative phase's moments give ∂log Z; weights clamped to [-1, 1] after
every Adam step (lr 3e-3). Objective: L_{K,D} with relaxed (τ = 1/7)
posterior samples, as qvlua's `objective`.

Usage:
  torch_pconv.py train --kd K,D [--steps N] [--threads T] [--clock cpu|wall]
  torch_pconv.py convs [--repeats 11] [--threads T] [--clock cpu|wall]
  torch_pconv.py ll [--k 1000] [--images 20] [--max-rows 10000] [--decode-rows 1000] [--threads T] [--clock cpu|wall]
Prints one line with images/s (median step), like vaebench.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def chimera(m=6, n=6, t=4):
    """Edges of Chimera C(m, n, t) and a 2-colouring (it is bipartite).
    Unit (r, c, side, k) has index ((r·n + c)·2 + side)·t + k; side 0 couples
    vertically to the same k in the cell below, side 1 horizontally."""
    def idx(r, c, s, k):
        return ((r * n + c) * 2 + s) * t + k
    edges = []
    for r in range(m):
        for c in range(n):
            for a in range(t):
                for b in range(t):
                    edges.append((idx(r, c, 0, a), idx(r, c, 1, b)))
            for k in range(t):
                if r + 1 < m:
                    edges.append((idx(r, c, 0, k), idx(r + 1, c, 0, k)))
                if c + 1 < n:
                    edges.append((idx(r, c, 1, k), idx(r, c + 1, 1, k)))
    units = m * n * 2 * t
    colour = [0] * units
    for r in range(m):
        for c in range(n):
            for s in range(2):
                for k in range(t):
                    colour[idx(r, c, s, k)] = (s + r + c) % 2
    for u, v in edges:
        assert colour[u] != colour[v]
    return units, edges, colour


class GatedConv(nn.Module):
    def __init__(self, cin, f, k, s, transposed=False, relu=True, dropout=0.0):
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(cin, 2 * f, k, stride=s)
        self.bn = nn.BatchNorm2d(2 * f)
        self.f, self.relu, self.p = f, relu, dropout

    def forward(self, x):
        y = self.bn(self.conv(x))
        a, g = y[:, :self.f], y[:, self.f:]
        out = (F.relu(a) if self.relu else a) * torch.sigmoid(g)
        return F.dropout(out, self.p, self.training) if self.p > 0 else out


class PConv(nn.Module):
    def __init__(self, units, groups):
        super().__init__()
        enc = [(16, 4, 1), (32, 3, 2), (32, 4, 1), (64, 3, 2), (128, 4, 1)]
        dec = [(64, 4, 1), (32, 3, 2), (32, 4, 1), (16, 3, 2), (1, 4, 1)]
        layers, c = [], 1
        for f, k, s in enc:
            layers.append(GatedConv(c, f, k, s)); c = f
        self.trunk = nn.Sequential(*layers)
        self.groups = groups                      # unit indices of each group
        self.heads = nn.ModuleList()
        prev = 0
        for g in groups:
            self.heads.append(nn.Linear(128 + prev, len(g))); prev += len(g)
        self.order = torch.argsort(torch.cat(groups))  # grouped → unit order
        self.dense = nn.Linear(units, 128)
        dl, c = [], 128
        for i, (f, k, s) in enumerate(dec):
            last = i == len(dec) - 1
            dl.append(GatedConv(c, f, k, s, transposed=True, relu=not last, dropout=0.0 if last else 0.2)); c = f
        self.decoder = nn.Sequential(*dl)

    def features(self, x):
        return self.trunk(x.view(-1, 1, 28, 28)).flatten(1)

    def decode(self, zeta):
        return self.decoder(self.dense(zeta).view(-1, 128, 1, 1)).flatten(1)

    def sample(self, h, s, tau):
        """Posterior samples (s per image): relaxed (tau) or hard (tau None);
        returns ζ in unit order [B·s, N] and log q [B·s]."""
        zs, logq = [], 0
        for g, head in enumerate(self.heads):
            l = F.linear(h, head.weight[:, :128], head.bias).repeat_interleave(s, 0)
            if g > 0:
                l = l + F.linear(torch.cat(zs, 1), head.weight[:, 128:])
            u = torch.rand_like(l).clamp_(1e-7, 1 - 1e-7)
            u = torch.log(u) - torch.log1p(-u)
            z = torch.sigmoid((l + u) / tau) if tau else (l + u > 0).float()
            logq = logq - F.binary_cross_entropy_with_logits(l, z, reduction="none").sum(1)
            zs.append(z)
        return torch.cat(zs, 1)[:, self.order], logq


class ChimeraPrior(nn.Module):
    """E(z) = −b·z − Σ_e w_e z_u z_v; PCD negative phase."""
    def __init__(self, chains=1000, sweeps=10):
        super().__init__()
        units, edges, colour = chimera()
        self.units, self.sweeps = units, sweeps
        self.eu = torch.tensor([u for u, _ in edges]); self.ev = torch.tensor([v for _, v in edges])
        self.bias = nn.Parameter(torch.zeros(units))
        self.weights = nn.Parameter(torch.randn(len(edges)) * 0.01)
        # Block Gibbs on the two colour classes A, B: the couplers as a dense
        # [|A|, |B|] matrix (scattered from the edge weights each step), so a
        # half-sweep is one [chains, 144] × [144, 144] matmul.
        self.cls = [torch.tensor([i for i in range(units) if colour[i] == c]) for c in (0, 1)]
        pos = {}
        for c in (0, 1):
            for j, i in enumerate(self.cls[c].tolist()):
                pos[i] = j
        a_of = [u if colour[u] == 0 else v for u, v in edges]
        b_of = [v if colour[u] == 0 else u for u, v in edges]
        self.flat = torch.tensor([pos[a] * len(self.cls[1]) + pos[b] for a, b in zip(a_of, b_of)])
        self.state = [(torch.rand(chains, len(c)) < 0.5).float() for c in self.cls]
        self.burned = False

    def energy(self, z):
        return -(z @ self.bias) - (z[:, self.eu] * z[:, self.ev]) @ self.weights

    @torch.no_grad()
    def negative_phase(self):
        na, nb = len(self.cls[0]), len(self.cls[1])
        w = torch.zeros(na * nb).index_copy_(0, self.flat, self.weights.detach()).view(na, nb)
        ba, bb = self.bias.detach()[self.cls[0]], self.bias.detach()[self.cls[1]]
        za, zb = self.state
        for _ in range(self.sweeps if self.burned else 100):
            za = (torch.rand_like(za) < torch.sigmoid(torch.addmm(ba, zb, w.t()))).float()
            zb = (torch.rand_like(zb) < torch.sigmoid(torch.addmm(bb, za, w))).float()
        self.state, self.burned = [za, zb], True
        z = torch.empty(za.shape[0], self.units)
        z[:, self.cls[0]], z[:, self.cls[1]] = za, zb
        return z.mean(0), (z[:, self.eu] * z[:, self.ev]).mean(0)

    def log_z(self, phase):
        m, mm = phase   # a surrogate with the PCD gradient (its value is not log Z)
        return (self.bias * m).sum() + (self.weights * mm).sum()


def objective(vae, prior, x, k, d, phase, tau=1 / 7):
    b, s = x.shape[0], k * d
    zeta, logq = vae.sample(vae.features(x), s, tau)
    logits = vae.decode(zeta)
    logpx = -F.binary_cross_entropy_with_logits(logits, x.repeat_interleave(s, 0), reduction="none").sum(1)
    logw = logpx - (logq + prior.energy(zeta) + prior.log_z(phase))
    bound = logw.view(b, d, k)
    bound = torch.logsumexp(bound, 2) - math.log(k) if k > 1 else bound.squeeze(2)
    return -bound.mean(1).mean()


def clock(kind):
    return time.process_time if kind == "cpu" else time.perf_counter


def build():
    torch.manual_seed(1)
    prior = ChimeraPrior()
    groups = [prior.cls[0], prior.cls[1]]
    return PConv(prior.units, groups), prior


def bench_train(a):
    k, d = map(int, a.kd.split(","))
    vae, prior = build()
    opt = torch.optim.Adam(list(vae.parameters()) + list(prior.parameters()), lr=3e-3)
    batches = [(torch.rand(100, 784) < 0.13).float() for _ in range(8)]
    now, times = clock(a.clock), []
    for i in range(a.steps + 3):
        x = batches[i % len(batches)]
        t0 = now()
        opt.zero_grad(set_to_none=True)
        phase = prior.negative_phase()
        loss = objective(vae, prior, x, k, d, phase)
        loss.backward()
        opt.step()
        with torch.no_grad():
            prior.weights.clamp_(-1, 1)
        if i >= 3:
            times.append(now() - t0)
    med = statistics.median(times)
    print(f"torch train conv prior=chimera K={k} D={d}: {100 / med:.0f} images/s "
          f"(step {med * 1e3:.2f} ms, min {min(times) * 1e3:.2f} ms; {len(times)} steps; "
          f"{torch.get_num_threads()} threads, {a.clock} clock)")


@torch.no_grad()
def log_likelihood(vae, prior, x, k, max_rows, decode_rows):
    """log p(x) estimates (log Z = 0) with K hard posterior samples, drawn
    ≤ max_rows at a time and decoded ≤ decode_rows rows per pass, as
    qvlua's `logLikelihood` (decodeRows 1000)."""
    kc = min(k, max_rows); bc = max(1, max_rows // kc)
    out = []
    for b0 in range(0, x.shape[0], bc):
        xb = x[b0:b0 + bc]
        h = vae.features(xb)
        parts = []
        for done in range(0, k, kc):
            kk = min(kc, k - done)
            zeta, logq = vae.sample(h, kk, None)
            logits = torch.cat([vae.decode(z) for z in zeta.split(decode_rows)])
            logpx = -F.binary_cross_entropy_with_logits(logits, xb.repeat_interleave(kk, 0),
                                                        reduction="none").sum(1)
            parts.append((logpx - logq - prior.energy(zeta)).view(xb.shape[0], kk).double())
        out.append(torch.logsumexp(torch.cat(parts, 1), 1) - math.log(k))
    return torch.cat(out)


def bench_ll(a):
    vae, prior = build()
    vae.eval()
    x = (torch.rand(a.images, 784) < 0.13).float()
    now, times = clock(a.clock), []
    log_likelihood(vae, prior, x[:min(a.images, 10)], a.k, a.max_rows, a.decode_rows)
    for _ in range(a.repeats):
        t0 = now()
        log_likelihood(vae, prior, x, a.k, a.max_rows, a.decode_rows)
        times.append(now() - t0)
    med = statistics.median(times)
    print(f"torch LL P-conv K={a.k} maxRows={a.max_rows}: {a.images / med:.2f} images/s "
          f"({a.images} images in {med:.3f} s median, min {min(times):.3f} s; "
          f"{torch.get_num_threads()} threads, {a.clock} clock)")


def bench_convs(a):
    """Raw convolutions at P-conv's shapes, batch 100 (as `vaebench convs`):
    forward, and backward (dx unless the input is the image, dW, db) given
    a fixed dL/dy; PyTorch dispatches these to oneDNN (mkldnn) on CPU."""
    layers = [(False, 1, 32, 4, 1, 28), (False, 16, 64, 3, 2, 25), (False, 32, 64, 4, 1, 12),
              (False, 32, 128, 3, 2, 9), (False, 64, 256, 4, 1, 4), (True, 128, 128, 4, 1, 1),
              (True, 64, 64, 3, 2, 4), (True, 32, 64, 4, 1, 9), (True, 32, 32, 3, 2, 12), (True, 16, 2, 4, 1, 25)]
    now, tot_f, tot_b = clock(a.clock), 0.0, 0.0
    for tr, cin, cout, k, s, hw in layers:
        conv = (nn.ConvTranspose2d if tr else nn.Conv2d)(cin, cout, k, stride=s)
        x = torch.randn(100, cin, hw, hw, requires_grad=cin > 1)
        gy = torch.randn_like(conv(x))
        tf, tb = [], []
        for i in range(a.repeats + 2):
            t0 = now(); y = conv(x); t1 = now(); y.backward(gy); t2 = now()
            if i >= 2:
                tf.append(t1 - t0); tb.append(t2 - t1)
            conv.zero_grad(set_to_none=True); x.grad = None
        f, b = statistics.median(tf), statistics.median(tb)
        tot_f += f; tot_b += b
        print(f"  {'convT' if tr else 'conv '} {cin}->{cout} k{k} s{s} {hw}x{hw}->{y.shape[2]}x{y.shape[3]}: "
              f"forward {f * 1e3:.2f} ms, backward {b * 1e3:.2f} ms")
    print(f"  total forward {tot_f * 1e3:.2f} ms, backward {tot_b * 1e3:.2f} ms "
          f"({torch.get_num_threads()} threads, {a.clock} clock)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["train", "ll", "convs"])
    p.add_argument("--kd", default="1,1")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--max-rows", type=int, default=10000)
    p.add_argument("--decode-rows", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--clock", choices=["cpu", "wall"], default="wall")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    {"train": bench_train, "ll": bench_ll, "convs": bench_convs}[a.what](a)


if __name__ == "__main__":
    main()
