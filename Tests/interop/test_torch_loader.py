"""python/qvlua_torch.py against qvlua's own numbers (make test-interop).

Short scripts/train.lua runs write checkpoints (dense networks on the
Chimera, RBM and Bernoulli priors, the paper's gated convolutions on
Pegasus); Tests/interop/export.lua writes qvlua's decoder logits, prior
energies, posterior samples and ELBO terms on the same inputs and noise;
the loader must reproduce them to float tolerance. The block-Gibbs sampler
is checked against exact enumeration.

Run: .venv-torch/bin/python Tests/interop/test_torch_loader.py [-v]
(QVLUA names the qvlua binary; default .build/release/qvlua).
"""

import copy
import itertools
import os
import subprocess
import sys
import tempfile
import unittest

import torch
from safetensors.torch import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import qvlua_torch  # noqa: E402

QVLUA = os.environ.get("QVLUA", os.path.join(ROOT, ".build", "release", "qvlua"))

# A few steps on 100 images: enough to move every parameter and the
# batch-norm statistics away from their initial values.
TRAIN = ["--train-n", "100", "--batch-size", "50", "--chains", "20", "--valid-n", "20", "--eval-n", "5",
         "--eval-k", "2", "--logz-chains", "10", "--logz-temperatures", "10", "--epochs", "1", "--quiet"]
RUNS = {
    "dense_chimera": ["--network", "dense", "--prior", "chimera"],
    "conv_pegasus": ["--network", "conv", "--prior", "pegasus"],
    "dense_rbm": ["--network", "dense", "--prior", "rbm"],
    "dense_bernoulli": ["--network", "dense", "--prior", "bernoulli"],
}


