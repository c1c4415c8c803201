--- qvlua Tests/interop/export.lua CHECKPOINT OUT.safetensors [PERTURBED.safetensors]
--- qvlua's own numbers on a checkpoint, for Tests/interop/test_torch_loader.py
--- to compare python/qvlua_torch.py against: on a few test images x and
--- latents z, qvlua's decoder logits, prior energies (p:energy and
--- bm:energy), posterior samples and logits, and model:loss's ELBO terms,
--- with the posterior's noise rho written out so that PyTorch can use the
--- same noise.
---
--- The noise: model:loss draws one open uniform rho per image and unit,
--- group by group ([B, n_g] each), from the global generator after
--- qv.seed(SEED). qv.rand draws the same numbers from the same stream
--- minus half a step (uniformOpen = (k + 0.5)·2^-24, uniform = k·2^-24), so
--- rho = qv.rand(B, n_g) + 2^-25 after the same seed, exactly in float32.
--- The test checks this: the posterior samples model:encode draws after
--- the seed must be the ones PyTorch computes from rho.
---
--- With PERTURBED, the networks' parameters and batch-norm statistics are
--- first moved by random amounts (a few training steps leave them near
--- their initial values, where e.g. every decoder logit is positive), the
--- model is written there as a checkpoint, and the numbers are that one's.

local kit = require "vaekit"

local path, out, perturbed = arg[1], arg[2], arg[3]
if not path or not out then
  io.stderr:write("usage: qvlua Tests/interop/export.lua CHECKPOINT OUT.safetensors [PERTURBED.safetensors]\n")
  os.exit(2)
end

local SEED, B, TAU = 12345, 6, 1 / 7

local model, prior, ckpt = kit.restore(path)      -- evaluation mode: batch-norm running statistics
local data = kit.dataset(ckpt.options)

-- Moves every network tensor by noise of its own size (running variances
-- by a random factor), then writes the model as a checkpoint at `to`.
local function perturb(to)
  qv.seed(99)
  local state = {}
  for name, t in pairs(model:state()) do
    if (name:match("^encoder%.") or name:match("^decoder%.")) and not name:match("num_batches_tracked$") then
      local noise = qv.randn(table.unpack(t:size()))
      if name:match("running_var$") then t = t * (noise * 0.5):exp()
      else t = t + noise * (0.1 + 0.5 * t:pow(2):mean():sqrt():item()) end
    end
    state[name] = t
  end
  model:load_state(state)
  kit.save_checkpoint(to, model, nil, ckpt.options, ckpt.epoch)
  path = to
end
if perturbed then perturb(perturbed) end
local x = kit.eval_images(data.test, B)
local n = prior.units

-- the noise model:loss and model:encode draw after qv.seed(SEED), group by group
local function noise()
  qv.seed(SEED)
  local parts = {}
  for g, group in ipairs(model.groups) do parts[g] = qv.rand(B, #group) + 2 ^ -25 end
  return qv.cat(parts, 2)
end

local t = {x = x, rho = noise(), tau = qv.tensor({TAU})}

qv.no_grad(function()
  qv.seed(SEED)
  local zeta, logits = model:encode(x, {tau = TAU})
  t.encode_zeta, t.encode_logits = zeta, logits
  qv.seed(SEED)
  local hard = model:encode(x)
  t.encode_hard = hard

  qv.seed(SEED)
  local r = model:loss(x, {tau = TAU})
  t.loss_elbo, t.loss_recon, t.loss_logq = qv.tensor({r.elbo}), qv.tensor({r.recon}), qv.tensor({r.logq})
  t.loss_energy, t.loss_logz = qv.tensor({r.energy}), qv.tensor({r.logz})

  qv.seed(7)
  local z = qv.rand(B, n):lt(0.5)
  local relaxed = qv.rand(B, n)
  t.z, t.relaxed = z, relaxed
  t.decoder_logits = model:decode(z)
  t.decoder_logits_relaxed = model:decode(relaxed)
  t.energy = prior:energy(z)
  t.energy_relaxed = prior:energy(relaxed)
  t.bm_energy = prior:machine():energy(z)
end)

qv.save(out, t, {checkpoint = path})
print(("wrote %s: %d images, %d units, ELBO %.4f"):format(out, B, n, t.loss_elbo[1]))
