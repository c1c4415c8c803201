--- Building blocks shared by train.lua, evaluate.lua and sample.lua:
--- datasets, priors and models from an options table, checkpoints that
--- carry their own configuration, evaluation and pictures.
---
---   local kit = require "vaekit"
---   local data = kit.dataset{dataset = "fmnist"}
---   local model, prior = kit.build{network = "dense", prior = "chimera", grouping = "chains"}
---   local ckpt = kit.load_checkpoint("runs/default/checkpoint.safetensors")

local M = {}

local json = require "json"

--- Loads the dataset named by `o.dataset` ("fmnist" or "mnist"; `o.data` is
--- the directory, required for MNIST).
function M.dataset(o)
  local name = o.dataset or "fmnist"
  if name == "mnist" and not o.data then
    error("MNIST needs --data DIR (the directory with the four *-ubyte.gz files)", 0)
  end
  local ok, data = pcall(qv.data.load, name, {dir = o.data})
  if not ok then error((tostring(data):gsub("^[^:]*:%d+: ", "")), 0) end
  return data
end

--- The prior's graph for `o.prior`: bernoulli | chimera | pegasus | rbm | a file path.
function M.graph(o)
  local p = o.prior or "chimera"
  if p == "bernoulli" then return qv.graph.bernoulli(288)
  elseif p == "chimera" then return qv.graph.chimera(6, 6, 4)
  elseif p == "pegasus" then return qv.graph.pegasus(4)
  elseif p == "rbm" then return qv.graph.full_bipartite(144, 144)
  end
  return qv.graph.load(p)
end

--- The negative-phase sampler named by `o.sampler` (or `o.sampler` itself
--- when it is a qv.Sampler; a checkpoint's record of a Lua sampler object,
--- which cannot be rebuilt, gives the default PCD sampler).
function M.sampler(o)
  local s = o.sampler or "pcd"
  if type(s) == "userdata" then return s end
  if type(s) == "table" then s = "pcd" end
  -- a schedule of sweeps (a checkpoint records its description) starts at 10
  local sweeps = math.type(o.sweeps) == "integer" and o.sweeps or 10
  o = setmetatable({sweeps = sweeps}, {__index = o})
  if s == "pcd" then return qv.sampler.gibbs{sweeps = o.sweeps or 10, burn_in = 100, persistent = true}
  elseif s == "pa" then return qv.sampler.pa{temperatures = o.sweeps or 10, populations = 1}
  elseif s == "annealer" then
    return qv.sampler.annealer{beta_eff = o.beta_eff or 1, h_noise = o.h_noise or 0, j_noise = o.j_noise or 0,
                               gauges = o.gauges or 5, drift_sd = o.beta_drift_sd or 0,
                               drift_time = o.beta_drift_time or 100, drift_seed = o.beta_drift_seed or 1,
                               drift_start = o.drift_start or 0}
  elseif s == "exact" then return qv.sampler.exact()
  elseif s:match("^command:") then
    local argv = M.words(s:match("^command:(.*)$"))
    if #argv == 0 then error("--sampler command: no program given", 0) end
    argv.timeout = o.command_timeout or 600
    return qv.sampler.command(argv)
  end
  error("unknown sampler '" .. tostring(s) .. "'", 0)
end

