-- qv.prior, qv.vae and qv.nn: the bindings train.lua is built on.

local function chimera_prior(o)
  o = o or {}
  return qv.prior.new(qv.graph.chimera(2, 2, 4), {samples = o.samples or 64, weight_scale = o.weight_scale})
end

local function images(n) return qv.rand(n, 784):bernoulli() end

test("qv.prior.new: parameters, fields, clamp, tostring", function()
  qv.seed(1)
  local g = qv.graph.chimera(2, 2, 4)
  local s = qv.sampler.gibbs{sweeps = 5, burn_in = 20}
  local p = qv.prior.new(g, {sampler = s, samples = 32, weight_scale = 0.5, bias = 0.25})
  expect.type(p, "qv.Prior")
  expect.truthy(rawequal(p.graph, g))
  expect.truthy(rawequal(p.sampler, s))
  expect.eq(p.units, 32); expect.eq(#p, 32)
  expect.eq(p.kind, "boltzmann")
  expect.eq(p.samples, 32)
  expect.eq(p.bias:size(), {32})
  expect.eq(p.weights:size(), {g.edges})
  expect.truthy(p.bias.requires_grad)
  expect.near(p.bias:mean():item(), 0.25)
  expect.truthy(p.weights:abs():max():item() > 0.3)
  p:clamp{weights = 0.1, bias = 0.2}
  expect.truthy(p.weights:abs():max():item() <= 0.1 + 1e-7)
  expect.near(p.bias:max():item(), 0.2)
  expect.match(tostring(p), "^qv.Prior on Chimera C%(2,2,4%): 32 units, %d+ couplings")
  p.beta_eff = 2
  expect.eq(p.beta_eff, 2)
  p.samples = 10
  expect.eq(p.samples, 10)
  expect.error(function() p:clamp{weights = -1} end, "bad option 'weights'")
  expect.error(function() p:clamp{nope = 1} end, "unknown option 'nope'")
  expect.error(function() qv.prior.new(g, {samples = 0}) end, "samples")
  expect.error(function() qv.prior.new("chimera") end, "expected qv.Graph")
end)

test("prior:logz agrees with the exact value; machine, sample, energy", function()
  qv.seed(2)
  local p = qv.prior.new(qv.graph.chimera(1, 1, 4), {weight_scale = 0.5})   -- 8 units: exact by enumeration
  local exact = p:machine():exact().logZ
  local z, err = p:logz{method = "exact"}
  expect.near(z, exact, 1e-5); expect.eq(err, 0)
  local big = qv.prior.new(qv.graph.chimera(3, 3, 4), {weight_scale = 0.3})  -- 72 units
  local m = big:machine()
  expect.type(m, "qv.BM")
  local ais, ais_err = big:logz{method = "ais", chains = 200, temperatures = 200}
  local pa, pa_err = big:logz{method = "pa", replicas = 800, temperatures = 200}
  expect.truthy(math.abs(ais - pa) < 5 * (ais_err + pa_err) + 0.05, ("ais %g ± %g, pa %g ± %g"):format(ais, ais_err, pa, pa_err))
  expect.truthy(tostring(big):find("log Z", 1, true))
  expect.error(function() big:logz{method = "pa", chains = 10} end, "chains")
  expect.error(function() big:logz{method = "exact"} end, "at most")
  local s = big:sample(7)
  expect.eq(s:size(), {7, 72})
  expect.truthy(s:eq(0):add(s:eq(1)):all_finite())
  expect.eq(big:sample(5, qv.sampler.sa{sweeps = 20}):size(), {5, 72})
  -- energy is H(z) and differentiable
  local zz = qv.rand(3, 72):bernoulli()
  local e = big:energy(zz)
  local h = m:energy(zz:totable())
  for i = 1, 3 do expect.near(e[i], h[i], 1e-4) end
  e:sum():backward()
  expect.truthy(big.bias.grad:equal(zz:sum(1)))
  -- log Z tensor: gradient is minus the model's means (negative phase)
  big.bias.grad = nil
  big:logz_tensor(big:negative_phase()):backward()
  expect.eq(big.bias.grad:size(), {72})
  expect.truthy(big.bias.grad:max():item() <= 0)
end)

test("qv.prior.exact and update_beta_eff", function()
  qv.seed(3)
  local g = qv.graph.chimera(1, 1, 4)
  local p = qv.prior.exact(g, {weight_scale = 0.3, bias_scale = 0.3})
  expect.eq(p.kind, "exact")
  local z = p:logz()
  expect.near(z, p:machine():exact().logZ, 1e-4)
  expect.eq(p:sample(4):size(), {4, 8})
  expect.error(function() p:update_beta_eff(p:sample(10), 0.1) end, "exact prior")
  local b = qv.prior.new(qv.graph.chimera(2, 2, 4), {weight_scale = 0.5})
  local beta = b:update_beta_eff(b:sample(200), 0.01)
  expect.truthy(math.abs(beta - 1) < 0.5)
  expect.eq(b.beta_eff, beta)
  local samples = qv.sampler.gibbs{sweeps = 10}:sample(b:machine(), 50)
  expect.type(b:update_beta_eff(samples, 0.01), "number")
end)

test("beta_eff_rate: every negative phase from an annealer moves beta_eff to the annealer's beta (Eq. C3)", function()
  qv.seed(11)
  local p = qv.prior.new(qv.graph.chimera(2, 2, 4), {weight_scale = 1, bias = 0.5, samples = 500,
                                                     sampler = qv.sampler.annealer{beta_eff = 0.5}, beta_eff_rate = 0.02})
  expect.eq(p.beta_eff, 1)
  local ph
  for _ = 1, 100 do ph = p:negative_phase() end
  expect.near(p.beta_eff, 0.5, 0.05)
  expect.eq(ph.beta_eff, p.beta_eff)
  expect.truthy(ph.drawn_at_beta_eff ~= ph.beta_eff)
  local b = p.beta_eff
  p:logz_tensor(ph):backward()                       -- the loss side changes nothing
  qv.no_grad(function() p:logz_tensor() end)
  expect.eq(p.beta_eff, b)
  expect.near(p.stats.beta_eff, b, 1e-6)
  -- an explicit rate overrides the prior's; 0 means no update
  p:negative_phase{beta_eff_rate = 0}
  expect.eq(p.beta_eff, b)
  -- without a rate, beta_eff stays put
  local q = qv.prior.new(qv.graph.chimera(2, 2, 4), {sampler = qv.sampler.annealer{beta_eff = 0.5}})
  for _ = 1, 5 do q:negative_phase() end
  expect.eq(q.beta_eff, 1)
  expect.error(function() q:negative_phase{beta_eff_rate = -1} end, "bad option 'beta_eff_rate'")
end)

test("qv.vae.dense: loss parts, backward into every parameter, K and D", function()
  qv.seed(4)
  local p = chimera_prior()
  local m = qv.vae.dense{prior = p, encoder_hidden = {64}, decoder_hidden = {64}}
  expect.type(m, "qv.VAE")
  expect.truthy(rawequal(m.prior, p))
  expect.eq(m.grouping, "chains")
  expect.eq(m.units, 32)
  expect.eq(m.config.arch, "dense")
  expect.eq(m.config.encoder_hidden, "64")
  expect.match(tostring(m), "^qv.VAE dense 784%-64 | 32%-64%-784")
  local x = images(6)
  local out = m:loss(x, {k = 2, d = 3, kl = 0.5, tau = 0.2, negative_phase = p:negative_phase()})
  expect.type(out.loss, "qv.Tensor")
  expect.eq(out.loss:dim(), 0)
  expect.near(out.bound, -out.loss:item(), 1e-5)
  expect.near(out.kl, out.logq + out.energy + out.logz, 1e-6)
  expect.near(out.elbo, -out.recon - out.kl, 1e-6)
  expect.eq(out.k, 2); expect.eq(out.d, 3)
  m:zero_grad()
  out.loss:backward()
  local names = m:parameter_names()
  local named = m:named_parameters()
  expect.eq(#names, #m:parameters())
  for i, name in ipairs(names) do
    expect.truthy(rawequal(named[name], m:parameters()[i]), name)
    expect.truthy(named[name].grad, "no gradient for " .. name)
  end
  expect.truthy(named["prior.bias"] and named["prior.weights"])
  expect.error(function() m:loss(qv.rand(2, 10)) end, "expected images [B, 784]")
  expect.error(function() m:loss(x, {k = 0}) end, "bad option 'k'")
  expect.error(function() m:loss(x, {tau = 0}) end, "bad option 'tau'")
  expect.error(function() m:loss(x, {beta = 1}) end, "unknown option 'beta'")
  expect.error(function() m:loss(x) end, "bad option 'negative_phase' to 'qv.VAE:loss' (is required")
  expect.error(function() m:loss(x, {kl = -1}) end, "bad option 'kl'")
  qv.no_grad(function() m:loss(x) end)              -- no gradient, no phase needed
  expect.error(function() qv.vae.dense{} end, "prior is required")
  expect.error(function() qv.vae.dense{prior = qv.prior.new(qv.graph.bernoulli(8)), grouping = "chains"} end,
               "no grouping")
end)

test("a few Adam steps lower the loss", function()
  qv.seed(5)
  local p = chimera_prior()
  local m = qv.vae.dense{prior = p, encoder_hidden = {64}, decoder_hidden = {64}}
  local x = images(20)
  local opt = qv.optim.adam(m:parameters(), {lr = 3e-3})
  local first, last
  for i = 1, 25 do
    local ph = p:negative_phase()
    local out = m:loss(x, {negative_phase = ph})
    opt:zero_grad(); out.loss:backward(); opt:step()
    p:clamp{weights = 1}
    first = first or out.loss:item()
    last = out.loss:item()
  end
  expect.truthy(last < first - 20, ("loss %g -> %g"):format(first, last))
end)

test("state round trip restores a model exactly, prior chains and stream included", function()
  qv.seed(6)
  local function make()
    local p = qv.prior.new(qv.graph.chimera(2, 2, 4), {samples = 16})
    return qv.vae.dense{prior = p, encoder_hidden = {32}, decoder_hidden = {32}}
  end
  local a = make()
  local x = images(4)
  local opt = qv.optim.adam(a:parameters(), {lr = 1e-2})
  local function loss(m) return m:loss(x, {negative_phase = m.prior:negative_phase()}) end
  for _ = 1, 3 do local o = loss(a); opt:zero_grad(); o.loss:backward(); opt:step() end
  local path = os.tmpname()
  local state = a:state()
  expect.truthy(state["prior.chains"] and state["prior.rng"] and state["prior.logz_cache"])
  expect.eq(state["prior.chains"]:size(), {16, 32})
  qv.save(path, state)
  local rng = qv.rng_state()
  local b = make()
  b:load_state((qv.load(path)))
  os.remove(path)
  -- Same parameters, and the same next step (negative phase from the same chains and stream).
  for name, t in pairs(a:named_parameters()) do expect.truthy(t:equal(b:named_parameters()[name]), name) end
  a:zero_grad()
  qv.set_rng_state(rng)
  local la = loss(a); la.loss:backward()
  qv.set_rng_state(rng)
  local lb = loss(b); lb.loss:backward()
  expect.eq(la.loss:item(), lb.loss:item())
  expect.truthy(a.prior.weights.grad:equal(b.prior.weights.grad), "negative phase differs")
  -- strict loading names the tensor
  local st = a:state()
  st["decoder.0.weight"] = nil
  expect.error(function() b:load_state(st) end, "missing tensor 'decoder.0.weight'")
  b:load_state(st, {strict = false})
  st = a:state(); st.extra = qv.zeros(1)
  expect.error(function() b:load_state(st) end, "unexpected tensor 'extra'")
  st = a:state(); st["prior.bias"] = qv.zeros(3)
  expect.error(function() b:load_state(st) end, "'prior.bias' has shape")
end)

test("train/eval modes, generate, reconstruct, encode/decode, decode_chain", function()
  qv.seed(7)
  local p = chimera_prior()
  local m = qv.vae.dense{prior = p, encoder_hidden = {32}, decoder_hidden = {32}}
  expect.truthy(m.training)
  expect.truthy(rawequal(m:eval(), m))
  expect.falsy(m.training)
  m:train()
  expect.truthy(m.training)
  local probs, z = m:generate(5)
  expect.eq(probs:size(), {5, 784}); expect.eq(z:size(), {5, 32})
  expect.truthy(probs:min():item() >= 0 and probs:max():item() <= 1)
  expect.truthy(m.training, "generate restores the mode")
  local x = images(3)
  expect.eq(m:reconstruct(x):size(), {3, 784})
  local zz, logits = m:encode(x, {samples = 2})
  expect.eq(zz:size(), {6, 32}); expect.eq(logits:size(), {6, 32})
  expect.truthy(zz:eq(0):add(zz:eq(1)):min():item() == 1, "hard samples are 0/1")
  local soft = m:encode(x, {tau = 0.5})
  expect.truthy(soft:gt(0):mul(soft:lt(1)):sum():item() > 0)
  expect.eq(m:decode(zz):size(), {6, 784})
  local frames, states = m:decode_chain(6, {sweeps = 2, burn_in = 10})
  expect.eq(frames:size(), {6, 784}); expect.eq(states:size(), {6, 32})
  expect.error(function() m:decode_chain(0) end, "n")
  expect.match(m:describe(), "HierarchicalEncoder")
  expect.match(tostring(m.decoder), "Linear%(32 %-> 32%)")
end)

test("qv.vae.evaluate: LL, ELBO, active units; restores the mode", function()
  qv.seed(8)
  local p = chimera_prior()
  local m = qv.vae.dense{prior = p, encoder_hidden = {32}, decoder_hidden = {32}}
  local x = images(12)
  local logz, err = p:logz{chains = 100, temperatures = 100}
  local r = qv.vae.evaluate(m, x, {k = 20, logz = logz, logz_err = err, batch = 5})
  for _, key in ipairs{"ll", "ll_se", "elbo", "recon", "logq", "energy", "kl", "logz", "logz_err", "active", "n", "k"} do
    expect.truthy(r[key] ~= nil, key)
  end
  expect.eq(r.n, 12); expect.eq(r.k, 20); expect.eq(r.logz, logz)
  expect.near(r.elbo, -r.recon - r.kl, 1e-6)
  expect.truthy(r.ll >= r.elbo - 5, "L_K is (nearly) above the ELBO")
  expect.eq(r.variances:size(), {32})
  expect.eq(r.active, r.variances:gt(0.01):sum():item())
  expect.truthy(m.training)
  m:eval()
  qv.vae.evaluate(m, x, {k = 2, logz = logz})
  expect.falsy(m.training)
  -- exact prior: log Z estimated when not given
  local e = qv.prior.exact(qv.graph.chimera(1, 1, 4))
  local me = qv.vae.dense{prior = e, grouping = "bipartite", encoder_hidden = {16}, decoder_hidden = {16}}
  local re = qv.vae.evaluate(me, x, {k = 5})
  expect.near(re.logz, e:logz(), 1e-6)
  expect.error(function() qv.vae.evaluate(m, x, {k = 0}) end, "bad option 'k'")
  expect.error(function() qv.vae.evaluate(m, x, {logz = 0 / 0}) end, "logz")
end)

test("custom grouping and from_config", function()
  qv.seed(9)
  local p = chimera_prior()
  local odd, even = {}, {}
  for u = 1, 32 do if u % 2 == 1 then odd[#odd + 1] = u else even[#even + 1] = u end end
  local m = qv.vae.dense{prior = p, grouping = {odd, even}, encoder_hidden = {16}, decoder_hidden = {16}}
  expect.eq(m.grouping, "custom")
  expect.eq(m.groups, {odd, even})
  local r = qv.vae.from_config(m.config, p)
  expect.eq(r.config, m.config)
  expect.eq(r:parameter_names(), m:parameter_names())
  r:load_state(m:state())
  local function value(model) return qv.no_grad(function() return model:loss(images(2)).loss:item() end) end
  qv.seed(1); local a = value(m)
  qv.seed(1); local b = value(r)
  expect.eq(a, b)
  expect.error(function() qv.vae.dense{prior = p, grouping = {odd}} end, "cover")
  expect.error(function() qv.vae.from_config(m.config, qv.prior.new(qv.graph.chimera(1, 1, 4))) end, "prior")
end)

test("qv.nn layers: forward, call, parameters, modes, tostring", function()
  qv.seed(10)
  local lin = qv.nn.linear(4, 3)
  expect.type(lin, "qv.nn.Module")
  expect.eq(lin.kind, "Linear")
  expect.eq(lin.weight:size(), {3, 4}); expect.eq(lin.bias:size(), {3})
  local x = qv.randn(2, 4)
  local y = lin(x)
  expect.truthy(y:allclose(x:matmul(lin.weight:t()) + lin.bias, 1e-5, 1e-6))
  expect.truthy(lin:forward(x):equal(y))
  expect.eq(#lin:parameters(), 2)
  expect.eq(#qv.nn.linear(4, 3, {bias = false}):parameters(), 1)
  local net = qv.nn.sequential{qv.nn.linear(4, 8), qv.nn.relu(), qv.nn.dropout(0.5), qv.nn.linear(8, 2), qv.nn.sigmoid()}
  expect.eq(#net, 5)
  expect.eq(net[1].kind, "Linear"); expect.eq(net[2].kind, "ReLU")
  expect.eq(net:parameter_names(), {"0.weight", "0.bias", "3.weight", "3.bias"})
  expect.eq(net(x):size(), {2, 2})
  net:eval()
  expect.falsy(net[3].training)
  expect.truthy(net(x):equal(net(x)), "dropout is off in evaluation mode")
  net:train()
  net:add(qv.nn.tanh())
  expect.eq(#net, 6)
  expect.match(tostring(net), "Sequential%(\n  %(1%): Linear%(4 %-> 8%)")
  -- convolutions, batch norm, gated blocks, reshape, flatten
  local conv = qv.nn.sequential{qv.nn.reshape(-1, 1, 28, 28), qv.nn.conv2d(1, 4, 3, {stride = 2, padding = 1}),
                                qv.nn.batch_norm(4), qv.nn.relu(), qv.nn.gated_conv(4, 2, 3), qv.nn.flatten()}
  local h = conv(qv.rand(3, 784))
  expect.eq(h:size(), {3, 2 * 12 * 12})
  expect.truthy(conv[3].running_mean, "buffers read as fields")
  local st = conv:state()
  expect.truthy(st["2.running_var"])
  local deconv = qv.nn.sequential{qv.nn.reshape(-1, 2, 4, 4), qv.nn.conv_transpose2d(2, 3, 3, {stride = 2}),
                                  qv.nn.gated_conv_transpose(3, 1, 2, {relu = false, dropout = 0})}
  expect.eq(deconv(qv.rand(2, 32)):size(), {2, 1, 10, 10})
  -- backward reaches the parameters
  local loss = lin(x):pow(2):sum()
  loss:backward()
  expect.truthy(lin.weight.grad)
  lin:zero_grad()
  expect.falsy(lin.weight.grad)
  -- lambda layers and errors
  local double = qv.nn.lambda(function(t) return t:mul(2) end, "double")
  expect.truthy(double(x):equal(x:mul(2)))
  expect.match(tostring(double), "Lambda%(double%)")
  expect.error(function() qv.nn.lambda(function() return 1 end)(x) end, "must return a qv.Tensor")
  expect.error(function() qv.nn.linear(0, 3) end, "bad argument #1 to 'qv.nn.linear'")
  expect.error(function() qv.nn.dropout(1) end, "[0, 1)")
  expect.error(function() qv.nn.conv2d(1, 2, 3, {strid = 1}) end, "unknown option 'strid'")
  expect.error(function() lin(qv.randn(2, 5)) end, "qv.nn.Module")
  expect.error(function() qv.nn.sequential{lin, 3} end, "qv.nn.Module")
end)

test("qv.vae.new builds a VAE from qv.nn networks", function()
  qv.seed(11)
  local p = chimera_prior()
  local trunk = qv.nn.sequential{qv.nn.linear(784, 48), qv.nn.relu()}
  local dec = qv.nn.sequential{qv.nn.linear(32, 48), qv.nn.relu(), qv.nn.dropout(0.1), qv.nn.linear(48, 784)}
  local m = qv.vae.new{trunk = trunk, decoder = dec, prior = p}
  expect.eq(m.config.arch, "custom")
  expect.eq(m.config.trunk_features, "48")
  expect.truthy(rawequal(m.decoder[1].weight, dec[1].weight), "the model uses the given layers")
  local out = m:loss(images(4), {k = 2, negative_phase = p:negative_phase()})
  out.loss:backward()
  expect.truthy(trunk[1].weight.grad)
  expect.truthy(m:named_parameters()["encoder.heads.1.weight"])
  expect.error(function() qv.vae.new{trunk = trunk, decoder = dec, prior = p, trunk_features = 10} end, "trunk_features")
  expect.error(function() qv.vae.new{trunk = trunk, decoder = qv.nn.linear(32, 10), prior = p} end, "bad option 'decoder' to 'qv.vae.new' (must map latents")
  expect.error(function() qv.vae.new{trunk = qv.nn.linear(10, 5), decoder = dec, prior = p} end, "trunk")
  expect.error(function() qv.vae.from_config(m.config, p) end, "bad argument #1 to 'qv.vae.from_config' (config: a VAE built from custom networks")
end)

test("every qv.prior, qv.vae and qv.nn function and method is documented", function()
  local function check(t, prefix)
    for k, v in pairs(t) do
      if type(v) == "function" then
        local doc = qv.doc(v)
        expect.truthy(doc and #doc > 10, "no docstring for " .. prefix .. k)
      end
    end
  end
  for _, mod in ipairs{{qv.prior, "qv.prior."}, {qv.vae, "qv.vae."}, {qv.nn, "qv.nn."},
                       {qv.Prior, "qv.Prior:"}, {qv.VAE, "qv.VAE:"}} do
    check(mod[1], mod[2])
  end
end)

test("docs/VAE.md examples run", function()
  local root = qv.root or ((arg and arg[0] or ""):match("^(.*)/Tests/lua/[^/]*$") or ".")
  local f = assert(io.open(root .. "/docs/VAE.md"))
  local text = f:read("a")
  f:close()
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end
  expect.eq(#blocks, 3)
  local printed = {}
  local function show(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    printed[#printed + 1] = table.concat(parts, "\t")
  end
  local env = setmetatable({print = show}, {__index = _G})
  assert(load(table.concat(blocks, "\n"), "=docs/VAE.md", "t", env))()
  expect.match(printed[1], "^qv.Prior on Chimera")
  expect.match(printed[2], "^LL %-?%d")
  expect.match(printed[3], "^Sequential%(")
end)

test("a prior whose negative phase comes from a Lua sampler", function()
  qv.seed(12)
  local calls = 0
  local s = qv.sampler.lua(function(bm, n)
    calls = calls + 1
    local rows = {}
    for i = 1, n do
      local z = {}
      for l = 1, bm.units do z[l] = qv.rand() < 0.5 and 1 or 0 end
      rows[i] = z
    end
    return rows
  end, {name = "coin flips"})
  local p = qv.prior.new(qv.graph.chimera(1, 1, 4), {sampler = s, samples = 40})
  expect.truthy(rawequal(p.sampler, s))
  local m = qv.vae.dense{prior = p, encoder_hidden = {16}, decoder_hidden = {16}}
  local ph = p:negative_phase()
  expect.eq(calls, 1)
  local out = m:loss(images(3), {negative_phase = ph})
  out.loss:backward()
  expect.eq(calls, 1)
  expect.eq(p.bias.grad:size(), {8})
  local bad = qv.prior.new(qv.graph.chimera(1, 1, 4), {sampler = qv.sampler.lua(function() return {} end)})
  expect.error(function() bad:negative_phase() end, "must return a table of")
end)

test("p:sample(n, sampler) gives equally weighted samples (AIS, PA, a Lua sampler) matching enumeration", function()
  qv.seed(2)
  local p = qv.prior.exact(qv.graph.chimera(1, 1, 4), {weight_scale = 3, bias_scale = 1})
  local ex = p:machine():exact()
  local function worst(z)
    local m, w = z:mean(1), 0
    for l = 1, 8 do w = math.max(w, math.abs(m[l] - ex.means[l])) end
    return w
  end
  local ais = qv.sampler.ais{temperatures = 10}
  expect.truthy(worst(qv.tensor(ais:sample(p:machine(), 10000):totable())) > 0.08,
                "the raw AIS samples are importance-weighted (a test that can fail)")
  for _, s in ipairs{ais, qv.sampler.pa{temperatures = 20}} do
    local z = p:sample(10000, s)
    expect.eq(z:size(), {10000, 8})
    expect.truthy(worst(z) < 0.04, tostring(s) .. ": " .. worst(z))
  end
  -- a Lua sampler's samples come back as they are (equally weighted)
  local rows = {}
  for i = 1, 4 do rows[i] = {1, 0, 1, 0, 1, 0, 1, 0} end
  local z = p:sample(4, qv.sampler.lua(function(bm, n) return rows end))
  expect.eq(z:totable(), rows)
  expect.error(function() p:sample(3, qv.sampler.lua(function() return rows end)) end, "must return a table of 3 rows")
end)

test("a forward pass (loss with and without no_grad, evaluate) changes no prior state", function()
  qv.seed(13)
  local p = qv.prior.new(qv.graph.chimera(2, 2, 4), {samples = 32, beta_eff_rate = 0.01,
                                                     sampler = qv.sampler.annealer{beta_eff = 0.5}})
  local m = qv.vae.dense{prior = p, encoder_hidden = {16}, decoder_hidden = {16}}
  local x = images(4)
  local ph = p:negative_phase()
  expect.type(ph, "qv.NegativePhase")
  expect.match(tostring(ph), "^qv.NegativePhase: 32 samples, mean energy")
  expect.eq(ph.samples, 32); expect.falsy(ph.exact)
  expect.type(ph.mean_energy, "number")
  expect.eq(ph.means:size(), {32}); expect.eq(ph.edge_means:size(), {p.graph.edges})
  expect.eq(ph.beta_eff, p.beta_eff)
  local function snapshot()
    local st = {}
    for k, t in pairs(p:state()) do st[k] = t:clone() end
    local stats = {}
    for k, v in pairs(p.stats) do stats[k] = v end
    return st, stats, p.beta_eff
  end
  local st0, stats0, beta0 = snapshot()
  local out = m:loss(x, {k = 2, negative_phase = ph})
  out.loss:backward()
  qv.no_grad(function() m:loss(x) end)
  qv.vae.evaluate(m, x, {k = 3})
  local st1, stats1, beta1 = snapshot()
  expect.eq(beta1, beta0)
  expect.eq(stats1, stats0)
  for k, t in pairs(st0) do
    if k ~= "bias" and k ~= "weights" then expect.truthy(t:equal(st1[k]), k .. " changed") end
  end
  -- a prior without couplings, or an exact one, has an exact phase and needs none
  local b = qv.prior.new(qv.graph.bernoulli(8))
  local eph = b:negative_phase()
  expect.truthy(eph.exact); expect.eq(eph.samples, 0)
  expect.truthy(eph.means:allclose(b.bias:neg():sigmoid(), 1e-6, 1e-6))
  b:logz_tensor():backward()
  expect.error(function() p:logz_tensor(eph) end, "bad argument #1 to 'qv.Prior:logz_tensor' (negative_phase: was drawn for")
end)
