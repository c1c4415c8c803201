--- qvlua scripts/train.lua [options]
--- Trains a discrete VAE with a Boltzmann-machine prior (Vinci et al.,
--- Appendix A) and ends with an evaluation summary. `--help` lists options.

local args = require "args"
local schedule = require "schedule"
local progress = require "progress"
local runlog = require "runlog"
local kit = require "vaekit"

local p = args.parser{name = "scripts/train.lua", config = true, about =
  "Train a discrete VAE with a Boltzmann-machine prior. Defaults follow the paper's Appendix A,\n" ..
  "compressed into a few epochs of the dense model; --paper runs the full protocol."}
p:option{"dataset", choices = {"fmnist", "mnist"}, default = "fmnist", help = "dataset"}
p:option{"data", metavar = "DIR", help = "directory with the IDX files (required for mnist; fmnist defaults to Debian's)"}
p:option{"network", choices = {"dense", "conv"}, default = "dense", help = "encoder/decoder networks (BENCH.md P-dense, paper Fig. 12)"}
p:option{"prior", default = "chimera", metavar = "bernoulli|chimera|pegasus|rbm|FILE",
         help = "prior connectivity, or an edge-list file"}
p:option{"grouping", choices = {"bipartite", "chains"}, default = "chains", help = "hierarchical groups onto units"}
p:option{"sampler", choices = {"pcd", "pa", "annealer", "exact"}, default = "pcd", help = "negative-phase sampler"}
p:option{"chains", type = "int", default = 1000, min = 1, help = "negative-phase samples per step"}
p:option{"sweeps", type = "int", default = 10, min = 1, help = "Gibbs sweeps per step (pcd), temperatures (pa)"}
p:option{"beta-eff", type = "number", default = 1, min = 0, help = "annealer emulator's effective inverse temperature"}
p:option{"h-noise", type = "number", default = 0, min = 0, help = "annealer emulator: std. dev. of the control noise on h"}
p:option{"j-noise", type = "number", default = 0, min = 0, help = "annealer emulator: std. dev. of the control noise on J"}
p:option{"gauges", type = "int", default = 5, min = 1, help = "annealer emulator: spin-reversal transforms per step"}
p:option{"beta-eff-rate", type = "number", min = 0, metavar = "RATE",
         help = "step of the prior's beta_eff tracking (Eq. C3) per training step " ..
                "(default: 0.01 with --sampler annealer, else 0: off)"}
p:option{"gamma", type = "number", default = 0, min = 0, metavar = "G",
         help = "transverse field of a quantum Boltzmann machine prior trained with the Q-ELBO " ..
                "(Eqs. 13-16; PIMC negative phase); 0: the classical prior"}
p:option{"slices", type = "int", default = 16, min = 2, help = "Trotter slices of the PIMC negative phase (--gamma)"}
p:option{"epochs", type = "int", default = 10, min = 1, help = "training epochs"}
p:option{"batch-size", type = "int", default = 100, min = 1, help = "batch size"}
p:option{"train-n", type = "int", min = 1, metavar = "N", help = "train on the first N training images only (quick runs, tests; default: all 50000)"}
p:option{"lr", type = "number", default = 3e-3, help = "initial learning rate (Adam)"}
p:option{"lr-min", type = "number", default = 1e-4, help = "learning-rate floor, reached at 90% of the epochs"}
p:option{"kl-anneal", type = "number", help = "epochs of linear KL anneal 0 -> 1 (default: 10% of the epochs)"}
p:option{"kd", default = "paper", metavar = "paper|K,D", help = "K<->D schedule: the paper's table compressed, or fixed K,D"}
p:option{"tau", type = "number", default = 1 / 7, help = "relaxation temperature"}
p:option{"weight-clip", type = "number", default = 1, help = "clip prior couplings to [-w, w] after each step (0: off)"}
p:option{"seed", type = "int", default = 1, help = "random seed"}
p:option{"out", default = "runs/default", metavar = "DIR", help = "output directory"}
p:option{"checkpoint-every", type = "int", default = 1, min = 1, help = "epochs between checkpoints"}
p:option{"eval-every", type = "int", default = 0, min = 0, help = "epochs between test-LL evaluations (0: only at the end)"}
p:option{"eval-k", type = "int", default = 1000, min = 1, help = "importance samples for the test log-likelihood"}
p:option{"eval-n", type = "int", default = 1000, min = 1, help = "test images for the log-likelihood"}
p:option{"valid-n", type = "int", default = 2000, min = 1, help = "validation images for the per-epoch ELBO and active units"}
p:option{"logz", choices = {"ais", "pa"}, default = "ais", help = "log Z estimator for evaluation"}
p:option{"logz-chains", type = "int", default = 1000, min = 1, help = "AIS chains / PA replicas of the test evaluation's log Z"}
p:option{"logz-temperatures", type = "int", default = 1000, min = 2, help = "annealing temperatures of the test evaluation's log Z"}
p:flag{"resume", help = "continue from OUT/checkpoint.safetensors"}
p:flag{"paper", help = "the paper's protocol: conv networks, 2000 epochs, LL on the whole test set"}

