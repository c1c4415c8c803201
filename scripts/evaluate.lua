--- qvlua scripts/evaluate.lua CHECKPOINT [options]
--- Test log-likelihood (K importance samples, log Z from AIS or PA with its
--- error bar), ELBO and active units of a trained model. A model trained
--- with a tracked beta_eff != 1 (an annealer's negative phase) is evaluated
--- as the auxiliary machine (beta_eff b, beta_eff W; Eqs. 17-18) — the
--- headline — and at beta = 1 beside it.

local args = require "args"
local kit = require "vaekit"

local p = args.parser{name = "scripts/evaluate.lua", about = "Evaluate a checkpoint written by scripts/train.lua."}
p:positional{"checkpoint", help = "a checkpoint.safetensors file"}
p:option{"k", type = "int", default = 1000, min = 1, help = "importance samples per test image"}
p:option{"n", type = "int", default = 10000, min = 1, help = "test images (from the start of the test set)"}
p:option{"logz", choices = {"ais", "pa"}, default = "ais", help = "log Z estimator"}
p:option{"chains", type = "int", default = 1000, min = 1, help = "AIS chains / PA replicas"}
p:option{"temperatures", type = "int", default = 1000, min = 2, help = "AIS / PA temperatures"}
p:option{"data", metavar = "DIR", help = "dataset directory (default: the one the model was trained on)"}
p:option{"seed", type = "int", default = 1, help = "random seed"}
p:option{"beta-eff", type = "number", help = "evaluate the auxiliary machine at this beta_eff (default: the checkpoint's tracked beta_eff; 1: off)"}
local o = p:parse_or_exit(arg)

local ok, err = pcall(function()
  local model, prior, c = kit.restore(o.checkpoint)
  local opts = c.options
  if o.data then opts.data = o.data end
  local data = kit.dataset(opts)
  qv.seed(o.seed)
  local x = kit.eval_images(data.test, o.n)
  local t0 = qv.clock()
  local beta = o.beta_eff or prior.beta_eff
  if not (beta > 0) then error("--beta-eff must be > 0", 0) end
  local r = kit.evaluate(model, prior, x, {k = o.k, logz = o.logz, logz_chains = o.chains, logz_temperatures = o.temperatures,
                                           beta_eff = beta})
  print(("%s: %s, prior %s, trained %d epochs"):format(o.checkpoint, opts.dataset, opts.prior, c.epoch))
  print(("%d test images, K = %d, %.1f s"):format(x:size(1), o.k, qv.clock() - t0))
  print(kit.summary(r))
  print(("  reconstruction %.2f  KL %.2f"):format(r.recon, r.kl))
end)
if not ok then io.stderr:write("scripts/evaluate.lua: ", tostring(err), "\n"); os.exit(1) end
