"""Load a qvlua checkpoint into PyTorch.

A qvlua checkpoint (``runs/<name>/checkpoint.safetensors``, written by
``scripts/train.lua``) describes itself: its ``model`` metadata (schema
``qvlua-model-1``, docs/CHECKPOINT.md) names the prior's graph, the
posterior's groups and the networks' architecture. This module rebuilds
the model from that description as ordinary ``torch.nn`` modules and loads
the weights, so a trained model can be used from PyTorch::

    import torch, qvlua_torch
    vae = qvlua_torch.load("runs/default/checkpoint.safetensors")   # eval mode
    z = vae.prior.sample(16, sweeps=1000)          # block-Gibbs samples of p(z)
    images = torch.sigmoid(vae.decoder(z))         # [16, 784] pixel probabilities
    rho = torch.rand(8, vae.units)                 # the relaxation's noise
    parts = vae.elbo(x, rho, tau=1/7, logz=logz)   # per-image ELBO and its terms (logz: qvlua's p:logz)

Needs only ``torch``, ``numpy`` and ``safetensors``. The conventions are
qvlua's: units z in {0,1}; H(z) = sum_l b_l z_l + sum_e W_e z_u z_v with
p(z) = exp(-H(z)) / Z; the encoder's group g reads [h(x), zeta_1, ...,
zeta_{g-1}]; zeta = sigmoid((logit(rho) + l) / tau), hard z = [logit(rho) + l > 0].
"""

import json

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

SCHEMA = "qvlua-model-1"

# The architectures' defaults, as qvlua's DiscreteVAE fills them in
# (Sources/Model/VAE/DiscreteVAE.swift); a checkpoint's config holds every
# key, these only complete a hand-written one.
DENSE_DEFAULTS = {"arch": "dense", "input": "784", "encoder_hidden": "512,256", "decoder_hidden": "256,512"}
CONV_DEFAULTS = {
    "arch": "conv", "input": "784", "image": "28x28",
    "encoder_convs": "16:4:1,32:3:2,32:4:1,64:3:2,128:4:1",
    "decoder_dense": "128", "decoder_deconvs": "64:4:1,32:3:2,32:4:1,16:3:2,1:4:1",
    "padding": "0", "dropout": "0.2",
}


class CheckpointError(ValueError):
    """A file that is not a qvlua checkpoint this loader can rebuild."""


# --------------------------------------------------------------------------
# Layers that torch.nn does not have under these names

class Reshape(nn.Module):
    """``x.reshape(shape)`` (qvlua's ``qv.nn.reshape``; -1 is the batch)."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)


def gated(x, relu):
    """The paper's gate: split the channels into value a and gate g, act(a) * sigmoid(g)."""
    a, g = x.chunk(2, dim=1)
    return (F.relu(a) if relu else a) * torch.sigmoid(g)


class GatedConv(nn.Module):
    """Fig. 12's gated convolution: conv(2f) -> batch norm -> ReLU(a) * sigmoid(g)."""

    def __init__(self, cin, f, k, s, padding):
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * f, k, stride=s, padding=padding)
        self.bn = nn.BatchNorm2d(2 * f, eps=1e-5, momentum=0.1)

    def forward(self, x):
        return gated(self.bn(self.conv(x)), relu=True)


class GatedConvTranspose(nn.Module):
    """The decoder's gated transposed convolution: deconv(2f) -> batch norm ->
    act(a) * sigmoid(g) -> dropout; act is the identity in the output block."""

    def __init__(self, cin, f, k, s, padding, dropout, relu_value):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, 2 * f, k, stride=s, padding=padding)
        self.bn = nn.BatchNorm2d(2 * f, eps=1e-5, momentum=0.1)
        self.dropout = nn.Dropout(dropout)
        self.relu_value = relu_value

    def forward(self, x):
        return self.dropout(gated(self.bn(self.deconv(x)), relu=self.relu_value))


# --------------------------------------------------------------------------
# The networks from the checkpoint's `networks` description