--- Splits a command line on white space (no quoting).
function M.words(s)
  local t = {}
  for w in tostring(s or ""):gmatch("%S+") do t[#t + 1] = w end
  return t
end

--- The grouping actually used for `o.grouping` on `graph`: graphs without
--- Chimera's shores (Bernoulli, the full RBM) have no "chains" grouping, and
--- fall back to "bipartite" (for them the two are the same hierarchy: two
--- groups of N/2 units). Returns the name and a note (nil when unchanged).
function M.grouping(o, graph)
  local want = o.grouping or "chains"
  local has = false
  for _, name in ipairs(graph.groupings) do if name == want then has = true end end
  if want == "chains" and not has then
    return "bipartite", ("the %s prior has no 'chains' grouping; using 'bipartite'"):format(o.prior or "chimera")
  end
  return want
end

--- Builds the prior and the VAE described by `o`; returns model, prior, note
--- (a message when the grouping had to be changed, see `M.grouping`).
--- `o.beta_eff_rate` > 0 turns on the prior's β_eff tracking (Eq. C3, one
--- update per training step). `o.gamma` > 0 builds a quantum Boltzmann
--- machine prior (transverse field Γ = o.gamma, `o.slices` Trotter slices,
--- PIMC negative phase of `o.sweeps` sweeps on `o.chains` chains).
function M.build(o)
  local graph = M.graph(o)
  local mode = o.negative_phase or "auto"
  local prior
  if (o.gamma or 0) > 0 then
    -- a quantum Boltzmann machine prior (Eqs. 13-16): PIMC negative phase
    prior = qv.prior.quantum(graph, {gamma = o.gamma, slices = o.slices or 16,
                                     sweeps = math.type(o.sweeps) == "integer" and o.sweeps or 10,
                                     samples = o.chains or 1000})
  else
    local sampler_opts = o
    if mode == "exact" then
      if graph.edges > 0 and graph.nodes > 24 then
        error(("--negative-phase exact enumerates all states: the %s prior has couplers and %d units (at most 24)")
              :format(tostring(o.prior), graph.nodes), 0)
      end
      if graph.edges > 0 then sampler_opts = setmetatable({sampler = "exact"}, {__index = o}) end
    end
    prior = qv.prior.new(graph, {sampler = M.sampler(sampler_opts), samples = o.chains or 1000})
    if mode == "sampled" then prior.sampled_negative_phase = true end
  end
  local ctor = (o.network or "dense") == "conv" and qv.vae.conv or qv.vae.dense
  local grouping, note = M.grouping(o, graph)
  local model = ctor{prior = prior, grouping = grouping}
  return model, prior, note
end

