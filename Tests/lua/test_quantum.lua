-- qv.quantum, qv.sampler.pimc, qv.prior.quantum: quantum Boltzmann machines
-- against exact diagonalization, option checking, a QBM prior in a VAE.

local function machine()
  return qv.bm.random(qv.graph.chimera(1, 1, 4), {seed = 31, bias_scale = 0.6, weight_scale = 0.8})
end

local max_diff = helpers.max_diff

test("qv.quantum.exact: Γ = 0 is the classical machine; Trotter converges", function()
  local bm = machine()
  local c = bm:exact()
  local q = qv.quantum.exact(bm, {gamma = 0})
  expect.near(q.logz, c.logZ or bm:logz(), 1e-6)
  expect.truthy(max_diff(q.means, c.means) < 1e-9)
  local e = qv.quantum.exact(bm, {gamma = 1})
  expect.eq(#e.sigma_x, 8)
  for _, v in ipairs(e.sigma_x) do expect.truthy(v < 0, "<σx> < 0 for Γ > 0 (H = +Γσx)") end
  local t8 = qv.quantum.exact(bm, {gamma = 1, slices = 8})
  local t32 = qv.quantum.exact(bm, {gamma = 1, slices = 32})
  expect.truthy(math.abs(t32.logz - e.logz) < math.abs(t8.logz - e.logz) / 10)
  expect.eq(t8.sigma_x, nil)
  -- per-unit gamma
  local g = {}
  for i = 1, 8 do g[i] = 0.1 * i end
  expect.type(qv.quantum.exact(bm, {gamma = g}).logz, "number")
end)

test("qv.sampler.pimc: moments match the exact Trotter system", function()
  local bm = machine()
  local exact = qv.quantum.exact(bm, {gamma = 0.7, slices = 8})
  qv.seed(5)
  local s = qv.sampler.pimc{gamma = 0.7, slices = 8, sweeps = 0, burn_in = 200, persistent = false}
  expect.eq(s.kind, "pimc")
  expect.match(tostring(s), "pimc{gamma = 0.7, slices = 8")
  local smp = s:sample(bm, 4000)
  expect.eq(#smp, 4000)
  expect.truthy(max_diff(smp:means(), exact.means) < 0.04)
  expect.truthy(max_diff(smp:edge_means(), exact.edge_means) < 0.04)
  expect.truthy(smp.stats.sigma_x < 0)
  local all = qv.sampler.pimc{gamma = 0.7, slices = 8, all_slices = true}:sample(bm, 64)
  expect.eq(#all, 64 * 8)
  local p = qv.sampler.pimc{gamma = 0.7, slices = 8, sweeps = 2}
  p:sample(bm, 40)
  expect.eq(p.chains, 40)
  p:reset()
  expect.eq(p.chains, 0)
end)

test("qv.quantum.logz: quantum AIS agrees with diagonalization", function()
  local bm = machine()
  qv.seed(6)
  local z, err = qv.quantum.logz(bm, {gamma = 0.7, slices = 32, chains = 256, temperatures = 300})
  local exact = qv.quantum.exact(bm, {gamma = 0.7}).logz
  expect.truthy(err > 0 and err < 0.1)
  expect.truthy(math.abs(z - exact) < 5 * err + 0.005, ("%g ± %g vs %g"):format(z, err, exact))
end)

test("quantum options are checked", function()
  local bm = machine()
  expect.error(function() qv.quantum.exact(bm, {}) end, "bad option 'gamma' to 'qv.quantum.exact' (required")
  expect.error(function() qv.quantum.exact(bm, {gamma = -1}) end, "bad option 'gamma'")
  expect.error(function() qv.quantum.exact(bm, {gamma = {1, 2}}) end, "expected 1 or 8 values")
  expect.error(function() qv.quantum.exact(bm, {gamma = "x"}) end, "bad option 'gamma'")
  expect.error(function() qv.quantum.exact(bm, {gamma = 1, slices = 1}) end, "bad option 'slices'")
  expect.error(function() qv.quantum.exact("bm", {gamma = 1}) end, "bad argument #1 to 'qv.quantum.exact'")
  expect.error(function() qv.quantum.exact(qv.bm.random(qv.graph.chimera(2, 2, 4)), {gamma = 1}) end, "at most 14 units")
  expect.error(function() qv.sampler.pimc{gamma = 1, bogus = 1} end, "unknown option 'bogus'")
  expect.error(function() qv.sampler.pimc{sweeps = -1} end, "bad option 'sweeps'")
  expect.error(function() qv.quantum.logz(bm, {gamma = 1, chains = 0}) end, "bad option 'chains'")
  expect.error(function() qv.prior.quantum(qv.graph.chimera(1, 1, 4), {gamma = {1, 2}}) end, "bad option 'gamma'")
  expect.error(function() qv.prior.quantum("g") end, "bad argument #1 to 'qv.prior.quantum'")
end)

test("qv.prior.quantum: Q-ELBO prior in a VAE", function()
  qv.seed(7)
  local g = qv.graph.chimera(1, 1, 4)
  local p = qv.prior.quantum(g, {gamma = 0.5, slices = 8, samples = 200, weight_scale = 0.5})
  expect.type(p, "qv.Prior")
  expect.eq(p.kind, "quantum")
  expect.match(tostring(p), "quantum Γ 0.5")
  expect.error(function() p:logz_tensor() end, "negative_phase: is required")
  local ph = p:negative_phase()
  expect.type(ph, "qv.NegativePhase")
  expect.eq(ph.samples, 200)
  expect.truthy(ph.stats.sigma_x < 0)
  expect.error(function() p:negative_phase{beta_eff_rate = 0.1} end, "does not track β_eff")
  local lz = p:logz_tensor(ph)
  local exact = qv.quantum.exact(p:machine(), {gamma = 0.5}).logz
  expect.near(lz:item(), exact, 1e-4)
  expect.near((p:logz()), exact, 1e-6)
  lz:backward()
  expect.truthy(p.bias.grad and p.weights.grad)
  expect.truthy(p.stats.logZ_source == 1)
  local s = p:sample(5)
  expect.eq(s:size(), {5, 8})
  local m = qv.vae.dense{prior = p, grouping = "bipartite", encoder_hidden = {16}, decoder_hidden = {16}}
  local x = qv.rand(4, 784):bernoulli()
  local out = m:loss(x, {negative_phase = p:negative_phase()})
  out.loss:backward()
  expect.truthy(m:named_parameters()["prior.bias"].grad)
end)

test("qv.sampler.sqa: the example schedule, Eq. 17 parameters, option errors", function()
  local root = qv.root or "."
  local path = root .. "/docs/schedules/example_schedule.csv"
  local s = qv.sampler.sqa{schedule = path, temperature = 0.25, freeze_out = 0.6, steps = 20, slices = 4}
  expect.eq(s.kind, "sqa")
  qv.seed(3)
  local smp = s:sample(machine(), 64)
  expect.eq(#smp, 64)
  expect.near(smp.stats.beta_eff, 2.80 / 0.25, 1e-9)
  expect.near(smp.stats.gamma, 0.62 / 0.25, 1e-9)
  expect.error(function() qv.sampler.sqa{temperature = 1} end, "bad option 'schedule'")
  expect.error(function() qv.sampler.sqa{schedule = "/nonexistent.csv", temperature = 1} end, "cannot read")
  expect.error(function() qv.sampler.sqa{schedule = path} end, "bad option 'temperature'")
  expect.error(function() qv.sampler.sqa{schedule = path, temperature = 1, freeze_out = 2} end, "bad option 'freeze_out'")
end)

test("per-unit Γ, samples setting, and β_eff tracking with the SQA emulator", function()
  qv.seed(9)
  local g = qv.graph.chimera(1, 1, 4)
  local gam = {}
  for i = 1, 8 do gam[i] = 0.25 * i end
  local p = qv.prior.quantum(g, {gamma = gam, slices = 4, samples = 64})
  expect.match(tostring(p), "quantum Γ per unit")
  expect.eq(p.samples, 64)
  p.samples = 32
  expect.eq(p.samples, 32)
  expect.error(function() p:logz{method = "pa"} end, "bad option 'method'")
  -- a classical prior whose negative phase comes from the SQA emulator, tracking β_eff (Eq. C3)
  local root = qv.root or "."
  local sqa = qv.sampler.sqa{schedule = root .. "/docs/schedules/example_schedule.csv", temperature = 2,
                             freeze_out = 0.8, steps = 10, slices = 4}
  local c = qv.prior.new(g, {sampler = sqa, samples = 64, weight_scale = 0.5, beta_eff_rate = 0.01})
  for _ = 1, 3 do c:logz_tensor(c:negative_phase()) end
  expect.truthy(c.beta_eff ~= 1, "beta_eff moved")
end)

test("oversized path integrals are errors, not allocation failures", function()
  local big = qv.bm.random(qv.graph.chimera(6))
  expect.error(function() qv.sampler.pimc{gamma = 1, slices = 1024}:sample(big, 10000) end, "too many spins")
  expect.error(function() qv.quantum.logz(big, {gamma = 1, slices = 1024, chains = 100000}) end, "too many spins")
end)

test("sampler and prior settings are checked by the model, named as options", function()
  expect.error(function() qv.sampler.pimc{slices = 1} end, "bad option 'slices' to 'qv.sampler.pimc'")
  expect.error(function() qv.sampler.pimc{burn_in = -1} end, "bad option 'burn_in'")
  local path = (qv.root or ".") .. "/docs/schedules/example_schedule.csv"
  expect.error(function() qv.sampler.sqa{schedule = path, temperature = 1, pause_sweeps = -2} end, "bad option 'pause_sweeps'")
  expect.error(function() qv.sampler.sqa{schedule = path, temperature = -1} end, "bad option 'temperature'")
  local g = qv.graph.chimera(1, 1, 4)
  expect.error(function() qv.prior.quantum(g, {slices = 2000}) end, "bad option 'slices' to 'qv.prior.quantum'")
  expect.error(function() qv.prior.quantum(g, {sweeps = 0}) end, "bad option 'sweeps'")
  expect.error(function() qv.prior.quantum(g, {weight_scale = -1}) end, "bad option 'weight_scale'")
end)

test("p.sweeps: the PIMC sweeps per negative phase (a training schedule sets it)", function()
  local p = qv.prior.quantum(qv.graph.chimera(1, 1, 4), {sweeps = 7, samples = 32, slices = 4})
  expect.eq(p.sweeps, 7)
  p.sweeps = 3
  expect.eq(p.sweeps, 3)
  expect.match(tostring(p), "sweeps = 3")
  expect.error(function() p.sweeps = 0 end, "must be in 1..1000000")
end)

test("p.samples: chains whose paths do not fit in memory are an error, not an abort", function()
  local g = qv.graph.chimera(6)
  local p = qv.prior.quantum(g, {gamma = 1, slices = 16, samples = 10})
  expect.error(function() p.samples = 10000000 end, "cannot allocate")
  expect.error(function() p.samples = 10000000 end, "chains of 288 units × 16 slices")
  expect.eq(p.samples, 10, "a refused count changes nothing")
  expect.error(function() qv.prior.quantum(g, {gamma = 1, slices = 1024, samples = 10000000}) end,
               "bad option 'samples' to 'qv.prior.quantum' %(cannot allocate")
  p.samples = 20
  expect.eq(p.samples, 20)
end)

--- Copies every parameter of model `from` into model `to` (same names).
local function copy_parameters(to, from)
  local src = from:named_parameters()
  qv.no_grad(function()
    for name, t in pairs(to:named_parameters()) do t:copy_(assert(src[name], name)) end
  end)
end

test("a small quantum prior's evaluation: exact log p(x) with the true p(z) beside the Q-ELBO bound", function()
  local g = qv.graph.chimera(1, 1, 4)
  local nets = {grouping = "bipartite", encoder_hidden = {16}, decoder_hidden = {16}}
  local function vae(prior) nets.prior = prior; return qv.vae.dense(nets) end
  qv.seed(11)
  local x = qv.rand(6, 784):bernoulli()
  local p = qv.prior.quantum(g, {gamma = 1, slices = 4, samples = 16, weight_scale = 1, bias = 0.3})
  local m = vae(p)
  qv.seed(12)
  local r = qv.vae.evaluate(m, x, {k = 40})
  expect.type(r.ll_exact, "number")
  expect.type(r.ll_exact_se, "number")
  -- the same samples with p(z) >= p~(z) for every z (Eq. 15): every image's exact L_K is above its bound
  expect.truthy(r.ll_exact > r.ll + 1e-3, ("exact %g vs bound %g"):format(r.ll_exact, r.ll))
  expect.near(r.logz, qv.quantum.exact(p:machine(), {gamma = 1}).logz, 1e-6)
  expect.match(require("vaekit").summary(r), "with the true p%(z%)")
  -- one diagonalization per parameter set, shared by log Z and p(z): changed parameters are diagonalized again
  local before = p:logz()
  qv.no_grad(function() p.bias:add_(0.5) end)
  expect.near(p:logz(), qv.quantum.exact(p:machine(), {gamma = 1}).logz, 1e-9)
  expect.truthy(math.abs(p:logz() - before) > 0.1)
  qv.no_grad(function() p.bias:add_(-0.5) end)
  -- Γ = 0: the exact LL is the bound, and both are the classical exact prior's LL (same b, W, networks, samples)
  local p0 = qv.prior.quantum(g, {gamma = 0, slices = 4, samples = 16})
  local m0 = vae(p0)
  copy_parameters(m0, m)
  local c = qv.prior.exact(g)
  local mc = vae(c)
  copy_parameters(mc, m)
  qv.seed(13)
  local r0 = qv.vae.evaluate(m0, x, {k = 40})
  qv.seed(13)
  local rc = qv.vae.evaluate(mc, x, {k = 40})
  expect.near(r0.logz, rc.logz, 1e-5)
  expect.near(r0.ll_exact, r0.ll, 1e-4)
  expect.near(r0.ll, rc.ll, 1e-4)
  expect.near(r0.elbo, rc.elbo, 1e-4)
  expect.truthy(math.abs(r0.ll - r.ll) > 1e-2, "Γ changes the bound")
  expect.eq(rc.ll_exact, nil)
  -- too large to diagonalize: no exact LL
  local big = vae(qv.prior.quantum(qv.graph.chimera(2, 1, 4), {gamma = 1, slices = 4, samples = 16}))
  expect.eq(qv.vae.evaluate(big, x, {k = 2, logz = 0}).ll_exact, nil)
end)

--- The mean of an array of numbers.
local function mean(a)
  local s = 0
  for _, v in ipairs(a) do s = s + v end
  return s / #a
end

test("qv.sampler.ctpimc: continuous-time PIMC matches exact diagonalization (no Trotter error)", function()
  local bm = machine()
  for _, gam in ipairs{0.3, 1.5} do
    local exact = qv.quantum.exact(bm, {gamma = gam})
    qv.seed(21)
    local s = qv.sampler.ctpimc{gamma = gam, sweeps = 0, burn_in = 60, persistent = false}
    expect.eq(s.kind, "ctpimc")
    local smp = s:sample(bm, 3000)
    expect.eq(#smp, 3000)
    expect.truthy(max_diff(smp:means(), exact.means) < 0.04, ("Γ = %g: means"):format(gam))
    expect.truthy(max_diff(smp:edge_means(), exact.edge_means) < 0.04, ("Γ = %g: edge means"):format(gam))
    expect.near(smp.stats.sigma_x, mean(exact.sigma_x), 0.03)
    expect.truthy(smp.stats.kinks > 0)
  end
  -- where a 2-slice Trotter system is visibly off, the continuous-time sampler is not
  local gam = 2
  local exact, t2 = qv.quantum.exact(bm, {gamma = gam}), qv.quantum.exact(bm, {gamma = gam, slices = 2})
  expect.truthy(max_diff(t2.means, exact.means) > 0.05, "the Trotter error at M = 2 is visible")
  qv.seed(22)
  local smp = qv.sampler.ctpimc{gamma = gam, sweeps = 0, burn_in = 60, persistent = false}:sample(bm, 3000)
  expect.truthy(max_diff(smp:means(), exact.means) < 0.04)
  -- Γ = 0: the classical heat bath, no kinks
  qv.seed(23)
  local c = qv.sampler.ctpimc{gamma = 0, sweeps = 0, burn_in = 60, persistent = false}:sample(bm, 3000)
  expect.truthy(max_diff(c:means(), bm:exact().means) < 0.04)
  expect.eq(c.stats.kinks, 0)
  -- per-unit Γ, persistent chains
  local g = {}
  for i = 1, 8 do g[i] = 0.2 * i end
  local p = qv.sampler.ctpimc{gamma = g, sweeps = 5}
  p:sample(bm, 30)
  expect.eq(p.chains, 30)
  p:reset()
  expect.eq(p.chains, 0)
  expect.error(function() qv.sampler.ctpimc{gamma = 20000} end, "bad option 'gamma' to 'qv.sampler.ctpimc'")
  expect.error(function() qv.sampler.ctpimc{gamma = -1} end, "bad option 'gamma'")
  expect.error(function() qv.sampler.ctpimc{slices = 4} end, "unknown option 'slices'")
  expect.error(function() qv.sampler.ctpimc{gamma = {1, 2}}:sample(bm, 4) end, "gamma has 2 entries")
end)
