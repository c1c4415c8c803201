--- Training as a library: a run of the discrete VAE built from a plain
--- options table (the same options as scripts/train.lua, with underscores),
--- driven whole or step by step, with schedules and hooks written in Lua.
---
---   local trainer = require "trainer"
---   local results = trainer.run{dataset = "mnist", data = "../shared/data/mnist", epochs = 3,
---                               kl = function(epoch) return math.min(1, epoch / 2) end,
---                               out = "runs/kl-warmup"}
---   print(results.final.ll, #results.rows, results.paths.checkpoint)
---
---   local run = trainer.new{...}     -- build (or `resume = true`: continue OUT's checkpoint)
---   run:step()                        -- one training step (a batch); returns its numbers
---   run:epoch()                       -- the rest of the current epoch; returns its log row
---   run:evaluate()                    -- test LL, ELBO, active units now
---   run:save()                        -- checkpoint (also mid-epoch; resumes bit for bit)
---   run:run()                         -- the remaining epochs and the final outputs
---
--- Scheduled options — lr, kl, kd, tau, beta_eff_rate, sweeps — take a
--- number, a `schedule` object or any Lua function f(epoch, step), called at
--- every training step with the fractional epoch (2.5 = half-way through the
--- third epoch) and the global step count (from 0). kd's value is {k = K,
--- d = D} (or {K, D}, or "K,D"). A number for lr is the initial rate of the
--- default decay (to lr_min at 90% of the epochs, changed at each epoch's
--- start like the paper's K<->D table); give a schedule or a function for
--- anything else.
---
--- Hooks: on_step(run, info), on_epoch(run, row), on_eval(run, evaluation),
--- on_checkpoint(run, path). They may log, change the run's options or
--- the prior (run.prior.beta_eff, ...), or call run:stop().
---
--- Data-parallel (`mpirun -np N qvlua scripts/train.lua ...`, qv.dist): each
--- rank takes its contiguous share of every global batch (images
--- floor(rB/N)+1 ... floor((r+1)B/N)); the random draws are the global
--- batch's (every rank draws the batch order, the binarization and the
--- relaxation noise of the whole batch and uses its rows), so a run's
--- numbers do not depend on N beyond floating-point summation order. The
--- gradients, weighted by each rank's share, and the step's loss, ELBO and
--- reconstruction are summed in one fused allreduce per step. The PCD
--- chains of the negative phase are split (prior:shard_chains): each rank
--- advances its block of whole 32-chain tiles (⌈C/32⌉ tiles dealt as
--- evenly as possible, the remainder on the first ranks), each tile with
--- the random stream it has in one process, and the blocks' sums (energies,
--- chain-count-weighted moments) are added in one more allreduce, so every
--- rank gets the moments of all C chains. Other samplers (pa, annealer,
--- exact, command:, a quantum prior's PIMC) run replicated: every rank
--- draws the same samples. β_eff, log Z, the validation and test
--- evaluations and every schedule are computed identically on every rank
--- (same state, same streams): the model is the same on every rank after
--- every step. A checkpoint gathers the chains to rank 0 first, so it is
--- the global state and resumes with any N. Rank 0 alone
--- prints, writes the log, pictures and checkpoints and holds OUT's lock.
--- Hooks run on every rank (the state they see is the same; a hook that
--- writes files should check qv.dist.rank() == 0); on_checkpoint runs on
--- rank 0 only. BatchNorm (conv networks) is not synchronized, so the
--- conv model's numbers depend on N: in training each rank normalizes its
--- own B_r ≈ B/N images by their mean and (biased) variance, which changes
--- the forward pass, loss and gradients; after every step the running
--- mean and (unbiased) variance are replaced by their plain average over
--- the ranks — the running mean then moves by the mean of the ranks' batch
--- means (the global batch mean when B is divisible by N), the running
--- variance by the mean of the ranks' variances, which lacks the spread of
--- the ranks' means and uses B_r − 1 for B − 1. The dense model has no
--- BatchNorm: its numbers do not depend on N.
---
--- Checkpoints hold data, never code: the options are JSON in the
--- safetensors metadata; a schedule or function is stored by its printed
--- description and must be given again to resume.

local schedule = require "schedule"
local runlog = require "runlog"
local progress = require "progress"
local json = require "json"
local kit = require "vaekit"

local M = {}

--- The MPI world the trainer splits batches over: qv.dist (size 1 without
--- mpirun). A study that gives each rank its own runs sets M.dist =
--- M.SOLO while it trains (each run then is a world of one).
M.dist = qv.dist
M.SOLO = {}
--- Rank 0: every run of a study slice is a world of one.
function M.SOLO.rank() return 0 end
--- A world of size 1.
function M.SOLO.size() return 1 end

-- ---------------------------------------------------------------------------
-- Options

--- Every option, with its type, default and help text (scripts/train.lua
--- builds its command line from this list). `scheduled` options also take a
--- schedule or a function; `object` options a qv object; `hook` options a
--- function only (a --config file or Lua).
M.OPTIONS = {
  {"dataset", choices = {"fmnist", "mnist"}, default = "fmnist", help = "dataset"},
  {"data", metavar = "DIR", help = "directory with the IDX files (required for mnist; fmnist defaults to Debian's)"},
  {"network", choices = {"dense", "conv"}, default = "dense", help = "encoder/decoder networks (P-dense, or the paper's Fig. 12)"},
  {"prior", default = "chimera", metavar = "bernoulli|chimera|pegasus|rbm|FILE",
   help = "prior connectivity, or an edge-list file"},
  {"grouping", choices = {"bipartite", "chains"}, default = "chains", help = "hierarchical groups onto units"},
  {"sampler", default = "pcd", metavar = "pcd|pa|annealer|exact|command:PROG ARGS", object = "qv.Sampler",
   help = "negative-phase sampler; 'command:PROG ARGS..' runs an external sampler per step (qv.sampler.command's " ..
          "JSON protocol, e.g. 'command:python3 scripts/samplers/dimod_sampler.py'); in Lua also any qv.Sampler"},
  {"negative_phase", choices = {"auto", "sampled", "exact"}, default = "auto",
   help = "auto: exact moments where known (the Bernoulli prior), else the sampler's; sampled: always the " ..
          "sampler's samples (Table I's DW/PA Bernoulli cells); exact: enumerate (no couplers, or <= 24 units)"},
  {"command_timeout", type = "number", default = 600, min = 0, help = "seconds a command sampler may take per step"},
  {"chains", type = "int", default = 1000, min = 1, help = "negative-phase samples per step"},
  {"sweeps", type = "int", default = 10, min = 1, scheduled = true, help = "Gibbs sweeps per step (pcd), temperatures (pa)"},
  {"beta_eff", type = "number", default = 1, min = 0, help = "annealer emulator's effective inverse temperature"},
  {"h_noise", type = "number", default = 0, min = 0, help = "annealer emulator: std. dev. of the control noise on h"},
  {"j_noise", type = "number", default = 0, min = 0, help = "annealer emulator: std. dev. of the control noise on J"},
  {"gauges", type = "int", default = 5, min = 1, help = "annealer emulator: spin-reversal transforms per step"},
  {"beta_drift_sd", type = "number", default = 0, min = 0,
   help = "annealer emulator: s.d. of its drifting inverse temperature (Ornstein-Uhlenbeck around --beta-eff; 0: none)"},
  {"beta_drift_time", type = "number", default = 100, min = 0, help = "annealer emulator: the drift's correlation time in steps"},
  {"beta_drift_seed", type = "int", default = 1, help = "annealer emulator: the drift path's seed (the same for runs on one 'machine')"},
  {"beta_eff_rate", type = "number", min = 0, metavar = "RATE", scheduled = true,
   help = "step of the prior's beta_eff tracking (Eq. C3) per training step (default: 0.01 with --sampler annealer or command:.., else 0: off)"},
  {"gamma", type = "number", default = 0, min = 0, metavar = "G",
   help = "transverse field of a quantum Boltzmann machine prior trained with the Q-ELBO (Eqs. 13-16; PIMC negative phase); 0: the classical prior"},
  {"slices", type = "int", default = 16, min = 2, help = "Trotter slices of the PIMC negative phase (--gamma)"},
  {"epochs", type = "int", default = 10, min = 1, help = "training epochs"},
  {"batch_size", type = "int", default = 100, min = 1, help = "batch size"},
  {"train_n", type = "int", min = 1, metavar = "N", help = "train on the first N training images only (quick runs, tests; default: all 50000)"},
  {"lr", type = "number", default = 3e-3, scheduled = true, help = "initial learning rate (Adam), decayed to --lr-min"},
  {"lr_min", type = "number", default = 1e-4, help = "learning-rate floor, reached at 90% of the epochs"},
  {"kl", type = "number", scheduled = true, help = "KL weight (default: the linear anneal of --kl-anneal)"},
  {"kl_anneal", type = "number", min = 0, help = "epochs of linear KL anneal 0 -> 1 (default: 10% of the epochs)"},
  {"kd", default = "paper", metavar = "paper|K,D", scheduled = true,
   help = "K<->D schedule: the paper's table compressed, or fixed K,D"},
  {"tau", type = "number", default = 1 / 7, scheduled = true, help = "relaxation temperature"},
  {"weight_clip", type = "number", default = 1, min = 0, help = "clip prior couplings to [-w, w] after each step (0: off)"},
  {"seed", type = "int", default = 1, help = "random seed"},
  {"out", default = "runs/default", metavar = "DIR", help = "output directory"},
  {"checkpoint_every", type = "int", default = 1, min = 1, help = "epochs between checkpoints"},
  {"eval_every", type = "int", default = 0, min = 0, help = "epochs between test-LL evaluations (0: only at the end)"},
  {"eval_k", type = "int", default = 1000, min = 1, help = "importance samples for the test log-likelihood"},
  {"eval_n", type = "int", default = 1000, min = 1, help = "test images for the log-likelihood"},
  {"valid_n", type = "int", default = 2000, min = 1, help = "validation images for the per-epoch ELBO and active units"},
  {"logz", choices = {"ais", "pa"}, default = "ais", help = "log Z estimator for evaluation"},
  {"logz_chains", type = "int", default = 1000, min = 1, help = "AIS chains / PA replicas of the test evaluation's log Z"},
  {"logz_temperatures", type = "int", default = 1000, min = 2, help = "annealing temperatures of the test evaluation's log Z"},
  {"resume", type = "flag", help = "continue from OUT/checkpoint.safetensors"},
  {"force", type = "flag", help = "start afresh in an OUT that holds another run (its files are replaced)"},
  {"paper", type = "flag", help = "the paper's protocol: conv networks, 2000 epochs, LL on the whole test set"},
  {"quiet", type = "flag", help = "print nothing (hooks and the returned results still see everything)"},
  {"echo", type = "hook", help = "function(line) that prints the run's lines instead of stdout (no progress line)"},
  {"on_step", type = "hook", help = "function(run, info) after every training step"},
  {"on_epoch", type = "hook", help = "function(run, row) after every epoch's log row"},
  {"on_eval", type = "hook", help = "function(run, evaluation) after every test evaluation"},
  {"on_checkpoint", type = "hook", help = "function(run, path) after every checkpoint"},
}

local BY_KEY = {}
for _, o in ipairs(M.OPTIONS) do BY_KEY[o[1]] = o end

--- The options that decide the model's shape and its training data: a
--- resumed run must be given the same ones as its checkpoint.
M.MODEL_KEYS = {"network", "prior", "grouping", "sampler", "chains", "beta_eff", "h_noise", "j_noise", "gauges",
                "gamma", "slices", "dataset", "batch_size", "train_n", "seed", "negative_phase", "beta_drift_sd",
                "beta_drift_time", "beta_drift_seed"}

--- Errors in the options (the command line prints its usage for these).
local OptionError = {}
OptionError.__index = OptionError
OptionError.__tostring = function(e) return e.message end
local function option_error(fmt, ...)
  error(setmetatable({message = fmt:format(...)}, OptionError), 0)
end

--- Whether `e` (a caught error) is an error in the options.
function M.is_option_error(e) return getmetatable(e) == OptionError end

local function is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

local function is_qv_object(v, name)
  local mt = getmetatable(v)
  return type(v) == "userdata" and type(mt) == "table" and mt.__name == name
end

local OPTION_NAMES = {}
for _, o in ipairs(M.OPTIONS) do OPTION_NAMES[#OPTION_NAMES + 1] = o[1] end

--- Checks one value against its option's declaration; returns the value.
local function check_value(spec, v)
  local key = spec[1]
  local t = spec.type or "string"
  if t == "hook" then
    if type(v) ~= "function" then option_error("option '%s': expected a function, got %s", key, type(v)) end
    return v
  end
  if t == "flag" then
    if type(v) ~= "boolean" then option_error("option '%s': expected true or false, got %s", key, type(v)) end
    return v
  end
  if spec.scheduled and (is_callable(v) and type(v) ~= "number") then return v end
  if spec.scheduled and key == "kd" and type(v) == "table" then return v end
  if spec.object and is_qv_object(v, spec.object) then return v end
  if t == "int" then
    if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53) then
      option_error("option '%s': expected an integer, got %s", key, type(v) == "number" and tostring(v) or type(v))
    end
    v = math.tointeger(v)
  elseif t == "number" then
    if type(v) ~= "number" or v ~= v then option_error("option '%s': expected a number, got %s", key, tostring(v)) end
  else
    if type(v) ~= "string" then
      local also = spec.object and (" or a " .. spec.object) or (spec.scheduled and ", a schedule or a function" or "")
      option_error("option '%s': expected a string%s, got %s", key, also, type(v))
    end
  end
  if spec.choices then
    local ok = false
    for _, c in ipairs(spec.choices) do if c == v then ok = true end end
    if not ok then option_error("option '%s': '%s' is not one of %s", key, tostring(v), table.concat(spec.choices, ", ")) end
  end
  if spec.min and v < spec.min then option_error("option '%s': %s is below the minimum %s", key, tostring(v), tostring(spec.min)) end
  return v
end

--- Checks an options table and fills in the defaults; returns a new table.
--- Unknown keys, wrong types and impossible values are errors naming the
--- option (with the closest known name for a misspelling).
function M.options(given)
  if type(given) ~= "table" then option_error("trainer: expected an options table, got %s", type(given)) end
  local o = {}
  for k, v in pairs(given) do
    if type(k) ~= "string" then option_error("trainer: option names are strings, got %s", type(k)) end
    local spec = BY_KEY[k] or BY_KEY[k:gsub("-", "_")]
    if not spec then
      local near = require("args").closest(k, OPTION_NAMES)
      option_error("unknown option '%s'%s", k, near and (" (did you mean '" .. near .. "'?)") or "")
    end
    o[spec[1]] = check_value(spec, v)
  end
  if o.paper then
    if o.network == nil then o.network = "conv" end
    if o.epochs == nil then o.epochs = 2000 end
    if o.eval_n == nil then o.eval_n = 10000 end
  end
  for _, spec in ipairs(M.OPTIONS) do
    if o[spec[1]] == nil and spec.default ~= nil then o[spec[1]] = spec.default end
  end
  if o.dataset == "mnist" and not o.data then option_error("--dataset mnist needs --data DIR") end
  if o.data then
    local found, kind = qv.exists(o.data)
    if not found then option_error("data directory not found: %s", o.data) end
    if kind ~= "directory" then
      option_error("--data must be the directory holding the IDX files; '%s' is a file", o.data)
    end
  end
  if type(o.prior) == "string" and not ({bernoulli = 1, chimera = 1, pegasus = 1, rbm = 1})[o.prior]
     and not qv.exists(o.prior) then
    option_error("--prior must be bernoulli, chimera, pegasus, rbm or an edge-list file; no file '%s'", o.prior)
  end
  if type(o.sampler) == "string" and not ({pcd = 1, pa = 1, annealer = 1, exact = 1})[o.sampler]
     and not o.sampler:match("^command:%s*%S") then
    option_error("--sampler: '%s' is not one of pcd, pa, annealer, exact, command:PROG ARGS (or a qv.Sampler in Lua)",
                 o.sampler)
  end
  if type(o.kd) == "string" and o.kd ~= "paper" then
    local k, d = o.kd:match("^(%d+),(%d+)$")
    if not k or tonumber(k) < 1 or tonumber(d) < 1 then
      option_error("--kd must be 'paper' or K,D (e.g. 1,8), got '%s'", o.kd)
    end
  end
  if type(o.lr) == "number" and o.lr <= 0 or o.lr_min <= 0 then option_error("learning rates must be positive") end
  if o.beta_eff_rate == nil then
    -- an annealer (the emulator, or an external command sampler) samples at an unknown temperature
    o.beta_eff_rate = type(o.sampler) == "string" and (o.sampler == "annealer" or o.sampler:match("^command:")) and 0.01 or 0
  end
  if o.gamma > 0 then
    if o.sampler ~= "pcd" then option_error("--gamma samples the quantum prior by PIMC: --sampler must be pcd (the default)") end
    if o.slices > 1024 then option_error("--slices must be <= 1024") end
    if type(o.beta_eff_rate) ~= "number" or o.beta_eff_rate > 0 then
      option_error("--beta-eff-rate does not apply to a quantum prior (--gamma)")
    end
  end
  if o.resume and not qv.exists(o.out .. "/checkpoint.safetensors") then
    option_error("--resume: no checkpoint at %s/checkpoint.safetensors", o.out)
  end
  if o.resume and o.force then option_error("--resume and --force exclude each other") end
  if not o.resume and not o.force then
    for _, f in ipairs{"checkpoint.safetensors", "log.csv"} do
      if qv.exists(o.out .. "/" .. f) then
        option_error("%s holds a run (%s); --resume continues it, --force starts afresh and replaces it", o.out, f)
      end
    end
  end
  return o
end

--- A command-line parser (scripts/args.lua) for every option: dashed
--- names, the same defaults, hooks and schedules only from a --config file.
--- `--paper` changes the defaults of --network, --epochs and --eval-n, so
--- the parser leaves those unset (the trainer fills them in).
function M.parser(spec)
  local p = require("args").parser(spec)
  for _, o in ipairs(M.OPTIONS) do
    local name = o[1]:gsub("_", "-")
    local decl = {name, choices = o.choices, help = o.help, min = o.min, metavar = o.metavar, scheduled = o.scheduled}
    if o.type == "flag" then
      p:flag(decl)
    else
      decl.type = (o.type == "hook" and "function") or o.type
      local paper = ({network = "conv", epochs = "2000", ["eval-n"] = "10000"})[name]
      if paper then
        decl.help = ("%s (default: %s; with --paper %s)"):format(o.help, tostring(o.default), paper)
      else
        decl.default = o.default
      end
      if o.object then decl.accepts = function(v) return type(v) == "userdata" end end
      p:option(decl)
    end
  end
  return p
end

-- ---------------------------------------------------------------------------
-- Schedules

--- A printable description of a scheduled value (what a checkpoint keeps).
local function describe(v)
  if type(v) == "function" then
    local info = debug.getinfo(v, "S")
    return ("Lua function (%s:%d)"):format(info.short_src, info.linedefined)
  end
  if schedule.is_schedule(v) then return v.name end
  if type(v) == "table" and not is_callable(v) then return json.encode(v) end
  return tostring(v)
end

local function kd_value(v, where)
  local k, d
  if type(v) == "table" then k, d = v.k or v[1], v.d or v[2]
  elseif type(v) == "string" then k, d = v:match("^(%d+),(%d+)$"); k, d = tonumber(k), tonumber(d) end
  k, d = math.tointeger(k), math.tointeger(d)
  if not k or not d or k < 1 or d < 1 then
    error(("kd %s: expected {k = K, d = D} with integers >= 1, got %s"):format(where, describe(v)), 0)
  end
  return {k = k, d = d}
end

--- The schedules of a run: each a function (epoch, step) -> value.
local function build_schedules(o)
  local paper = schedule.paper(o.epochs)
  local s = {}
  local function lift(key, value, default)
    if value == nil then value = default end
    if type(value) == "number" then return function() return value end, value end
    if schedule.is_schedule(value) then return function(e) return value(e) end, value end
    if is_callable(value) then return function(e, step) return value(e, step) end, value end
    return function() return value end, value
  end
  local lr = o.lr
  if type(lr) == "number" then
    lr = schedule.per_epoch(schedule.exponential{from = lr, to = math.min(lr, o.lr_min), at = 0.9 * o.epochs})
  end
  local kl = o.kl
  if kl == nil then kl = o.kl_anneal and schedule.linear{from = 0, to = 1, over = o.kl_anneal} or paper.kl end
  local kd = o.kd
  if kd == "paper" then kd = schedule.per_epoch(paper.kd) elseif type(kd) == "string" then kd = kd_value(kd, "option") end
  s.lr = lift("lr", lr)
  s.kl = lift("kl", kl)
  s.kd = lift("kd", kd)
  s.tau = lift("tau", o.tau)
  s.beta_eff_rate = lift("beta_eff_rate", o.beta_eff_rate)
  s.sweeps = lift("sweeps", o.sweeps)
  s.described = {lr = describe(lr), kl = describe(kl), kd = describe(kd), tau = describe(o.tau),
                 beta_eff_rate = describe(o.beta_eff_rate), sweeps = describe(o.sweeps)}
  return s
end

--- The scheduled values at fractional epoch `t` and global step `step`.
local function values_at(s, t, step)
  local v = {}
  for _, key in ipairs{"lr", "kl", "tau", "beta_eff_rate", "sweeps"} do
    local ok, x = pcall(s[key], t, step)
    if not ok then error(("schedule %s at epoch %g: %s"):format(key, t, tostring(x)), 0) end
    if type(x) ~= "number" or x ~= x then
      error(("schedule %s at epoch %g: expected a number, got %s"):format(key, t, tostring(x)), 0)
    end
    v[key] = x
  end
  if v.lr <= 0 then error(("schedule lr at epoch %g: the learning rate must be > 0, got %g"):format(t, v.lr), 0) end
  if v.kl < 0 then error(("schedule kl at epoch %g: the KL weight must be >= 0, got %g"):format(t, v.kl), 0) end
  if v.tau <= 0 then error(("schedule tau at epoch %g: the temperature must be > 0, got %g"):format(t, v.tau), 0) end
  if v.beta_eff_rate < 0 then error(("schedule beta_eff_rate at epoch %g: must be >= 0, got %g"):format(t, v.beta_eff_rate), 0) end
  v.sweeps = math.tointeger(v.sweeps) or math.floor(v.sweeps + 0.5)
  if v.sweeps < 1 then error(("schedule sweeps at epoch %g: must be >= 1, got %d"):format(t, v.sweeps), 0) end
  local ok, kd = pcall(s.kd, t, step)
  if not ok then error(("schedule kd at epoch %g: %s"):format(t, tostring(kd)), 0) end
  kd = kd_value(kd, ("at epoch %g"):format(t))
  v.k, v.d = kd.k, kd.d
  return v
end

-- ---------------------------------------------------------------------------
-- Checkpoint options: data only

local function data_options(o, described)
  local t = {}
  for _, spec in ipairs(M.OPTIONS) do
    local key = spec[1]
    local v = o[key]
    if spec.type == "hook" or key == "resume" or key == "force" or key == "quiet" or key == "paper" then
      -- not part of what the run is
    elseif spec.scheduled and v ~= nil and type(v) ~= "number" and type(v) ~= "string" then
      t[key] = {schedule = described[key]}
    elseif spec.object and type(v) == "userdata" then
      t[key] = {object = tostring(v)}
    elseif v ~= nil then
      t[key] = v
    end
  end
  return t
end

--- Checks that options given to resume a checkpoint agree with the ones
--- it was trained with (model keys, and every schedule or object that
--- must be given again).
local function check_resume(o, stored, described)
  for _, key in ipairs(M.MODEL_KEYS) do
    local was, now = stored[key], o[key]
    if type(was) == "table" and was.object then
      if type(now) ~= "userdata" then
        option_error("--resume: the checkpoint's %s was a Lua object (%s); give it again to resume", key, was.object)
      end
    elseif was ~= nil and was ~= now then
      option_error("--resume: checkpoint was trained with --%s %s, not %s", key:gsub("_", "-"), tostring(was), tostring(now))
    end
  end
  for _, spec in ipairs(M.OPTIONS) do
    local key = spec[1]
    local was = stored[key]
    if spec.scheduled and type(was) == "table" and was.schedule then
      local now = described[key]
      if was.schedule:match("^Lua function") then
        if not (now or ""):match("^Lua function") and not is_callable(o[key]) then
          option_error("--resume: the checkpoint's %s schedule was %s; give the function again to resume " ..
                       "(a checkpoint stores schedules as data, never as code)", key, was.schedule)
        end
      elseif now ~= was.schedule then
        option_error("--resume: the checkpoint's %s schedule was '%s', not '%s'", key, was.schedule, tostring(now))
      end
    end
  end
end

-- ---------------------------------------------------------------------------
-- The run

local Run = {}
Run.__index = Run
Run.__name = "trainer.Run"

local LOG_FIELDS = {"epoch", "train_loss", "train_elbo", "recon", "valid_elbo", "test_ll", "test_ll_aux", "active_units", "logz",
                    "beta_eff", "weights_l1", "lr", "k", "d", "kl_weight", "tau", "seconds"}

local sync_buffers

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

--- run.say(line) of a run that is not quiet and has no `echo`: the line on stdout.
local function say_line(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

--- run.say(line) of a quiet run: nothing.
local function say_nothing() end

--- Builds a run from options (see M.OPTIONS). With `resume = true` it
--- continues OUT/checkpoint.safetensors (model, optimizer, random state,
--- chains; mid-epoch checkpoints too).
function M.new(given)
  local o = M.options(given)
  local self = setmetatable({options = o, hooks = {}, stopped = false}, Run)
  -- The MPI world (size 1 without mpirun): rank 0 alone writes and prints.
  self.rank, self.world = M.dist.rank(), M.dist.size()
  if self.rank > 0 then
    o.quiet, o.echo = true, nil
  end
  for _, h in ipairs{"on_step", "on_epoch", "on_eval", "on_checkpoint"} do self.hooks[h] = o[h] end
  self.say = (o.quiet and say_nothing) or o.echo or say_line
  self.sched = build_schedules(o)
  self.paths = {dir = o.out, checkpoint = o.out .. "/checkpoint.safetensors", log = o.out .. "/log.csv",
                summary = o.out .. "/summary.json", samples = o.out .. "/samples.png",
                recon = o.out .. "/recon.png", curves = o.out .. "/curves.png"}

  local data = kit.dataset(o)          -- its errors carry no file:line prefix
  self.data = data
  self.train_set = data.train
  if o.train_n then
    if o.train_n > #data.train then
      option_error("--train-n %d: the training set has %d images", o.train_n, #data.train)
    end
    self.train_set = data.train:subset(1, o.train_n)
  end
  self.batches = math.ceil(#self.train_set / o.batch_size)
  if self.world > 1 then
    local smallest = #self.train_set % o.batch_size == 0 and o.batch_size or #self.train_set % o.batch_size
    if smallest < self.world then
      option_error("a batch of %d images cannot be split over %d ranks (each needs at least one image); " ..
                   "change --batch-size or --train-n, or run fewer ranks", smallest, self.world)
    end
  end

  qv.seed(o.seed)
  local initial = values_at(self.sched, 0, 0)
  local build_opts = {}
  for k, v in pairs(o) do build_opts[k] = v end
  build_opts.sweeps = initial.sweeps
  local built, model, prior, note = pcall(kit.build, build_opts)
  if not built then option_error("%s", tostring(model)) end
  if o.sampler == "exact" and prior.units > 24 then
    option_error("--sampler exact enumerates all states: at most 24 units, the %s prior has %d", o.prior, prior.units)
  end
  self.model, self.prior, self.note = model, prior, note
  if self.world > 1 and prior.kind == "boltzmann" then
    -- This rank holds and advances only its block of the PCD chains.
    self.chain_block = {prior:shard_chains()}
  end
  -- beta_eff is tracked (Eq. C3) only where the negative phase is sampled
  self.tracking = self.sched.described.beta_eff_rate ~= "0" and prior.sampled_negative_phase ~= nil
                  and (prior.graph.edges > 0 or prior.sampled_negative_phase)
  self.sweeps_scheduled = type(o.sweeps) ~= "number"
  if self.sweeps_scheduled and prior.sweeps == nil then
    option_error("option 'sweeps': a schedule of sweeps needs the pcd sampler (persistent Gibbs chains)")
  end
  self.optim = qv.optim.adam(model:parameters(), {lr = initial.lr})
  self.names, self.named = model:parameter_names(), model:named_parameters()
  self.params = model:parameters()
  self.epoch_done, self.batch, self.step_count = 0, 0, 0
  self.sums = {loss = 0, elbo = 0, recon = 0, n = 0, seconds = 0}
  self.valid_x = kit.eval_images(data.valid, o.valid_n)
  self.test_x = kit.eval_images(data.test, o.eval_n)

  if self.rank == 0 then
    qv.mkdir(o.out)
    local locked, lock = pcall(qv.lock, o.out .. "/.lock")
    if not locked then
      error(("%s is in use by another run: %s"):format(o.out, tostring(lock):gsub("^.-qv%.lock: ", "")), 0)
    end
    self.lock = lock
    qv.clean_temp_files(o.out)    -- what a killed run was writing
  end
  if o.force and self.rank == 0 then
    for _, key in ipairs{"checkpoint", "log", "summary", "samples", "recon", "curves"} do os.remove(self.paths[key]) end
  end
  if o.resume then
    self:resume()
  else
    -- A first log Z estimate, so the training loss reports a real log Z from the start.
    prior:logz{method = "ais", chains = 200, temperatures = 300}
  end
  return self
end

function Run:__tostring()
  local o = self.options
  return ("trainer.Run: %s%s, %s prior (%s), %s networks, epoch %d/%d%s, out %s"):format(o.dataset,
    o.train_n and (" (first " .. o.train_n .. ")") or "", type(o.prior) == "string" and o.prior or "custom",
    self.model.grouping, o.network, self.epoch_done, o.epochs,
    self.batch > 0 and (" + %d/%d batches"):format(self.batch, self.batches) or "", o.out)
end

local function call_hook(self, name, ...)
  local h = self.hooks[name]
  if not h then return end
  local ok, err = pcall(h, self, ...)
  if not ok then error(("%s hook: %s"):format(name, tostring(err)), 0) end
end

--- Stops a run driven by run:run() after the current step (from a hook).
function Run:stop() self.stopped = true end

--- Closes the log and releases OUT's lock (another run may then write
--- OUT); the run cannot train or save afterwards.
function Run:close()
  if self.log then self.log:close(); self.log = nil end
  if self.lock then self.lock:release() end
  self.closed = true
end

--- Whether all epochs are done.
function Run:finished() return self.epoch_done >= self.options.epochs end

local function begin_epoch(self)
  self.model:train()
  self.epoch_rng = qv.rng_state()
  self.iter = self.train_set:batches{size = self.options.batch_size, binarize = "dynamic", shuffle = true}
  self.epoch_t0 = qv.clock()
end

--- Names the first tensor (or loss term) that is not finite.
local function check_finite(self, out, at)
  for _, name in ipairs(self.names) do
    if not self.named[name]:all_finite() then return ("non-finite parameter %s %s"):format(name, at) end
  end
  local bad_grad
  for _, name in ipairs(self.names) do
    local g = self.named[name].grad
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

--- The loss of one batch with an explicit negative phase (the forward
--- pass changes no state; the phase advances the prior's chains).
local function loss_with_negative_phase(self, x, v, share)
  local prior = self.prior
  if self.sweeps_scheduled and prior.sweeps ~= v.sweeps then prior.sweeps = v.sweeps end
  local ph = prior:negative_phase{beta_eff_rate = v.beta_eff_rate}
  return self.model:loss(x, {k = v.k, d = v.d, kl = v.kl, tau = v.tau, negative_phase = ph,
                             rows = share and {share[1], share[2]} or nil})
end

--- Data-parallel: BatchNorm's running statistics (each rank's from its
--- own images) averaged over the ranks, so every rank holds the same model.
sync_buffers = function(self)
  if self.options.network ~= "conv" then return end
  local b = self.model:buffers()
  local names = {}
  for name in pairs(b) do if name:match("running_") then names[#names + 1] = name end end
  table.sort(names)
  for _, name in ipairs(names) do qv.dist.allreduce(b[name], "mean") end
end

--- One training step on the next batch (the epoch's end is left to the caller).
local function train_step(self)
  if self:finished() then
    error(("the run is finished (%d of %d epochs); build a new one with more epochs to continue"):format(
      self.epoch_done, self.options.epochs), 0)
  end
  if self.batch == 0 or not self.iter then begin_epoch(self) end
  local x = self.iter()
  local b = self.batch + 1
  local at = ("at epoch %d batch %d"):format(self.epoch_done + 1, b)
  local v = values_at(self.sched, self.epoch_done + (b - 1) / self.batches, self.step_count)
  self.optim.lr = v.lr
  local share
  if self.world > 1 then
    -- This rank's images of the global batch; the noise is the whole batch's.
    local n = x:size(1)
    local lo, hi = self.rank * n // self.world, (self.rank + 1) * n // self.world
    x, share = x:narrow(1, lo + 1, hi - lo), {lo, n, (hi - lo) / n}
  end
  local ok, out = pcall(function()
    local out = loss_with_negative_phase(self, x, v, share)
    self.optim:zero_grad()
    out.loss:backward()
    return out
  end)
  if not ok then error(("training step failed %s: %s"):format(at, tostring(out)), 0) end
  local loss = out.loss:item()
  if share then
    -- One fused allreduce: every gradient and the step's numbers, each
    -- weighted by this rank's share of the batch.
    local sums = qv.dist.allreduce_grads(self.params, {scale = share[3], values = {loss, out.elbo, out.recon}})
    loss, out.elbo, out.recon = sums[1], sums[2], sums[3]
    sync_buffers(self)
  end
  local bad = check_finite(self, out, at)
  if bad then error(bad, 0) end
  self.optim:step()
  if self.options.weight_clip > 0 then self.prior:clamp{weights = self.options.weight_clip} end
  local s = self.sums
  s.loss, s.elbo, s.recon, s.n = s.loss + loss, s.elbo + out.elbo, s.recon + out.recon, s.n + 1
  self.batch, self.step_count = b, self.step_count + 1
  self.last = v
  local info = {epoch = self.epoch_done + 1, batch = b, batches = self.batches, step = self.step_count, loss = loss,
                elbo = out.elbo, recon = out.recon, lr = v.lr, kl = v.kl, k = v.k, d = v.d, tau = v.tau,
                sweeps = v.sweeps, beta_eff_rate = v.beta_eff_rate, beta_eff = self.prior.beta_eff}
  call_hook(self, "on_step", info)
  return info
end

--- One training step on the next batch: the scheduled values, the
--- negative phase, the loss, backward, the optimizer step and the weight
--- clip. Returns {epoch, batch, batches, step, loss, elbo, recon, lr, kl,
--- k, d, tau, sweeps, beta_eff_rate, beta_eff}. The epoch's last step also
--- ends the epoch (validation, log row, checkpoint, hooks).
function Run:step()
  if self.closed then error("the run is closed", 0) end
  local info = train_step(self)
  if self.batch == self.batches then self:end_epoch() end
  return info
end

--- Test log-likelihood (K = eval_k importance samples, log Z by the run's
--- estimator), ELBO and active units on the run's eval_n test images.
--- `opts` overrides {k, logz, logz_chains, logz_temperatures}.
function Run:evaluate(opts)
  local o = self.options
  local e = {k = o.eval_k, logz = o.logz, logz_chains = o.logz_chains, logz_temperatures = o.logz_temperatures,
             beta_eff = self.prior.beta_eff}
  for k, v in pairs(opts or {}) do e[k] = v end
  local ev = kit.evaluate(self.model, self.prior, self.test_x, e)
  call_hook(self, "on_eval", ev)
  return ev
end

--- Ends the current epoch: validation ELBO and active units, a test
--- evaluation when due, the log row, a checkpoint when due. Called by the
--- epoch's last step.
function Run:end_epoch()
  local o = self.options
  local s = self.sums
  local epoch = self.epoch_done + 1
  local train_seconds = s.seconds + (qv.clock() - (self.epoch_t0 or qv.clock()))
  local t1 = qv.clock()
  local vlogz, vlogz_err = self.prior:logz{method = "ais", chains = 200, temperatures = 300}
  local r = qv.vae.evaluate(self.model, self.valid_x, {k = 1, logz = vlogz, logz_err = vlogz_err})
  local tracking = self.tracking
  self.say(("  valid ELBO %.2f  active units %d  log Z %.2f%s  (%.1f s train, %.1f s validation)"):format(
    r.elbo, r.active, r.logz, tracking and ("  beta_eff %.4f"):format(self.prior.beta_eff) or "",
    train_seconds, qv.clock() - t1))
  local v = self.last
  local row = {epoch = epoch, train_loss = s.loss / s.n, train_elbo = s.elbo / s.n, recon = s.recon / s.n,
               valid_elbo = r.elbo, active_units = r.active, logz = r.logz, beta_eff = self.prior.beta_eff,
               weights_l1 = self.prior.weights:abs():sum():item(),
               lr = v.lr, k = v.k, d = v.d, kl_weight = v.kl, tau = v.tau}
  local last = epoch == o.epochs
  if last or (o.eval_every > 0 and epoch % o.eval_every == 0) then
    local t2 = qv.clock()
    local ev = self:evaluate()
    row.test_ll, row.test_ll_aux = ev.ll, ev.ll_aux
    if last then self.final = ev end
    self.say(("  %s  (%.1f s, K = %d on %d images)"):format(kit.summary(ev), qv.clock() - t2, o.eval_k,
             self.test_x:size(1)))
  end
  row.seconds = train_seconds + (qv.clock() - t1)
  self.epoch_done, self.batch, self.iter = epoch, 0, nil
  self.sums = {loss = 0, elbo = 0, recon = 0, n = 0, seconds = 0}
  self:log_row(row)
  self.rows = self.rows or {}
  self.rows[#self.rows + 1] = row
  call_hook(self, "on_epoch", row)
  if epoch % o.checkpoint_every == 0 or last then self:save() end
  if last then self:write_outputs() end
  return row
end

--- Appends `row` (an epoch's numbers) to OUT/log.csv, opening the log on
--- first use (rank 0 only; other ranks log nothing).
function Run:log_row(row)
  if self.rank > 0 then return end
  if not self.log then
    qv.mkdir(self.options.out)
    self.log = runlog.open(self.paths.log, {keep_until = self.epoch_done - 1, fields = LOG_FIELDS})
  end
  self.log:write(row)
end

--- The rest of the current epoch (a whole one at an epoch boundary), with
--- a progress line; returns the epoch's log row (nil when a hook stopped
--- the run first).
function Run:epoch()
  if self.closed then error("the run is closed", 0) end
  if self:finished() then
    error(("the run is finished (%d of %d epochs)"):format(self.epoch_done, self.options.epochs), 0)
  end
  local o = self.options
  local bar = not o.quiet and not o.echo and progress.new{total = self.batches,
    label = ("epoch %d/%d"):format(self.epoch_done + 1, o.epochs), per_step = o.batch_size} or nil
  repeat
    local info = train_step(self)
    if bar then bar:update(info.batch, {loss = self.sums.loss / self.sums.n}) end
  until self.batch == self.batches or self.stopped
  if self.batch < self.batches then return nil end
  if bar then bar:finish(("loss %.2f  ELBO %.2f"):format(self.sums.loss / self.sums.n, self.sums.elbo / self.sums.n)) end
  return self:end_epoch()
end

--- Writes a checkpoint (default OUT/checkpoint.safetensors): the model
--- (parameters, buffers, the prior's chains and stream), the optimizer, the
--- random state and the position in the epoch, with the options as JSON.
--- Under mpirun every rank must call it (the chains are gathered first);
--- rank 0 writes.
function Run:save(path)
  if self.closed then error("the run is closed", 0) end
  path = path or self.paths.checkpoint
  if self.chain_block then self.prior:gather_chains() end  -- every rank: the whole set of chains for rank 0
  if self.rank > 0 then return path end  -- rank 0 writes the (global) state
  qv.mkdir(self.options.out)
  local extra = {step = tostring(self.step_count), batch = tostring(self.batch)}
  if self.batch > 0 then
    extra.epoch_rng = self.epoch_rng
    extra.sums = json.encode({loss = self.sums.loss, elbo = self.sums.elbo, recon = self.sums.recon,
                              n = self.sums.n, seconds = self.sums.seconds + (qv.clock() - self.epoch_t0)})
  end
  kit.save_checkpoint(path, self.model, self.optim, data_options(self.options, self.sched.described),
                      self.epoch_done, extra)
  call_hook(self, "on_checkpoint", path)
  return path
end

--- Continues from a checkpoint (default OUT/checkpoint.safetensors): model,
--- optimizer, random state, the position in the epoch and the log.
function Run:resume(path)
  path = path or self.paths.checkpoint
  local ok, c = pcall(kit.load_checkpoint, path)
  if not ok then error("--resume: " .. tostring(c), 0) end
  check_resume(self.options, c.options, self.sched.described)
  local loaded, err = pcall(function()
    self.model:load_state(c.model)
    self.optim:load_state(c.optim)
  end)
  if not loaded then error(("--resume: cannot restore %s: %s"):format(path, tostring(err)), 0) end
  self.epoch_done = c.epoch
  self.step_count = tonumber(c.meta.step) or c.epoch * self.batches
  self.batch = tonumber(c.meta.batch) or 0
  self.iter = nil
  if self.batch > 0 then
    -- Replay the epoch's batch order up to the checkpoint: the order and
    -- binarization come from the epoch's random state, then the saved state.
    local sums = json.decode(c.meta.sums)
    qv.set_rng_state(c.meta.epoch_rng)
    begin_epoch(self)
    for _ = 1, self.batch do self.iter() end
    self.sums = {loss = sums.loss, elbo = sums.elbo, recon = sums.recon, n = sums.n, seconds = sums.seconds}
  end
  qv.set_rng_state(c.rng)
  if (self.options.beta_drift_sd or 0) > 0 and self.options.sampler == "annealer" then
    -- the emulator's temperature path continues at this run's step
    local so = setmetatable({drift_start = self.step_count}, {__index = self.options})
    self.prior.sampler = kit.sampler(so)
  end
  self.rows = runlog.read_csv(self.paths.log)
  while #self.rows > self.epoch_done do table.remove(self.rows) end
  self.say(("resuming %s at epoch %d%s"):format(path, self.epoch_done,
           self.batch > 0 and (" batch %d"):format(self.batch) or ""))
  return self
end

--- Writes the final pictures, curves and summary.json.
function Run:write_outputs()
  local o = self.options
  if self.log then self.log:close(); self.log = nil end
  local final = self.final or self:evaluate()
  self.final = final
  if self.rank > 0 then return end
  kit.pictures(o.out, self.model, self.test_x)
  kit.curves(self.paths.curves, runlog.read_csv(self.paths.log))
  self.say("")
  self.say(("%s, %d epochs: %d test images, K = %d"):format(o.dataset, o.epochs, self.test_x:size(1), o.eval_k))
  self.say(kit.summary(final))
  local opts = data_options(o, self.sched.described)
  opts.eval_n = self.test_x:size(1)
  kit.write_summary(self.paths.summary, final, {options = opts, dataset = o.dataset, prior = opts.prior,
                    network = o.network, grouping = o.grouping, epochs = o.epochs, seed = o.seed, eval_k = o.eval_k,
                    eval_n = self.test_x:size(1)})
  self.say(("wrote %s/{log.csv, checkpoint.safetensors, summary.json, samples.png, recon.png, curves.png}"):format(o.out))
end

local function header(self)
  local o = self.options
  self.say(("qvlua %s  %s%s  prior %s (%s)  network %s  %d epochs  out %s"):format(qv.version, o.dataset,
    o.train_n and (" (first " .. o.train_n .. " training images)") or "", type(o.prior) == "string" and o.prior or "custom",
    self.model.grouping, o.network, o.epochs, o.out))
  if self.note then self.say("note: " .. self.note) end
  if o.gamma > 0 then
    self.say(("quantum prior (Q-ELBO, Eqs. 13-16): Γ = %g, PIMC negative phase %d chains × %d slices, %s sweeps per step"):format(
      o.gamma, o.chains, o.slices, self.sched.described.sweeps))
  end
  if self.tracking then
    self.say(("beta_eff tracking (Eq. C3): rate %s per step, beta_eff %.4f%s"):format(self.sched.described.beta_eff_rate,
      self.prior.beta_eff, o.sampler == "annealer" and (" (the emulator samples at %g)"):format(o.beta_eff) or ""))
  end
end

--- The results of a finished run: {final = evaluation, rows = log rows,
--- paths = {...}, options = the run's options as data, epochs}.
function Run:results()
  local rows = self.rank == 0 and runlog.read_csv(self.paths.log) or self.rows
  return {final = self.final, rows = rows, paths = self.paths, out = self.options.out,
          options = data_options(self.options, self.sched.described), epochs = self.epoch_done}
end

--- Trains the remaining epochs and writes the final outputs (a resumed
--- run that had finished writes the outputs it is missing). Returns
--- `run:results()`.
function Run:run()
  if self:finished() then
    if not qv.exists(self.paths.summary) then self:write_outputs()
    else
      self.say(("%s is already at epoch %d of %d: nothing to train"):format(self.paths.checkpoint,
               self.epoch_done, self.options.epochs))
      self.final = self.final or kit.read_summary(self.paths.summary)
    end
    return self:results()
  end
  header(self)
  while not self:finished() and not self.stopped do self:epoch() end
  return self:results()
end

--- Builds a run from `options` and trains it whole; returns its results.
function M.run(options) return M.new(options):run() end

return M