local o = p:parse_or_exit(arg)
if o.paper then
  local given = {}
  for _, a in ipairs(arg) do given[(a:match("^%-%-([%w%-]+)") or ""):gsub("-", "_")] = true end
  if not given.network then o.network = "conv" end
  if not given.epochs then o.epochs = 2000 end
  if not given.eval_n then o.eval_n = 10000 end
end

local function usage_error(msg)
  io.stderr:write("scripts/train.lua: ", msg, "\n\n", p:usage(), "\n")
  os.exit(2)
end

-- Check everything a run needs before writing anything.
if o.dataset == "mnist" and not o.data then usage_error("--dataset mnist needs --data DIR") end
if o.data and not qv.exists(o.data) then usage_error("data directory not found: " .. o.data) end
local kd_fixed
if o.kd ~= "paper" then
  local k, d = o.kd:match("^(%d+),(%d+)$")
  if not k or tonumber(k) < 1 or tonumber(d) < 1 then usage_error("--kd must be 'paper' or K,D (e.g. 1,8), got '" .. o.kd .. "'") end
  kd_fixed = {k = tonumber(k), d = tonumber(d)}
end
if not ({bernoulli = 1, chimera = 1, pegasus = 1, rbm = 1})[o.prior] and not qv.exists(o.prior) then
  usage_error("--prior must be bernoulli, chimera, pegasus, rbm or an edge-list file; no file '" .. o.prior .. "'")
end
if o.lr <= 0 or o.lr_min <= 0 then usage_error("learning rates must be positive") end
if o.gamma > 0 and o.sampler ~= "pcd" then usage_error("--gamma samples the quantum prior by PIMC: --sampler must be pcd (the default)") end
if o.gamma > 0 and o.slices > 1024 then usage_error("--slices must be <= 1024") end
if o.gamma > 0 and o.beta_eff_rate and o.beta_eff_rate > 0 then usage_error("--beta-eff-rate does not apply to a quantum prior (--gamma)") end
if o.beta_eff_rate == nil then o.beta_eff_rate = o.sampler == "annealer" and 0.01 or 0 end
local ckpt_path = o.out .. "/checkpoint.safetensors"
if o.resume and not qv.exists(ckpt_path) then usage_error("--resume: no checkpoint at " .. ckpt_path) end

local ok, data = pcall(kit.dataset, o)
if not ok then io.stderr:write("scripts/train.lua: ", tostring(data), "\n"); os.exit(1) end
local train_set = data.train
if o.train_n then
  if o.train_n > #data.train then usage_error(("--train-n %d: the training set has %d images"):format(o.train_n, #data.train)) end
  train_set = data.train:subset(1, o.train_n)
end

-- Schedules: the paper's Appendix A compressed into o.epochs epochs.
local sched = schedule.paper(o.epochs)
sched.lr = schedule.exponential{from = o.lr, to = math.min(o.lr, o.lr_min), at = 0.9 * o.epochs}
if o.kl_anneal then sched.kl = schedule.linear{from = 0, to = 1, over = o.kl_anneal} end
if kd_fixed then sched.kd = schedule.fn(function() return kd_fixed end, ("fixed K=%d, D=%d"):format(kd_fixed.k, kd_fixed.d)) end
sched.tau = schedule.constant(o.tau)