def _int(cfg, key):
    try:
        v = int(str(cfg[key]).strip())
    except (KeyError, ValueError):
        raise CheckpointError(f"networks.{key} must be a non-negative integer, got {cfg.get(key)!r}") from None
    if v < 0:
        raise CheckpointError(f"networks.{key} must be a non-negative integer, got {v}")
    return v


def _sizes(cfg, key):
    text = str(cfg.get(key, "")).strip()
    if not text:
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise CheckpointError(f"networks.{key}: bad layer sizes {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise CheckpointError(f"networks.{key}: layer sizes must be positive, got {text!r}")
    return sizes


def _triples(cfg, key):
    out = []
    for t in str(cfg.get(key, "")).split(","):
        try:
            f, k, s = (int(v) for v in t.split(":"))
        except ValueError:
            raise CheckpointError(f"networks.{key}: expected f:k:s, got {t!r}") from None
        if min(f, k, s) <= 0:
            raise CheckpointError(f"networks.{key}: expected positive f:k:s, got {t!r}")
        out.append((f, k, s))
    return out


def _dense_networks(cfg, units):
    """Trunk input -> encoder_hidden... (ReLU) and decoder units -> decoder_hidden... (ReLU) -> input."""
    n_in = _int(cfg, "input")
    layers, w = [], n_in
    for h in _sizes(cfg, "encoder_hidden"):
        layers += [nn.Linear(w, h), nn.ReLU()]
        w = h
    trunk, hidden = nn.Sequential(*layers), w
    layers, w = [], units
    for h in _sizes(cfg, "decoder_hidden"):
        layers += [nn.Linear(w, h), nn.ReLU()]
        w = h
    layers.append(nn.Linear(w, n_in))
    return trunk, hidden, nn.Sequential(*layers)


def _conv_networks(cfg, units):
    """The paper's gated convolutional trunk and decoder (docs/VAE.md, Fig. 12)."""
    n_in = _int(cfg, "input")
    try:
        rows, cols = (int(v) for v in str(cfg["image"]).split("x"))
    except (KeyError, ValueError):
        raise CheckpointError(f"networks.image must be HxW, got {cfg.get('image')!r}") from None
    if rows * cols != n_in:
        raise CheckpointError(f"networks.image {rows}x{cols} does not match input {n_in}")
    pad = _int(cfg, "padding")
    rate = float(cfg.get("dropout", "0.2"))
    layers, c, hh, ww = [Reshape(-1, 1, rows, cols)], 1, rows, cols
    for f, k, s in _triples(cfg, "encoder_convs"):
        layers.append(GatedConv(c, f, k, s, pad))
        hh, ww, c = (hh + 2 * pad - k) // s + 1, (ww + 2 * pad - k) // s + 1, f
        if hh < 1 or ww < 1:
            raise CheckpointError("networks: the encoder convolutions shrink the image below 1x1")
    layers.append(nn.Flatten())
    trunk, hidden = nn.Sequential(*layers), c * hh * ww
    dense = _int(cfg, "decoder_dense")
    layers, dc = [nn.Linear(units, dense * hh * ww), Reshape(-1, dense, hh, ww)], dense
    deconvs = _triples(cfg, "decoder_deconvs")
    for i, (f, k, s) in enumerate(deconvs):
        last = i == len(deconvs) - 1
        layers.append(GatedConvTranspose(dc, f, k, s, pad, 0.0 if last else rate, relu_value=not last))
        hh, ww, dc = (hh - 1) * s - 2 * pad + k, (ww - 1) * s - 2 * pad + k, f
    if (dc, hh, ww) != (1, rows, cols):
        raise CheckpointError(f"networks: the decoder produces [{dc}, {hh}, {ww}], expected [1, {rows}, {cols}]")
    layers.append(nn.Flatten())
    return trunk, hidden, nn.Sequential(*layers)


def build_networks(networks, units):
    """(trunk, hidden size, decoder) for a checkpoint's ``networks`` description."""
    arch = networks.get("arch", "dense")
    if arch == "dense":
        return _dense_networks({**DENSE_DEFAULTS, **networks}, units)
    if arch == "conv":
        return _conv_networks({**CONV_DEFAULTS, **networks}, units)
    if arch == "custom":
        raise CheckpointError("the checkpoint's networks were built from custom qv.nn layers (arch 'custom'); "
                              "their layout is not described, so they cannot be rebuilt here")
    raise CheckpointError(f"unknown networks.arch {arch!r} (dense, conv)")


# --------------------------------------------------------------------------
# The model

class Encoder(nn.Module):
    """The hierarchical posterior q(z|x) = prod_g q(z_g | x, zeta_<g): a trunk
    x -> h [B, H] and one linear head per group over [h, zeta_1, ..., zeta_{g-1}]."""

    def __init__(self, trunk, hidden, group_sizes):
        super().__init__()
        self.trunk = trunk
        self.hidden = hidden
        self.group_sizes = list(group_sizes)
        heads, prev = [], 0
        for n in self.group_sizes:
            heads.append(nn.Linear(hidden + prev, n))
            prev += n
        self.heads = nn.ModuleList(heads)

    def forward(self, x, rho, tau=None):
        """Samples the groups with the given noise: returns (logits, zetas), one
        [B, n_g] tensor per group. ``rho`` holds uniforms in (0, 1), one
        [B, n_g] tensor per group (or one [B, N] tensor, the groups side by
        side in group order: the order qvlua draws them). ``tau`` None gives
        hard samples [logit(rho) + l > 0], else the relaxation
        sigmoid((logit(rho) + l) / tau)."""
        h = self.trunk(x)
        rho = self._split(rho, h.shape[0])
        logits, zetas = [], []
        for head, r in zip(self.heads, rho):
            l = head(torch.cat([h] + zetas, dim=1))
            u = torch.log(r) - torch.log1p(-r)
            zetas.append((u + l > 0).to(l.dtype) if tau is None else torch.sigmoid((u + l) / tau))
            logits.append(l)
        return logits, zetas

    def _split(self, rho, b):
        if torch.is_tensor(rho):
            if rho.dim() != 2 or rho.shape != (b, sum(self.group_sizes)):
                raise ValueError(f"rho must be [{b}, {sum(self.group_sizes)}], got {list(rho.shape)}")
            return list(rho.split(self.group_sizes, dim=1))
        rho = list(rho)
        shapes = [list(r.shape) for r in rho]
        if shapes != [[b, n] for n in self.group_sizes]:
            raise ValueError(f"rho must be one tensor per group, shapes {[[b, n] for n in self.group_sizes]}, got {shapes}")
        return rho


class BoltzmannPrior(nn.Module):
    """p(z) = exp(-H(z)) / Z over z in {0,1}^N on a graph,
    H(z) = sum_l bias[l] z_l + sum_e weights[e] z[edges[e][0]] z[edges[e][1]].

    ``beta_eff`` is the effective inverse temperature the training tracked
    (an annealer's samples are modelled as exp(-beta_eff H)); the prior
    itself is exp(-H). ``blocks`` are the colour classes block Gibbs
    updates together (no edge inside a block)."""

    def __init__(self, nodes, edges, blocks=None, beta_eff=1.0):
        super().__init__()
        edges = torch.as_tensor(edges, dtype=torch.long).reshape(-1, 2)
        if edges.numel() and (edges.min() < 0 or edges.max() >= nodes or (edges[:, 0] == edges[:, 1]).any()):
            raise CheckpointError(f"prior graph: edges must join two distinct nodes of 0..{nodes - 1}")
        self.nodes = nodes
        self.bias = nn.Parameter(torch.zeros(nodes))
        self.weights = nn.Parameter(torch.zeros(edges.shape[0]))
        self.register_buffer("beta_eff", torch.tensor(float(beta_eff)))
        self.register_buffer("edges", edges, persistent=False)
        self.blocks = [list(b) for b in blocks] if blocks else colour_classes(nodes, edges.tolist())
        if sorted(u for b in self.blocks for u in b) != list(range(nodes)):
            raise CheckpointError("prior graph: the blocks do not partition the nodes")
        in_block = torch.empty(nodes, dtype=torch.long)
        for k, b in enumerate(self.blocks):
            in_block[b] = k
        if edges.numel() and (in_block[edges[:, 0]] == in_block[edges[:, 1]]).any():
            raise CheckpointError("prior graph: an edge joins two nodes of one block")

    def energy(self, z):
        """H(z) for each row of z [..., N] (binary or relaxed): a [...] tensor."""
        if z.shape[-1] != self.nodes:
            raise ValueError(f"z must be [..., {self.nodes}], got {list(z.shape)}")
        u, v = self.edges[:, 0], self.edges[:, 1]
        return z @ self.bias + (z[..., u] * z[..., v]) @ self.weights

    def field(self, z):
        """The local fields b_l + sum_{j ~ l} W_lj z_j [..., N]: H(z_l = 1) - H(z_l = 0)."""
        u, v = self.edges[:, 0], self.edges[:, 1]
        f = self.bias.expand(z.shape).clone()
        f.index_add_(-1, u, z[..., v] * self.weights)
        f.index_add_(-1, v, z[..., u] * self.weights)
        return f

    @torch.no_grad()
    def sample(self, n, sweeps=1000, beta=1.0, init=None, generator=None):
        """Block-Gibbs samples [n, N] of exp(-beta H): n independent chains,
        started uniformly at random (or at ``init`` [n, N]), each run
        ``sweeps`` sweeps; a sweep updates every block once, in order, from
        p(z_l = 1 | rest) = sigmoid(-beta * field_l)."""
        dev, dt = self.bias.device, self.bias.dtype
        if init is None:
            z = (torch.rand(n, self.nodes, generator=generator, device=dev) < 0.5).to(dt)
        else:
            z = init.to(device=dev, dtype=dt).clone()
            if z.shape != (n, self.nodes):
                raise ValueError(f"init must be [{n}, {self.nodes}], got {list(z.shape)}")
        blocks = [torch.as_tensor(b, dtype=torch.long, device=dev) for b in self.blocks]
        for _ in range(sweeps):
            for b in blocks:
                p = torch.sigmoid(-beta * self.field(z)[:, b])
                z[:, b] = (torch.rand(p.shape, generator=generator, device=dev) < p).to(dt)
        return z


def colour_classes(nodes, edges):
    """A partition of the nodes into independent sets: the two sides of a
    bipartite graph, else a greedy colouring in node order."""
    nbrs = [[] for _ in range(nodes)]
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    side = [-1] * nodes
    bipartite = True
    for s in range(nodes):
        if side[s] >= 0:
            continue
        side[s], stack = 0, [s]
        while stack and bipartite:
            a = stack.pop()
            for b in nbrs[a]:
                if side[b] < 0:
                    side[b] = 1 - side[a]
                    stack.append(b)
                elif side[b] == side[a]:
                    bipartite = False
    if not bipartite:
        side = [-1] * nodes
        for a in range(nodes):
            taken = {side[b] for b in nbrs[a]}
            side[a] = next(c for c in range(len(taken) + 1) if c not in taken)
    classes = [[] for _ in range(max(side, default=-1) + 1)]
    for a, c in enumerate(side):
        classes[c].append(a)
    return [c for c in classes if c]


class QvluaVAE(nn.Module):
    """A qvlua discrete VAE: ``encoder`` (hierarchical posterior),
    ``decoder`` (latents in unit order -> Bernoulli logits over the pixels)
    and ``prior`` (a BoltzmannPrior). ``groups[g]`` lists the prior's units
    that group g's head samples, in the head's output order."""

    def __init__(self, description):
        super().__init__()
        self.description = description
        prior = description["prior"]
        graph = prior["graph"]
        if prior.get("kind") == "quantum":
            raise CheckpointError("a quantum Boltzmann machine prior (kind 'quantum') is not supported: "
                                  "its transverse field is not part of the model description")
        nodes = int(graph["nodes"])
        self.groups = [list(map(int, g)) for g in description["posterior"]["groups"]]
        flat = [u for g in self.groups for u in g]
        if sorted(flat) != list(range(nodes)):
            raise CheckpointError("posterior.groups must partition the prior's units")
        self.units = nodes
        self.register_buffer("unit_of_column", torch.tensor(flat, dtype=torch.long), persistent=False)
        trunk, hidden, decoder = build_networks(description["networks"], nodes)
        self.encoder = Encoder(trunk, hidden, [len(g) for g in self.groups])
        self.decoder = decoder
        self.prior = BoltzmannPrior(nodes, graph["edges"], graph.get("blocks"), prior.get("beta_eff", 1.0))

    def to_units(self, zetas):
        """Per-group samples -> latents in unit order [B, N] (the prior's and the decoder's order)."""
        grouped = torch.cat(list(zetas), dim=1)
        z = torch.empty_like(grouped)
        z[:, self.unit_of_column] = grouped
        return z

    def decode(self, z):
        """Decoder logits [B, P] for latents z [B, N] in unit order."""
        return self.decoder(z)

    def elbo(self, x, rho, tau=1 / 7, logz=0.0):
        """The single-sample ELBO on images x [B, P] with posterior noise rho
        (see Encoder.forward) and temperature tau (None: hard samples), as
        qvlua's ``model:loss`` computes it: per image
        log p(x|zeta) - log q(zeta|x) - H(zeta) - log Z. Returns a dict of [B]
        tensors ``elbo``, ``logpx``, ``logq``, ``energy`` and the latents ``z``
        [B, N] in unit order. ``logz`` is the prior's log Z (qvlua's
        ``p:logz``)."""
        logits, zetas = self.encoder(x, rho, tau)
        z = self.to_units(zetas)
        logpx = -F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(1)
        logq = sum(-F.binary_cross_entropy_with_logits(l, s, reduction="none").sum(1) for l, s in zip(logits, zetas))
        energy = self.prior.energy(z)
        return {"elbo": logpx - logq - energy - logz, "logpx": logpx, "logq": logq, "energy": energy, "z": z}


def read_description(path):
    """The checkpoint's ``model`` metadata (a dict, schema qvlua-model-1)."""
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    if "model" not in meta:
        raise CheckpointError(f"{path}: no 'model' description in the metadata (format {meta.get('format')!r}); "
                              "checkpoints of qvlua before schema qvlua-model-1 describe no model: "
                              "resume and save them with a newer qvlua")
    try:
        description = json.loads(meta["model"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: the 'model' metadata is not JSON: {e}") from None
    if description.get("schema") != SCHEMA:
        raise CheckpointError(f"{path}: model schema {description.get('schema')!r}, this loader reads {SCHEMA!r}")
    return description


def load(path, device="cpu"):
    """Rebuilds the checkpoint's model as a QvluaVAE with its weights and
    batch-norm statistics, in evaluation mode (batch norm uses the running
    statistics, dropout is off; ``.train()`` switches both, as in qvlua)."""
    vae = QvluaVAE(read_description(path))
    tensors = load_file(path)
    state = vae.state_dict()
    for key, want in state.items():
        have = tensors.get("model." + key)
        if have is None:
            raise CheckpointError(f"{path}: tensor model.{key} is missing")
        if have.numel() != want.numel() or (have.dim() and list(have.shape) != list(want.shape)):
            raise CheckpointError(f"{path}: model.{key} is {list(have.shape)}, the description needs {list(want.shape)}")
        state[key] = have.reshape(want.shape).to(want.dtype)
    vae.load_state_dict(state)
    return vae.to(device).eval()
