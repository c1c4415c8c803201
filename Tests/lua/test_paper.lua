-- Issue 12: what the paper's tables and figures need from the engine —
-- sampled negative phases for every prior (Table I's Bernoulli cells), the
-- auxiliary machine's LL after annealer training (checked against exact
-- enumeration), the emulator's drifting temperature, plot bands, and the
-- D-Wave Ocean (dimod) command-sampler adapter end to end.

local trainer = require "trainer"
local study = require "study"
local kit = require "vaekit"
local json = require "json"

local MNIST = study.default_data("mnist")
local here = (arg and arg[0] or "Tests/lua/run.lua"):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
local qvlua = study.interpreter(arg, qv.root)

local tmp = helpers.tmpdir("qvpaper")

local function tiny(extra) return helpers.tiny(MNIST, {train_n = 100, epochs = 1}, extra) end

local function capture(cmd)
  local f = io.popen(cmd .. " 2>&1")
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

test("the Bernoulli prior trains with its sampler's samples when asked: DW and PA cells differ", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local function bias_after(o)
    local run = trainer.new(tiny(o))
    run:step(); run:step()
    local b = run.prior.bias:clone()
    run:close()
    return b
  end
  local dw = {prior = "bernoulli", sampler = "annealer", beta_eff = 0.5, h_noise = 0.1}
  local pa = {prior = "bernoulli", sampler = "pa"}
  -- auto (the default): the edge-free prior's exact moments, whatever the sampler
  dw.out, pa.out = tmp .. "/b-dw-auto", tmp .. "/b-pa-auto"
  expect.eq(bias_after(dw):tolist(), bias_after(pa):tolist())
  -- sampled: each sampler's own samples
  dw.out, pa.out, dw.negative_phase, pa.negative_phase = tmp .. "/b-dw", tmp .. "/b-pa", "sampled", "sampled"
  expect.ne(bias_after(dw):tolist(), bias_after(pa):tolist())
  -- and the β_eff tracking then runs on the Bernoulli prior
  local run = trainer.new(tiny{prior = "bernoulli", sampler = "annealer", beta_eff = 0.5, negative_phase = "sampled",
                               kl = 1, out = tmp .. "/b-track"})
  expect.truthy(run.tracking)
  run:step(); run:step()            -- (the first step's b = 0 gives every state energy 0)
  expect.ne(run.prior.beta_eff, 1)
  run:close()
  local quiet = trainer.new(tiny{prior = "bernoulli", sampler = "annealer", out = tmp .. "/b-notrack"})
  expect.falsy(quiet.tracking)
  quiet:close()
  expect.error(function() trainer.new(tiny{prior = "chimera", negative_phase = "exact", out = tmp .. "/x"}) end,
               "enumerates all states")
end)

test("train.lua claims beta_eff tracking only where it happens", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local base = ("%s %s/scripts/train.lua --dataset mnist --data %s --train-n 50 --batch-size 50 --chains 20 " ..
                "--valid-n 20 --eval-n 5 --eval-k 2 --logz-chains 10 --logz-temperatures 10 --epochs 1 --prior bernoulli " ..
                "--sampler annealer --force"):format(qvlua, root, MNIST)
  local out, code = capture(base .. " --out " .. tmp .. "/cli-auto")
  expect.eq(code, 0, out)
  expect.falsy(out:find("tracking", 1, true), out)
  out, code = capture(base .. " --negative-phase sampled --out " .. tmp .. "/cli-sampled")
  expect.eq(code, 0, out)
  expect.match(out, "beta_eff tracking")
end)

--- log Σ_z exp(−β H(z)) by enumeration, H(z) = b·z + Σ W_uv z_u z_v.
local function exact_logz(b, w, edges, beta)
  local n = #b
  local terms = {}
  for s = 0, (1 << n) - 1 do
    local z = {}
    for l = 1, n do z[l] = (s >> (l - 1)) & 1 end
    local h = 0
    for l = 1, n do h = h + b[l] * z[l] end
    for k, e in ipairs(edges) do h = h + w[k] * z[e[1]] * z[e[2]] end
    terms[#terms + 1] = -beta * h
  end
  local m = -math.huge
  for _, t in ipairs(terms) do m = math.max(m, t) end
  local sum = 0
  for _, t in ipairs(terms) do sum = sum + math.exp(t - m) end
  return m + math.log(sum)
end

test("the auxiliary machine's LL (beta_eff b, beta_eff W) against exact enumeration", function()
  qv.seed(5)
  local g = qv.graph.chimera(1, 1, 4)
  local p = qv.prior.new(g, {weight_scale = 0.8, bias = 0.3})
  local m = qv.vae.dense{prior = p, grouping = "bipartite", encoder_hidden = {32}, decoder_hidden = {32}}
  local x = qv.rand(6, 784):bernoulli()
  local b, w, edges = p.bias:tolist(), p.weights:tolist(), g:edge_list()
  local beta = 0.5
  qv.seed(9)
  local aux = qv.vae.evaluate(m, x, {k = 20, beta_eff = beta})
  expect.near(aux.logz, exact_logz(b, w, edges, beta), 1e-4)
  expect.eq(aux.logz_err, 0)
  expect.eq(aux.beta_eff, beta)
  -- the parameters are restored bit for bit
  expect.eq(p.bias:tolist(), b); expect.eq(p.weights:tolist(), w)
  -- the same as evaluating a model whose prior is the scaled machine
  qv.no_grad(function() p.bias:mul_(beta); p.weights:mul_(beta) end)
  qv.seed(9)
  local scaled = qv.vae.evaluate(m, x, {k = 20, logz = exact_logz(b, w, edges, beta)})
  expect.near(aux.ll, scaled.ll, 1e-9); expect.near(aux.elbo, scaled.elbo, 1e-9)
  qv.no_grad(function() p.bias:mul_(1 / beta); p.weights:mul_(1 / beta) end)
  -- at beta = 1 the two differ
  qv.seed(9)
  local plain = qv.vae.evaluate(m, x, {k = 20})
  expect.near(plain.logz, exact_logz(b, w, edges, 1), 1e-4)
  expect.truthy(math.abs(plain.ll - aux.ll) > 1e-3)
  expect.error(function() qv.vae.evaluate(m, x, {beta_eff = 0}) end, "beta_eff")
  -- vaekit: both figures, the auxiliary one as the headline
  local r = kit.evaluate(m, p, x, {k = 5, beta_eff = beta, logz_chains = 20, logz_temperatures = 20})
  expect.type(r.ll_aux, "number"); expect.near(r.logz_aux, exact_logz(b, w, edges, beta), 1e-4)
  expect.match(kit.summary(r), "auxiliary machine at beta_eff 0.5")
end)

test("after annealer training: summary.json, log.csv and evaluate.lua report the auxiliary machine's LL", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local res = trainer.run(tiny{prior = "chimera", sampler = "annealer", beta_eff = 0.5, beta_eff_rate = 0.05,
                               out = tmp .. "/aux", force = true})
  expect.ne(res.rows[1].beta_eff, 1)
  expect.type(res.rows[1].test_ll_aux, "number")
  local summary = json.decode(study.read_file(tmp .. "/aux/summary.json"))
  expect.eq(summary.headline, "test_ll_aux")
  expect.type(summary.test_ll_aux, "number"); expect.type(summary.test_ll, "number")
  expect.near(summary.beta_eff, res.rows[1].beta_eff, 1e-6)
  local out, code = capture(("%s %s/scripts/evaluate.lua %s/aux/checkpoint.safetensors --n 10 --k 5 --chains 20 " ..
                             "--temperatures 20"):format(qvlua, root, tmp))
  expect.eq(code, 0, out)
  expect.match(out, "auxiliary machine at beta_eff")
  expect.match(out, "at beta = 1: test LL")
  out, code = capture(("%s %s/scripts/evaluate.lua %s/aux/checkpoint.safetensors --n 10 --k 5 --chains 20 " ..
                       "--temperatures 20 --beta-eff 1"):format(qvlua, root, tmp))
  expect.eq(code, 0, out)
  expect.falsy(out:find("auxiliary", 1, true))
end)

test("the emulator's drifting temperature: an OU path shared by emulators with one drift seed", function()
  local bm = qv.bm.random(qv.graph.chimera(1, 1, 4), {seed = 2})
  local function path(o, n)
    local s = qv.sampler.annealer(o)
    local t = {}
    for i = 1, n do t[i] = s:sample(bm, 10).stats.beta_eff end
    return t
  end
  local a = path({beta_eff = 1, drift_sd = 0.2, drift_time = 5, drift_seed = 4, gauges = 1}, 30)
  local b = path({beta_eff = 1, drift_sd = 0.2, drift_time = 5, drift_seed = 4, gauges = 2}, 30)
  local c = path({beta_eff = 1, drift_sd = 0.2, drift_time = 5, drift_seed = 5, gauges = 1}, 30)
  expect.eq(a, b); expect.ne(a, c)
  expect.eq(a[1], 1)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(a) do lo, hi = math.min(lo, v), math.max(hi, v) end
  expect.truthy(hi - lo > 0.05, "the temperature moves")
  -- a resumed run continues the path
  local d = path({beta_eff = 1, drift_sd = 0.2, drift_time = 5, drift_seed = 4, gauges = 1, drift_start = 10}, 5)
  for i = 1, 5 do expect.eq(d[i], a[10 + i]) end
  -- without drift: constant
  expect.eq(path({beta_eff = 0.7}, 3), {0.7, 0.7, 0.7})
  expect.error(function() qv.sampler.annealer{drift_sd = -1} end, "bad option 'drift_sd'")
end)

test("qv.plot.lines draws min/max bands", function()
  local path = tmp .. "/band.png"
  qv.plot.lines(path, {{title = "t", series = {{name = "a", x = {1, 2, 3}, y = {1, 2, 3}, lo = {0.5, 1, 2}, hi = {2, 3, 3.5}},
                                               {name = "b", x = {1, 2, 3}, y = {3, 2, 1}}}}})
  expect.truthy(qv.exists(path))
  expect.error(function()
    qv.plot.lines(path, {{title = "t", series = {{name = "a", x = {1, 2}, y = {1, 2}, lo = {1}, hi = {1, 2}}}}})
  end, "lo and hi")
end)

test("study report helpers: bands over seeds, Markdown tables", function()
  local b = study.band({{[1] = 1, [2] = 4}, {[1] = 3, [2] = 2, [3] = 5}})
  expect.eq(b.x, {1, 2, 3}); expect.eq(b.mean, {2, 3, 5}); expect.eq(b.lo, {1, 2, 5}); expect.eq(b.hi, {3, 4, 5})
  expect.eq(b.n, {2, 2, 1})
  expect.eq(study.md_table({"a", "b"}, {{"x", 1}}), "| a | b |\n| --- | ---: |\n| x | 1 |")
end)

local has_dimod = os.execute("python3 -c 'import dimod, dwave.samplers' >/dev/null 2>&1")

test("the dimod adapter (dwave-samplers) samples a machine and drives training end to end", function()
  if not has_dimod then
    print("    (skipped: dwave-samplers is not installed here; `pip install dwave-samplers` — CI installs it)")
    return
  end
  local adapter = root .. "/scripts/samplers/dimod_sampler.py"
  local bm = qv.bm.random(qv.graph.chimera(1, 2, 3), {seed = 21, bias_scale = 0.7, weight_scale = 0.7})
  local exact = bm:exact()
  qv.seed(3)
  local s = qv.sampler.command{"python3", adapter, timeout = 120, params = {solver = "gibbs", sweeps = 50, seed = 11}}
  local samples = s:sample(bm, 4000)
  local d = 0
  for i, v in ipairs(samples:means()) do d = math.max(d, math.abs(v - exact.means[i])) end
  expect.truthy(d < 0.05, ("dimod gibbs: means off by %.3f"):format(d))
  -- simulated annealing (the default) returns low-energy reads
  local sa = qv.sampler.command{"python3", adapter, timeout = 120}:sample(bm, 100)
  expect.eq(#sa, 100)
  if not MNIST then print("    (training part skipped: no MNIST)"); return end
  local out, code = capture(("%s %s/scripts/train.lua --dataset mnist --data %s --train-n 100 --batch-size 50 " ..
    "--chains 50 --valid-n 20 --eval-n 5 --eval-k 2 --logz-chains 10 --logz-temperatures 10 --epochs 1 " ..
    "--sampler 'command:python3 %s --sweeps 20' --out %s/dimod --force"):format(qvlua, root, MNIST, adapter, tmp))
  expect.eq(code, 0, out)
  expect.match(out, "test LL")
  local summary = json.decode(study.read_file(tmp .. "/dimod/summary.json"))
  expect.match(summary.options.sampler, "^command:python3")
end)

local has_dwave_system = os.execute("python3 -c 'import dwave.system.testing, minorminer' >/dev/null 2>&1")

test("the dimod adapter's QPU path (embedding, cache, training) against dwave-system's mock QPU", function()
  if not has_dwave_system then
    print("    (skipped: dwave-system is not installed here; `pip install dwave-system` — CI installs it)")
    return
  end
  local adapter = root .. "/scripts/samplers/dimod_sampler.py"
  local cache = tmp .. "/embeddings"
  local cmd = ("command:python3 %s --solver mock-qpu --mock-topology chimera:4,4,4 --embedding-cache %s"):format(adapter, cache)
  local function cached_chains()
    local chains = {}
    for f in io.popen("ls '" .. cache .. "'"):lines() do
      chains[#chains + 1] = json.decode(study.read_file(cache .. "/" .. f))
    end
    return chains
  end
  -- qvlua's Chimera C(2,2,4) numbers its units unlike the 4x4 QPU: it is placed natively (one qubit
  -- per unit) in a 2x2 block of cells, found once and cached
  local g = qv.graph.chimera(2, 2, 4)
  local bm = qv.bm.random(g, {seed = 5, bias_scale = 0.5, weight_scale = 0.5})
  local argv = {"python3", adapter, "--solver", "mock-qpu", "--mock-topology", "chimera:4,4,4", "--embedding-cache", cache,
                timeout = 120}
  local samples = qv.sampler.command(argv):sample(bm, 30)
  expect.eq(#samples, 30)
  local files = {}
  for f in io.popen("ls '" .. cache .. "'"):lines() do files[#files + 1] = f end
  expect.eq(#files, 1, "one cached embedding")
  expect.eq(#qv.sampler.command(argv):sample(bm, 10), 10)
  local again = {}
  for f in io.popen("ls '" .. cache .. "'"):lines() do again[#again + 1] = f end
  expect.eq(again, files, "the second call reuses the cached embedding")
  local placed = cached_chains()[1]
  local qubits = {}
  for v = 0, 31 do
    local chain = placed[tostring(v)]
    expect.eq(#chain, 1, "unit " .. v .. " is one qubit")
    expect.falsy(qubits[chain[1]], "distinct qubits")
    qubits[chain[1]] = true
  end
  -- a complete graph is not a Chimera block: minorminer embeds it with chains
  qv.sampler.command(argv):sample(qv.bm.random(qv.graph.complete(6), {seed = 2}), 10)
  local longest = 0
  for _, emb in ipairs(cached_chains()) do
    for _, chain in pairs(emb) do longest = math.max(longest, #chain) end
  end
  expect.truthy(longest >= 2, "K6 needs chains on Chimera")
  local bad = qv.sampler.command{"python3", adapter, "--solver", "mock-qpu", "--mock-topology", "blah:3", timeout = 60}
  local ok, err = pcall(bad.sample, bad, bm, 5)
  expect.falsy(ok)
  expect.match(tostring(err), "mock%-topology")
  if not MNIST then print("    (training part skipped: no MNIST)"); return end
  g:save(tmp .. "/c224.txt")
  local out, code = capture(("%s %s/scripts/train.lua --dataset mnist --data %s --prior %s/c224.txt --train-n 100 " ..
    "--batch-size 50 --chains 50 --valid-n 20 --eval-n 5 --eval-k 2 --logz-chains 10 --logz-temperatures 10 " ..
    "--epochs 1 --sampler '%s' --out %s/mockqpu --force"):format(qvlua, root, MNIST, tmp, cmd, tmp))
  expect.eq(code, 0, out)
  expect.match(out, "test LL .* of the auxiliary machine at beta_eff")
end)

test("cleanup", function()
  os.execute("rm -rf '" .. tmp .. "'")
end)