def qvlua(*args):
    r = subprocess.run([QVLUA, *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"qvlua {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


class CheckpointCase:
    """qvlua's numbers on a checkpoint (export.lua) and the loaded model."""

    def __init__(self, tmp, name, checkpoint, perturb):
        ref = os.path.join(tmp, name + "_ref.safetensors")
        self.path = os.path.join(tmp, name + ".safetensors") if perturb else checkpoint
        qvlua("Tests/interop/export.lua", checkpoint, ref, *([self.path] if perturb else []))
        self.ref = load_file(ref)
        self.vae = qvlua_torch.load(self.path)


def cases(tmp):
    """Per run: the trained checkpoint, and one with its networks moved far
    from their initial values by export.lua (so that, e.g., the output
    block's logits take both signs)."""
    out = {}
    for name, extra in RUNS.items():
        run = os.path.join(tmp, name)
        qvlua("scripts/train.lua", *TRAIN, *extra, "--out", run)
        checkpoint = os.path.join(run, "checkpoint.safetensors")
        out[name] = CheckpointCase(tmp, name, checkpoint, perturb=False)
        out[name + "_perturbed"] = CheckpointCase(tmp, name + "_perturbed", checkpoint, perturb=True)
    return out


class LoaderMatchesQvlua(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="qvlua_interop_")
        cls.cases = cases(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def each(self, check):
        """check(name, vae, ref) for every checkpoint, each a subtest, without gradients."""
        for name, case in self.cases.items():
            with self.subTest(checkpoint=name), torch.no_grad():
                check(name, case.vae, case.ref)

    def close(self, actual, expected, rtol=1e-4, atol=1e-4, what=""):
        torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")

    def test_the_description_matches_the_networks(self):
        def check(name, vae, _):
            d = vae.description
            self.assertEqual(d["schema"], qvlua_torch.SCHEMA)
            self.assertEqual(vae.prior.weights.numel(), len(d["prior"]["graph"]["edges"]))
            self.assertEqual(d["networks"]["arch"], "conv" if name.startswith("conv") else "dense")
            self.assertFalse(vae.training)
            # the prior's blocks come from the checkpoint (qvlua's colouring)
            self.assertEqual(vae.prior.blocks, [list(b) for b in d["prior"]["graph"]["blocks"]])
        self.each(check)

    def test_decoder_logits(self):
        def check(_, vae, ref):
            self.close(vae.decode(ref["z"]), ref["decoder_logits"], what="binary z")
            self.close(vae.decode(ref["relaxed"]), ref["decoder_logits_relaxed"], what="relaxed z")
        self.each(check)

    def test_prior_energies(self):
        def check(_, vae, ref):
            self.close(vae.prior.energy(ref["z"]), ref["energy"], what="p:energy")
            self.close(vae.prior.energy(ref["z"]), ref["bm_energy"], what="bm:energy")
            self.close(vae.prior.energy(ref["relaxed"]), ref["energy_relaxed"], what="relaxed")
        self.each(check)

    def test_posterior_with_the_exported_noise(self):
        def check(_, vae, ref):
            logits, zetas = vae.encoder(ref["x"], ref["rho"], ref["tau"].item())
            self.close(vae.to_units(logits), ref["encode_logits"], what="logits")
            self.close(vae.to_units(zetas), ref["encode_zeta"], rtol=1e-3, atol=1e-3, what="relaxed zeta")
            _, hard = vae.encoder(ref["x"], ref["rho"], None)
            differ = vae.to_units(hard) != ref["encode_hard"]
            # a unit may differ only where logit(rho) + l is within rounding of 0
            margin = vae.to_units([(torch.logit(ref["rho"].double()) + torch.cat(logits, 1).double()).abs()])
            self.assertTrue(bool((margin[differ] < 1e-3).all()), f"{int(differ.sum())} hard samples differ")
            self.assertGreater(int(ref["encode_hard"].sum()), 0)
        self.each(check)

    def test_elbo_on_fixed_noise(self):
        def check(_, vae, ref):
            r = vae.elbo(ref["x"], ref["rho"], tau=ref["tau"].item(), logz=ref["loss_logz"].item())
            for key, want in [("elbo", ref["loss_elbo"]), ("logq", ref["loss_logq"]), ("energy", ref["loss_energy"])]:
                self.close(r[key].mean().reshape(1), want, rtol=2e-4, atol=2e-3, what=key)
            self.close(-r["logpx"].mean().reshape(1), ref["loss_recon"], rtol=2e-4, atol=2e-3, what="recon")
        self.each(check)

    def test_train_mode_switches_batch_norm(self):
        case = self.cases["conv_pegasus_perturbed"]
        vae, z = copy.deepcopy(case.vae), case.ref["z"]   # train mode moves the running statistics
        with torch.no_grad():
            eval_logits = vae.decode(z)
            vae.train()
            for m in vae.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.eval()
            train_logits = vae.decode(z)
        self.assertFalse(torch.allclose(eval_logits, train_logits, atol=1e-3))


class BlockGibbs(unittest.TestCase):
    """The sampler's marginals and pair moments against exact enumeration."""

    def exact_moments(self, prior):
        states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=prior.nodes)))
        with torch.no_grad():
            p = torch.softmax(-prior.energy(states).double(), 0)
        return p @ states.double(), p @ (states[:, prior.edges[:, 0]] * states[:, prior.edges[:, 1]]).double()

    def check(self, nodes, edges, blocks=None):
        g = torch.Generator().manual_seed(3)
        prior = qvlua_torch.BoltzmannPrior(nodes, edges, blocks)
        with torch.no_grad():
            prior.bias.copy_(torch.randn(nodes, generator=g))
            prior.weights.copy_(1.5 * torch.randn(len(edges), generator=g))
        mean, pair = self.exact_moments(prior)
        z = prior.sample(20000, sweeps=30, generator=g).double()
        torch.testing.assert_close(z.mean(0), mean, atol=0.015, rtol=0)
        torch.testing.assert_close((z[:, prior.edges[:, 0]] * z[:, prior.edges[:, 1]]).mean(0), pair, atol=0.015, rtol=0)

    def test_bipartite_chimera_cell(self):
        self.check(8, [(u, v) for u in range(4) for v in range(4, 8)])

    def test_odd_cycles_take_a_colouring(self):
        edges = [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 0), (1, 5), (5, 6)]
        self.assertGreater(len(qvlua_torch.colour_classes(7, edges)), 2)
        self.check(7, edges)

    def test_blocks_must_be_independent(self):
        with self.assertRaises(qvlua_torch.CheckpointError):
            qvlua_torch.BoltzmannPrior(3, [(0, 1)], blocks=[[0, 1], [2]])


class BadFiles(unittest.TestCase):
    def test_a_file_without_a_description_is_refused_clearly(self):
        from safetensors.torch import save_file
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "old.safetensors")
            save_file({"model.prior.bias": torch.zeros(3)}, path, metadata={"format": "qvlua-vae-1"})
            with self.assertRaisesRegex(qvlua_torch.CheckpointError, "no 'model' description"):
                qvlua_torch.load(path)

    def test_a_quantum_prior_is_refused_clearly(self):
        d = {"schema": qvlua_torch.SCHEMA, "prior": {"kind": "quantum", "graph": {"nodes": 2, "edges": [[0, 1]]}},
             "posterior": {"groups": [[0], [1]]}, "networks": {"arch": "dense", "input": "4"}}
        with self.assertRaisesRegex(qvlua_torch.CheckpointError, "quantum"):
            qvlua_torch.QvluaVAE(d)
        d["prior"]["kind"] = "boltzmann"
        d["posterior"]["groups"] = [[0], [0]]
        with self.assertRaisesRegex(qvlua_torch.CheckpointError, "partition"):
            qvlua_torch.QvluaVAE(d)

    def test_custom_networks_are_refused_clearly(self):
        with self.assertRaisesRegex(qvlua_torch.CheckpointError, "custom"):
            qvlua_torch.build_networks({"arch": "custom"}, 8)


if __name__ == "__main__":
    unittest.main()