qv.seed(o.seed)
local built, model, prior, note = pcall(kit.build, o)
if not built then usage_error(tostring(model)) end
if o.sampler == "exact" and prior.units > 24 then
  usage_error(("--sampler exact enumerates all states: at most 24 units, the %s prior has %d"):format(o.prior, prior.units))
end
local params = model:parameters()
local optim = qv.optim.adam(params, {lr = o.lr})
local start_epoch = 0

if o.resume then
  local read_ok, c = pcall(kit.load_checkpoint, ckpt_path)
  if not read_ok then io.stderr:write("scripts/train.lua: --resume: ", tostring(c), "\n"); os.exit(1) end
  for _, key in ipairs(kit.MODEL_KEYS) do
    if c.options[key] ~= nil and c.options[key] ~= o[key] then
      usage_error(("--resume: checkpoint was trained with --%s %s, not %s"):format(key:gsub("_", "-"), tostring(c.options[key]), tostring(o[key])))
    end
  end
  local loaded, err = pcall(function()
    model:load_state(c.model)
    optim:load_state(c.optim)
    qv.set_rng_state(c.rng)
  end)
  if not loaded then
    io.stderr:write("scripts/train.lua: --resume: cannot restore ", ckpt_path, ": ", tostring(err), "\n")
    os.exit(1)
  end
  start_epoch = c.epoch
  if start_epoch >= o.epochs then
    print(("%s is already at epoch %d of %d: nothing to train (scripts/evaluate.lua evaluates it)"):format(
      ckpt_path, start_epoch, o.epochs))
    os.exit(0)
  end
  print(("resuming %s at epoch %d"):format(ckpt_path, start_epoch))
end

qv.mkdir(o.out)
local log = runlog.open(o.out .. "/log.csv", {keep_until = start_epoch, fields = {
  "epoch", "train_loss", "train_elbo", "recon", "valid_elbo", "test_ll", "active_units", "logz", "beta_eff",
  "lr", "k", "d", "kl_weight", "seconds"}})

print(("qvlua %s  %s%s  prior %s (%s)  network %s  %d epochs  out %s"):format(qv.version, o.dataset,
      o.train_n and (" (first " .. o.train_n .. " training images)") or "", o.prior, model.grouping, o.network,
      o.epochs, o.out))
if note then print("note: " .. note) end
if o.gamma > 0 then
  print(("quantum prior (Q-ELBO, Eqs. 13-16): Γ = %g, PIMC negative phase %d chains × %d slices, %d sweeps per step"):format(
        o.gamma, o.chains, o.slices, o.sweeps))
end
if o.beta_eff_rate > 0 then
  print(("beta_eff tracking (Eq. C3): rate %g per step, beta_eff %.4f%s"):format(o.beta_eff_rate, prior.beta_eff,
        o.sampler == "annealer" and (" (the emulator samples at %g)"):format(o.beta_eff) or ""))
end

