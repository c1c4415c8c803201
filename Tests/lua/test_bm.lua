-- qv.bm and qv.BM: parameters, energies, Ising form, clamping, log Z.

-- All 2^n states of n units as rows (unit 1 is the lowest bit).
local function all_states(n)
  local rows = {}
  for bits = 0, (1 << n) - 1 do
    local z = {}
    for l = 1, n do z[l] = (bits >> (l - 1)) & 1 end
    rows[#rows + 1] = z
  end
  return rows
end

local function logsumexp_neg(es)
  local m = math.huge
  for _, e in ipairs(es) do m = math.min(m, e) end
  local s = 0
  for _, e in ipairs(es) do s = s + math.exp(-(e - m)) end
  return -m + math.log(s)
end

test("new with given parameters; energy by hand", function()
  local g = qv.graph.edges(3, {{1, 2}, {2, 3}})
  local bm = qv.bm.new(g, {bias = {1, -2, 0.5}, weights = {3, -1}})
  expect.type(bm, "qv.BM")
  expect.eq(bm.units, 3); expect.eq(#bm, 3)
  expect.eq(bm.bias, {1, -2, 0.5})
  expect.eq(bm.weights, {3, -1})
  expect.truthy(rawequal(bm.graph, g))
  -- H = b.z + W12 z1 z2 + W23 z2 z3
  expect.near(bm:energy({1, 1, 0}), 1 - 2 + 3)
  expect.near(bm:energy({0, 1, 1}), -2 + 0.5 - 1)
  expect.eq(bm:energy({{0, 0, 0}, {1, 0, 1}}), {0, 1.5})
  expect.eq(bm:energy({}), {})
  -- tensors: a batch [B, N] gives a [B] tensor, one state [N] a number
  local t = bm:energy(qv.tensor{{0, 0, 0}, {1, 0, 1}, {1, 1, 0}})
  expect.type(t, "qv.Tensor")
  expect.eq(t:size(), {3})
  expect.near(t[2], 1.5); expect.near(t[3], 1 - 2 + 3)
  expect.near(bm:energy(qv.tensor{0, 1, 1}), -2 + 0.5 - 1)
  expect.error(function() bm:energy(qv.zeros(2, 4)) end, "expected a tensor of states [B, 3] or one state [3], got a tensor of shape [2, 4]")
  expect.error(function() bm:energy(qv.zeros(2, 3, 1)) end, "expected a tensor of states")
  -- the tensor path gives the table path's energies
  qv.seed(4)
  local big = qv.bm.random(qv.graph.chimera(2))
  local states = qv.rand(25, big.units):lt(0.5)
  local want = big:energy(states:totable())
  local got = big:energy(states)
  for i = 1, 25 do expect.near(got[i], want[i], 1e-5) end
  local z = qv.bm.new(g)
  expect.eq(z.bias, {0, 0, 0}); expect.eq(z.weights, {0, 0})
  local c = qv.bm.new(g, {bias = 0.25})
  expect.eq(c.bias, {0.25, 0.25, 0.25})
  expect.match(tostring(bm), "^qv.BM on graph%(3%): 3 units, 2 weights")
end)

test("parameters are assignable and validated", function()
  local g = qv.graph.chimera(1, 1, 2)
  local bm = qv.bm.new(g)
  bm.bias = {1, 2, 3, 4}
  expect.eq(bm.bias, {1, 2, 3, 4})
  local w = {}
  for k = 1, g.edges do w[k] = k / 10 end
  bm.weights = w
  expect.near(bm.weights[3], 0.3)
  expect.error(function() bm.bias = {1, 2} end, "bad value for field 'bias' of qv.BM (expected 4 numbers (one per unit), got 2)")
  expect.error(function() bm.weights = {1, 2, "x", 4} end, "value 3: expected number, got string")
  expect.error(function() bm.bias = {1, 2, 0 / 0, 4} end, "value 3 is not finite")
  expect.error(function() qv.bm.new(g, {bias = {1}}) end, "bad option 'bias' to 'qv.bm.new' (expected 4 numbers (one per unit), got 1)")
  expect.error(function() qv.bm.new(g, {bais = {1}}) end, "unknown option 'bais' to 'qv.bm.new'")
  expect.error(function() qv.bm.new("g") end, "bad argument #1 to 'qv.bm.new' (graph: expected qv.Graph, got string)")
  expect.error(function() bm:energy({{1, 0}}) end, "rows have 2 values, the machine has 4 units")
  expect.error(function() bm.units = 3 end, "read-only")
end)

test("random is seeded", function()
  local g = qv.graph.chimera(2)
  local a = qv.bm.random(g, {seed = 5, weight_scale = 0.5})
  local b = qv.bm.random(g, {seed = 5, weight_scale = 0.5})
  expect.eq(a.weights, b.weights)
  qv.seed(3); local c = qv.bm.random(g)
  qv.seed(3); local d = qv.bm.random(g)
  expect.eq(c.bias, d.bias)
  expect.ne(c.bias, a.bias)
  local zero = qv.bm.random(g, {bias_scale = 0})
  for _, x in ipairs(zero.bias) do expect.eq(x, 0) end
  expect.error(function() qv.bm.random(g, {weight_scale = -1}) end, "bad option 'weight_scale'")
end)

test("Ising form reproduces H and round-trips", function()
  local g = qv.graph.chimera(1, 1, 3)
  local bm = qv.bm.random(g, {seed = 9})
  local h, J, offset = bm:to_ising()
  expect.eq(#h, #g); expect.eq(#J, g.edges)
  local edges = g:edge_list()
  for _, z in ipairs(all_states(#g)) do
    local e = offset
    for l = 1, #g do e = e + h[l] * (2 * z[l] - 1) end
    for k, uv in ipairs(edges) do e = e + J[k] * (2 * z[uv[1]] - 1) * (2 * z[uv[2]] - 1) end
    expect.near(e, bm:energy(z), 1e-5)
  end
  local back = qv.bm.from_ising(g, {h = h, J = J})
  for l = 1, #g do expect.near(back.bias[l], bm.bias[l], 1e-5) end
  for k = 1, g.edges do expect.near(back.weights[k], bm.weights[k], 1e-5) end
end)

test("clamp clips in place", function()
  local g = qv.graph.complete(3)
  local bm = qv.bm.new(g, {bias = {-3, 0.5, 3}, weights = {-2, 1, 5}})
  expect.truthy(rawequal(bm:clamp{weights = 1.5, bias = {-1, 2}}, bm))
  expect.eq(bm.bias, {-1, 0.5, 2})
  expect.eq(bm.weights, {-1.5, 1, 1.5})
  expect.error(function() bm:clamp{weights = {2, 1}} end, "bad option 'weights' to 'qv.BM:clamp'")
  expect.error(function() bm:clamp{w = 1} end, "unknown option 'w'")
  local s = bm:scaled(2)
  expect.eq(s.bias, {-2, 1, 4})
  local c = bm:copy(); c.bias = {0, 0, 0}
  expect.eq(bm.bias, {-1, 0.5, 2})
end)

test("exact log Z and moments agree with enumeration in Lua", function()
  local g = qv.graph.chimera(1, 2, 2)      -- 8 units
  local bm = qv.bm.random(g, {seed = 4})
  local states = all_states(#g)
  local es = bm:energy(states)
  local lz = logsumexp_neg(es)
  local v, err, stats = bm:logz{method = "exact"}
  expect.near(v, lz, 1e-5)
  expect.eq(err, 0)
  expect.eq(stats.method, "exact")
  expect.near(bm:logz(), lz, 1e-5)               -- exact by default at 8 units
  local m = bm:exact()
  expect.near(m.logZ, lz, 1e-5)
  local mean1 = 0
  for i, z in ipairs(states) do mean1 = mean1 + z[1] * math.exp(-es[i] - lz) end
  expect.near(m.means[1], mean1, 1e-5)
  expect.eq(#m.edge_means, g.edges)
end)

test("AIS and PA log Z agree with exact within their error bars", function()
  qv.seed(11)
  local g = qv.graph.chimera(1, 2, 3)      -- 12 units
  local bm = qv.bm.random(g, {seed = 7, weight_scale = 0.8})
  local exact = bm:logz{method = "exact"}
  local a, ea, sa = bm:logz{method = "ais", chains = 500, temperatures = 300}
  expect.truthy(ea > 0)
  expect.truthy(math.abs(a - exact) < 4 * ea + 0.01, ("ais %g ± %g vs exact %g"):format(a, ea, exact))
  expect.eq(sa.method, "ais"); expect.eq(sa.chains, 500)
  local p, ep = bm:logz{method = "pa", replicas = 1000, populations = 5, temperatures = 200}
  expect.truthy(math.abs(p - exact) < 4 * ep + 0.01, ("pa %g ± %g vs exact %g"):format(p, ep, exact))
  -- a generator makes it reproducible
  local r1 = bm:logz{method = "ais", chains = 50, temperatures = 20, generator = qv.generator(1)}
  local r2 = bm:logz{method = "ais", chains = 50, temperatures = 20, generator = qv.generator(1)}
  expect.eq(r1, r2)
end)

test("logz options are validated", function()
  local bm = qv.bm.random(qv.graph.chimera(1))
  expect.error(function() bm:logz{method = "mc"} end, "bad option 'method' to 'qv.BM:logz' (expected one of 'exact', 'ais', 'pa', got 'mc')")
  expect.error(function() bm:logz{method = "ais", replicas = 10} end, "bad option 'replicas' to 'qv.BM:logz' (not used by method 'ais')")
  expect.error(function() bm:logz{method = "ais", chains = 0} end, "bad option 'chains'")
  expect.error(function() bm:logz{method = "pa", resampling = "stratified"} end, "bad option 'resampling'")
  expect.error(function() bm:logz{method = "ais", path = "straight"} end, "bad option 'path'")
  expect.error(function() bm:logz{chans = 5} end, "unknown option 'chans' to 'qv.BM:logz'")
  local big = qv.bm.random(qv.graph.chimera(2))
  expect.error(function() big:logz{method = "exact"} end, "at most 24 units, the machine has 32")
  local v = big:logz{chains = 20, temperatures = 10}        -- ais by default above 20 units
  expect.type(v, "number")
end)