--- Reads the flat Lua table literal that format-1 checkpoints hold
--- (`{key = "text", n = 1.5, flag = true}`) as data, without running it.
function M.read_literal(text)
  local t = {}
  local body = text:match("^%s*{(.*)}%s*$")
  if not body then error("corrupt options in checkpoint", 0) end
  local i = 1
  while true do
    local _, e, key = body:find("^%s*([%a_][%w_]*)%s*=%s*", i)
    if not key then break end
    i = e + 1
    local v
    if body:sub(i, i) == '"' then
      local j, buf = i + 1, {}
      while true do
        local c = body:sub(j, j)
        if c == "" then error("corrupt options in checkpoint", 0) end
        if c == '"' then break end
        if c == "\\" then
          local n = body:sub(j + 1, j + 1)
          local digits = body:match("^%d%d?%d?", j + 1)
          if digits then buf[#buf + 1] = string.char(tonumber(digits) % 256); j = j + 1 + #digits
          else buf[#buf + 1] = ({n = "\n", t = "\t", r = "\r"})[n] or n; j = j + 2 end
        else buf[#buf + 1] = c; j = j + 1 end
      end
      v, i = table.concat(buf), j + 1
    else
      local word = body:match("^[^,}%s]+", i)
      if not word then error("corrupt options in checkpoint", 0) end
      i = i + #word
      if word == "true" then v = true elseif word == "false" then v = false
      else v = math.tointeger(tonumber(word)) or tonumber(word) end
      if v == nil then error("corrupt options in checkpoint: " .. key, 0) end
    end
    t[key] = v
    local _, e2 = body:find("^%s*,?", i)
    i = e2 + 1
  end
  if body:find("%S", i) then error("corrupt options in checkpoint", 0) end
  return t
end

--- The model as data, for readers outside qvlua (docs/CHECKPOINT.md,
--- schema "qvlua-model-1"): the prior's graph with its edge list in the
--- order of the weights and its colour classes (the blocks of block Gibbs),
--- the conventions of H(z), the posterior groups and the networks, all
--- indices 0-based.
function M.describe_model(model)
  local prior = model.prior
  local g = prior.graph
  local edges = {}
  for i, e in ipairs(g:edge_list()) do edges[i] = {e[1] - 1, e[2] - 1} end
  if #edges == 0 then edges = json.empty_array end
  local function zero_based(lists)
    local out = {}
    if #lists == 0 then return json.empty_array end
    for i, list in ipairs(lists) do
      local t = {}
      for j, u in ipairs(list) do t[j] = u - 1 end
      out[i] = t
    end
    return out
  end
  local groups = zero_based(model.groups)
  return {
    schema = "qvlua-model-1",
    prior = {
      kind = prior.kind,
      graph = {name = g.name, family = g.family, nodes = g.nodes, edges = edges,
               blocks = zero_based(g:independent_sets())},
      units = "binary: z in {0,1}^nodes",
      energy = "H(z) = sum_l bias[l] z[l] + sum_e weights[e] z[edges[e][0]] z[edges[e][1]]",
      distribution = "p(z) = exp(-H(z)) / Z",
      beta_eff = prior.beta_eff,
      parameters = {bias = "model.prior.bias", weights = "model.prior.weights"},
    },
    posterior = {
      groups = groups,
      grouping = model.grouping,
      order = "q(z|x) = prod_g q(z_g | x, z_<g); head g reads [h(x), z_1, ..., z_{g-1}]",
      relaxation = "zeta = sigmoid((logit(rho) + l) / tau), rho ~ U(0,1); hard z = [logit(rho) + l > 0]",
    },
    decoder = "Bernoulli logits over the input pixels from the latents in unit order",
    networks = model.config,
  }
end

--- Writes a checkpoint: the model (parameters, buffers, prior chains), the
--- optimizer state under "optim.", and metadata (options, epoch, RNG state,
--- the model described as data: docs/CHECKPOINT.md).
function M.save_checkpoint(path, model, optim, o, epoch, extra)
  local tensors = {}
  for name, t in pairs(model:state()) do tensors["model." .. name] = t end
  if optim then
    for name, t in pairs(optim:state()) do tensors["optim." .. name] = t end
  end
  local meta = {format = "qvlua-vae-2", qvlua = qv.version, epoch = tostring(epoch),
                options = json.encode(o), config = json.encode(model.config), rng = qv.rng_state(),
                model = json.encode(M.describe_model(model))}
  for k, v in pairs(extra or {}) do meta[k] = tostring(v) end
  qv.save(path, tensors, meta)
end

--- Reads a checkpoint: returns {options, epoch, rng, model = {..}, optim = {..}, meta}.
function M.load_checkpoint(path)
  if not qv.exists(path) then error("no checkpoint at " .. path, 0) end
  local ok, tensors, meta = pcall(qv.load, path)
  if not ok then error(tostring(tensors), 0) end
  local options
  if meta.format == "qvlua-vae-2" then
    local ok_json, t = pcall(json.decode, meta.options or "{}")
    if not ok_json or type(t) ~= "table" then error(path .. ": corrupt options in checkpoint", 0) end
    options = t
  elseif meta.format == "qvlua-vae-1" then
    options = M.read_literal(meta.options or "{}")
  else
    error(path .. " is not a qvlua VAE checkpoint (format " .. tostring(meta.format) .. ")", 0)
  end
  local epoch = math.tointeger(tonumber(meta.epoch))
  if not epoch or epoch < 0 then error(path .. ": corrupt epoch in checkpoint: " .. tostring(meta.epoch), 0) end
  local c = {options = options, epoch = epoch, rng = meta.rng, model = {}, optim = {}, meta = meta}
  for name, t in pairs(tensors) do
    local group, rest = name:match("^(%a+)%.(.*)$")
    if group == "model" then c.model[rest] = t elseif group == "optim" then c.optim[rest] = t end
  end
  return c
end

--- Rebuilds a trained model from a checkpoint file; returns model, prior, checkpoint.
function M.restore(path)
  local c = M.load_checkpoint(path)
  local model, prior = M.build(c.options)
  model:load_state(c.model)
  model:eval()
  return model, prior, c
end

--- Test images binarized once with a fixed seed, so every evaluation of
--- every model sees the same binary images.
function M.eval_images(set, n)
  n = math.min(n or #set, #set)
  local x = set:images(1, n)
  local saved = qv.rng_state()
  qv.seed(20191119)
  local b = x:bernoulli()
  qv.set_rng_state(saved)
  return b
end

--- Test log-likelihood, ELBO and active units of `model` on `x`, with log Z
--- estimated by `o.logz` ("ais" | "pa"; `o.logz_chains` AIS chains or PA
--- replicas, `o.logz_temperatures`) and K = `o.k` importance samples.
--- Returns qv.vae.evaluate's table.
function M.evaluate(model, prior, x, o)
  o = o or {}
  local method = o.logz or "ais"
  local spec = {method = method, temperatures = o.logz_temperatures or 1000}
  if method == "pa" then spec.replicas = o.logz_chains or 1000 else spec.chains = o.logz_chains or 1000 end
  local logz, logz_err = prior:logz(spec)
  local r = qv.vae.evaluate(model, x, {k = o.k or 1000, logz = logz, logz_err = logz_err})
  r.logz, r.logz_err = logz, logz_err
  local beta = o.beta_eff or 1
  if math.abs(beta - 1) > 1e-4 then
    -- the auxiliary machine (beta_eff b, beta_eff W): what an annealer at beta_eff samples (Eqs. 17-18)
    local a = qv.vae.evaluate(model, x, {k = o.k or 1000, beta_eff = beta, logz_method = method,
                                         logz_chains = o.logz_chains or 1000,
                                         logz_temperatures = o.logz_temperatures or 1000})
    r.beta_eff = beta
    r.ll_aux, r.ll_aux_se, r.logz_aux, r.logz_aux_err = a.ll, a.ll_se, a.logz, a.logz_err
    r.elbo_aux, r.active_aux = a.elbo, a.active
  end
  -- a quantum prior's log p(z) is the Q-ELBO's p̃(z) = e^{-H(z)}/Z <= p(z) (Eq. 15): a bound on log p(x)
  r.quantum = prior.kind == "quantum"
  return r
end

--- Writes the final evaluation as OUT/summary.json (one flat JSON object,
--- for scripts that compare runs): test_ll, test_ll_se (importance sampling
--- alone), logz, logz_err, test_elbo, active_units (for a small quantum
--- prior also test_ll_exact, test_ll_exact_se: log p(x) with the true
--- p(z)), plus `extra` fields.
--- Written atomically (qv.write_file), like every other output.
function M.write_summary(path, r, extra)
  local t = {test_ll = r.ll, test_ll_se = r.ll_se, logz = r.logz, logz_err = r.logz_err,
             test_elbo = r.elbo, active_units = r.active, quantum = r.quantum or nil,
             test_ll_exact = r.ll_exact, test_ll_exact_se = r.ll_exact_se}
  if r.ll_aux then
    -- the headline after annealer training: the auxiliary machine at the tracked beta_eff
    t.test_ll_aux, t.test_ll_aux_se, t.logz_aux, t.logz_aux_err = r.ll_aux, r.ll_aux_se, r.logz_aux, r.logz_aux_err
    t.test_elbo_aux, t.beta_eff = r.elbo_aux, r.beta_eff
    t.headline = "test_ll_aux"
  else
    t.headline = "test_ll"
  end
  for k, v in pairs(extra or {}) do t[k] = v end
  qv.write_file(path, require("runlog").to_json(t) .. "\n")
end

--- Reads OUT/summary.json back as an evaluation table (ll, ll_se, logz,
--- logz_err, elbo, active) plus the summary's other fields.
function M.read_summary(path)
  local f = io.open(path, "r")
  if not f then error("no summary at " .. path, 0) end
  local text = f:read("a")
  f:close()
  local ok, t = pcall(json.decode, text)
  if not ok or type(t) ~= "table" then error(path .. ": not a JSON summary", 0) end
  local r = {ll = t.test_ll, ll_se = t.test_ll_se, logz = t.logz, logz_err = t.logz_err, elbo = t.test_elbo,
             active = t.active_units, ll_aux = t.test_ll_aux, ll_aux_se = t.test_ll_aux_se, logz_aux = t.logz_aux,
             logz_aux_err = t.logz_aux_err, elbo_aux = t.test_elbo_aux, ll_exact = t.test_ll_exact,
             ll_exact_se = t.test_ll_exact_se}
  for k, v in pairs(t) do if r[k] == nil then r[k] = v end end
  return r
end

--- One line summarising an evaluation (a second line with the exact LL of
--- a small quantum prior).
function M.summary(r)
  local line = ("test LL %.2f ± %.2f%s (log Z %.3f ± %.3f)  ELBO %.2f  active units %d"):format(
    r.ll, math.sqrt(r.ll_se ^ 2 + (r.logz_err or 0) ^ 2), r.quantum and " [Q-ELBO bound, Eq. 15]" or "",
    r.logz, r.logz_err or 0, r.elbo, r.active)
  if r.ll_exact then
    -- a small quantum prior: the exact log p(x) with the true p(z), from the same samples
    line = line .. ("\n  test LL %.2f ± %.2f with the true p(z) (exact diagonalization, same samples)"):format(
      r.ll_exact, r.ll_exact_se or 0)
  end
  if r.ll_aux then
    return ("test LL %.2f ± %.2f of the auxiliary machine at beta_eff %.4f (log Z %.3f ± %.3f)\n  at beta = 1: %s"):format(
      r.ll_aux, math.sqrt((r.ll_aux_se or 0) ^ 2 + (r.logz_aux_err or 0) ^ 2), r.beta_eff or 0 / 0, r.logz_aux,
      r.logz_aux_err or 0, line)
  end
  return line
end

--- Writes samples.png (prior samples through the decoder) and recon.png
--- (rows of test images, each above its reconstructions) into `dir`.
function M.pictures(dir, model, x)
  local s = qv.no_grad(function() return model:generate(100) end)
  qv.image.grid(dir .. "/samples.png", s, {columns = 10, scale = 2})
  local cols = math.min(10, x:size(1))
  local n = math.min(50, x:size(1) - x:size(1) % cols)
  local xs = x:narrow(1, 1, n)
  local r = qv.no_grad(function() return model:reconstruct(xs) end)
  local rows = {}
  for i = 0, n // cols - 1 do
    rows[#rows + 1] = xs:narrow(1, i * cols + 1, cols)
    rows[#rows + 1] = r:narrow(1, i * cols + 1, cols)
  end
  qv.image.grid(dir .. "/recon.png", qv.cat(rows, 1), {columns = cols, scale = 2})
end

--- Writes curves.png from log rows: ELBO/LL per epoch and active units.
function M.curves(path, rows)
  local e, elbo, ll, active, loss = {}, {}, {}, {}, {}
  for i, r in ipairs(rows) do
    e[i] = r.epoch; loss[i] = r.train_elbo or 0 / 0; elbo[i] = r.valid_elbo or 0 / 0
    ll[i] = r.test_ll or 0 / 0; active[i] = r.active_units or 0 / 0
  end
  qv.plot.lines(path, {
    {title = "bounds (nats)", series = {{name = "train ELBO", x = e, y = loss},
                                        {name = "valid ELBO", x = e, y = elbo},
                                        {name = "test LL", x = e, y = ll}}},
    {title = "active units", series = {{name = "active", x = e, y = active}}},
  })
end

return M