local valid_x = kit.eval_images(data.valid, o.valid_n)
local test_x = kit.eval_images(data.test, o.eval_n)
local batches = math.ceil(#train_set / o.batch_size)
local eval_opts = {k = o.eval_k, logz = o.logz, logz_chains = o.logz_chains, logz_temperatures = o.logz_temperatures}
local names = model:parameter_names()
local named = model:named_parameters()

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

--- Names the first tensor (or loss term) that is not finite, for a clear error.
local function check_finite(out, epoch, b)
  local at = ("at epoch %d batch %d"):format(epoch + 1, b)
  for _, name in ipairs(names) do
    if not named[name]:all_finite() then return ("non-finite parameter %s %s"):format(name, at) end
  end
  local bad_grad
  for _, name in ipairs(names) do
    local g = named[name].grad
    if g and not g:all_finite() then bad_grad = name; break end
  end
  for _, key in ipairs{"recon", "logq", "energy", "logz", "bound"} do
    local v = out[key]
    if v ~= nil and not finite(v) then
      return ("non-finite %s (%s) %s%s"):format(key, tostring(v), at,
                                                bad_grad and ("; first non-finite gradient: " .. bad_grad) or "")
    end
  end
  if bad_grad then return ("non-finite gradient of %s %s"):format(bad_grad, at) end
end

local function fail(msg)
  io.stderr:write("\nscripts/train.lua: ", msg, "\n")
  if qv.exists(ckpt_path) then io.stderr:write("the last checkpoint is ", ckpt_path, "\n") end
  os.exit(1)
end

-- A first log Z estimate, so that the training loss reports a real log Z
-- from the start (a resumed run has the checkpoint's estimate).
if start_epoch == 0 then prior:logz{method = "ais", chains = 200, temperatures = 300} end

for epoch = start_epoch, o.epochs - 1 do
  local t0 = qv.clock()
  model:train()
  local lr, kd = sched.lr(epoch), sched.kd(epoch)
  optim.lr = lr
  local bar = progress.new{total = batches, label = ("epoch %d/%d"):format(epoch + 1, o.epochs),
                           per_step = o.batch_size}
  local sum_loss, sum_elbo, sum_recon, n = 0, 0, 0, 0
  local b = 0
  for x in train_set:batches{size = o.batch_size, binarize = "dynamic", shuffle = true} do
    b = b + 1
    local kl = sched.kl(epoch + (b - 1) / batches)
    local ok_step, out = pcall(function()
      local out = model:loss(x, {k = kd.k, d = kd.d, kl = kl, tau = sched.tau(epoch)})
      optim:zero_grad()
      out.loss:backward()
      return out
    end)
    if not ok_step then fail(("training step failed at epoch %d batch %d: %s"):format(epoch + 1, b, tostring(out))) end
    local bad = check_finite(out, epoch, b)
    if bad then fail(bad) end
    optim:step()
    if o.weight_clip > 0 then prior:clamp{weights = o.weight_clip} end
    sum_loss, sum_elbo, sum_recon, n = sum_loss + out.loss:item(), sum_elbo + out.elbo, sum_recon + out.recon, n + 1
    bar:update(b, {loss = sum_loss / n})
  end
  local train_time = bar:finish(("loss %.2f  ELBO %.2f"):format(sum_loss / n, sum_elbo / n))

  local t1 = qv.clock()
  local vlogz, vlogz_err = prior:logz{method = "ais", chains = 200, temperatures = 300}
  local r = qv.vae.evaluate(model, valid_x, {k = 1, logz = vlogz, logz_err = vlogz_err})
  print(("  valid ELBO %.2f  active units %d  log Z %.2f%s  (%.1f s train, %.1f s validation)"):format(
    r.elbo, r.active, r.logz, o.beta_eff_rate > 0 and ("  beta_eff %.4f"):format(prior.beta_eff) or "",
    train_time, qv.clock() - t1))
  local row = {epoch = epoch + 1, train_loss = sum_loss / n, train_elbo = sum_elbo / n, recon = sum_recon / n,
               valid_elbo = r.elbo, active_units = r.active, logz = r.logz, beta_eff = prior.beta_eff,
               lr = lr, k = kd.k, d = kd.d, kl_weight = sched.kl(epoch + 1)}
  local last = epoch + 1 == o.epochs
  if last or (o.eval_every > 0 and (epoch + 1) % o.eval_every == 0) then
    local t2 = qv.clock()
    local ev = kit.evaluate(model, prior, test_x, eval_opts)
    row.test_ll = ev.ll
    if last then row.final = ev end
    print(("  %s  (%.1f s, K = %d on %d images)"):format(kit.summary(ev), qv.clock() - t2, o.eval_k, test_x:size(1)))
  end
  row.seconds = qv.clock() - t0
  local final = row.final
  row.final = nil
  log:write(row)
  if (epoch + 1) % o.checkpoint_every == 0 or epoch + 1 == o.epochs then
    kit.save_checkpoint(ckpt_path, model, optim, o, epoch + 1)
  end
  if final then
    log:close()
    kit.pictures(o.out, model, test_x)
    kit.curves(o.out .. "/curves.png", runlog.read_csv(o.out .. "/log.csv"))
    print(("\n%s, %d epochs: %d test images, K = %d"):format(o.dataset, o.epochs, test_x:size(1), o.eval_k))
    print(kit.summary(final))
    kit.write_summary(o.out .. "/summary.json", final, {dataset = o.dataset, prior = o.prior, network = o.network,
                      grouping = o.grouping, epochs = o.epochs, seed = o.seed, eval_k = o.eval_k,
                      eval_n = test_x:size(1)})
    print(("wrote %s/{log.csv, checkpoint.safetensors, summary.json, samples.png, recon.png, curves.png}"):format(o.out))
  end
end
