-- What the fuzzer knows: the objects it calls methods on, the families of
-- bad values, and how a call becomes Lua source and a one-line reproducer.
--
-- Every call is Lua source text run with `load`; objects are fields of a
-- table O built lazily from constructor sources, so a reproducer is the call
-- prefixed with the constructors it (transitively) uses:
--
--   local O = {}; O.graph = qv.graph.chimera(1, 1, 4); O.bm = qv.bm.random(O.graph); O.bm:sample(2^31)
--
-- Nothing here is random: worker.lua draws from these tables with a seeded
-- math.random.

local M = {}

-- Objects of every kind the bridge exposes, in dependency order. Sources
-- may refer to earlier entries as O.name.
M.instances = {
  {"graph", "qv.graph.chimera(1, 1, 4)"},
  {"graph_b", "qv.graph.bernoulli(6)"},
  {"graph_p", "qv.graph.pegasus(2)"},
  {"graph_e", "qv.graph.edges(3, {{1, 2}, {2, 3}})"},
  {"bm", "qv.bm.random(O.graph)"},
  {"bm_b", "qv.bm.new(O.graph_b, {bias = 0.5})"},
  {"tensor", "qv.randn(3, 4)"},
  {"tensor_t", "qv.randn(4, 3):t()"},                 -- non-contiguous
  {"tensor_exp", "qv.randn(1, 4):expand(3, 4)"},      -- overlapping (stride 0)
  {"tensor_0d", "qv.tensor(1.5)"},
  {"tensor_empty", "qv.zeros(0, 4)"},
  {"tensor_grad", "qv.randn(3, 4):requires_grad_()"},
  {"tensor_img", "qv.rand(2, 1, 6, 6)"},
  {"tensor_z", "qv.rand(5, 8):round()"},
  {"tensor_narrow", "qv.randn(6, 5):narrow(1, 2, 3):narrow(2, 2, 4)"},
  {"s_gibbs", "qv.sampler.gibbs{sweeps = 2}"},
  {"s_exact", "qv.sampler.exact()"},
  {"s_pa", "qv.sampler.pa{temperatures = 4, populations = 2}"},
  {"s_sa", "qv.sampler.sa{sweeps = 4}"},
  {"s_ann", "qv.sampler.annealer{anneal_sweeps = 4, gauges = 2}"},
  {"s_ais", "qv.sampler.ais{temperatures = 4}"},
  {"s_lua", "qv.sampler.lua(function(bm, n) local r = {} for i = 1, n do local z = {} for l = 1, bm.units do z[l] = i % 2 end r[i] = z end return r end)"},
  {"s_cmd", "qv.sampler.command{'true', timeout = 5}"},
  {"samples", "O.s_exact:sample(O.bm, 4)"},
  {"prior", "qv.prior.new(O.graph, {samples = 8})"},
  {"prior_exact", "qv.prior.exact(O.graph)"},
  {"phase", "O.prior:negative_phase()"},
  {"linear", "qv.nn.linear(4, 3)"},
  {"seq", "qv.nn.sequential{qv.nn.linear(4, 3), qv.nn.relu()}"},
  {"conv", "qv.nn.conv2d(1, 2, 3)"},
  {"convt", "qv.nn.conv_transpose2d(2, 1, 3)"},
  {"bn", "qv.nn.batch_norm(3)"},
  {"vae", "qv.vae.dense{prior = O.prior, encoder_hidden = {16}, decoder_hidden = {16}, input = 16}"},
  {"vae_conv", "qv.vae.conv{prior = O.prior_exact}"},
  {"adam", "qv.optim.adam(O.linear:parameters())"},
  {"sgd", "qv.optim.sgd(O.seq:parameters(), {lr = 0.1})"},
  {"gen", "qv.generator(1)"},
  {"lock", "qv.lock('fuzz.lock')"},
  {"splits", "qv.data.load('fmnist', {validation = 10})"},
  {"set", "O.splits.valid"},
}
M.index = {}
for i, e in ipairs(M.instances) do M.index[e[1]] = i end

-- Instances too costly to use as stray "wrong type" arguments everywhere.
M.heavy = {splits = true, set = true, vae_conv = true, lock = true, s_cmd = true}

-- Representative argument for a type named in an error message.
M.sample_for = {
  ["qv.Tensor"] = "O.tensor", ["qv.Graph"] = "O.graph", ["qv.BM"] = "O.bm",
  ["qv.Sampler"] = "O.s_gibbs", ["qv.Prior"] = "O.prior", ["qv.VAE"] = "O.vae",
  ["qv.nn.Module"] = "O.linear", ["qv.Generator"] = "O.gen", ["qv.Samples"] = "O.samples",
  ["qv.data.Set"] = "O.set", ["qv.data.Splits"] = "O.splits", ["qv.NegativePhase"] = "O.phase",
  ["qv.Lock"] = "O.lock", ["qv.optim.Adam"] = "O.adam", ["qv.optim.SGD"] = "O.sgd",
  integer = "2", number = "0.5", string = "'x'", boolean = "true", ["function"] = "function(...) return ... end",
  table = "{}", ["table of options"] = "{}", ["table of integers"] = "{2, 2}", ["table of numbers"] = "{0.5, 0.5}",
  ["table of strings"] = "{'x'}", ["table of qv.Tensors"] = "{O.tensor, O.tensor}", ["table of tensors"] = "{w = O.tensor}",
  ["table of numbers or a qv.Tensor"] = "{0.5}", ["table of qv.nn.Modules"] = "{O.linear}",
  ["qv.Tensor or number"] = "O.tensor", ["number or qv.Tensor"] = "0.5",
}
-- Required option fields named in "x is required" messages.
M.field_for = {prior = "O.prior", trunk = "O.seq", decoder = "O.seq", graph = "O.graph", sampler = "O.s_gibbs",
  model = "O.vae", path = "'fuzz.out'", size = "2"}

local function fn_src(body) return "(function() " .. body .. " end)()" end

-- The families of bad values, as Lua source. Kept small enough that every
-- value is tried often; `O.*` entries are added by `values()`.
M.bad = {
  -- absent, wrong scalar types
  "nil", "true", "false", "'x'", "''", "'2'", "'\\0'", "string.rep('a', 65536)",
  "function() end", "function() error('boom') end", "coroutine.create(function() end)",
  -- numbers: negative, zero, huge, non-integral, non-finite
  "0", "1", "-1", "2", "3", "-2", "0.5", "-0.5", "1e-300",
  "2^31", "-2^31", "2^31 - 1", "2^32", "2^53", "-2^53", "2^63", "1e300", "-1e300",
  "math.maxinteger", "math.mininteger", "math.maxinteger // 2", "1 << 40", "-(1 << 40)",
  "1/0", "-1/0", "0/0",
  -- tables: empty, wrong contents, overflowing sizes, nesting
  "{}", "{1}", "{{}}", "{{1}, {1, 2}}", "{-1, 2}", "{0, 2^31}", "{2^31, 2^31}", "{2^53, 0}", "{1 << 40, 1 << 40}",
  "{0/0, 1}", "{1e300}", "{x = 1}", "{'a', 'b'}", "{true}", "{[1] = 1, [3] = 3}", "{math.mininteger}",
  fn_src("local t = {} t[1] = t return t"),                                  -- self-referencing
  fn_src("local t = {1} for i = 1, 10000 do t = {t} end return t"),          -- deep
  fn_src("local t = {} for i = 1, 300 do t[i] = i end return t"),
  -- other libraries' values
  "io.stdout", "setmetatable({}, {__name = 'qv.Tensor'})", "setmetatable({}, {__name = 'qv.Graph', __qvclass = 'qv.Graph'})",
  "setmetatable({}, {__index = function() error('index') end, __len = function() return 2^40 end})",
  "setmetatable({}, {__len = function() return -1 end})",
  -- released objects (finalized by hand, as __gc would)
  fn_src("local x = qv.zeros(2) getmetatable(x).__gc(x) return x"),
  fn_src("local x = qv.graph.chimera(1, 1, 4) getmetatable(x).__gc(x) return x"),
  fn_src("local x = qv.nn.linear(2, 2) getmetatable(x).__gc(x) return x"),
  fn_src("local x = qv.sampler.gibbs() getmetatable(x).__gc(x) return x"),
  fn_src("local x = qv.generator(1) getmetatable(x).__gc(x) return x"),
  -- tensors of other shapes: mismatched, empty, 0-d, non-finite, views
  "qv.zeros(5)", "qv.zeros(0)", "qv.zeros(1, 1)", "qv.tensor(0/0)", "qv.full({2, 3}, 1/0)", "qv.zeros(2, 3):t()",
  "qv.zeros(1, 3):expand(4, 3)", "qv.ones(7, 7)", "qv.rand(2, 8)", "qv.zeros(2, 2, 2, 2, 2)",
}

local function quote(s) return string.format("%q", s) end
M.quote = quote

-- Every value source for a given mode: the bad values plus stray objects.
function M.values()
  local v = {}
  for _, s in ipairs(M.bad) do v[#v + 1] = s end
  for _, e in ipairs(M.instances) do
    if not M.heavy[e[1]] then v[#v + 1] = "O." .. e[1] end
  end
  return v
end

-- O with lazy construction: O.name runs its constructor on first use.
function M.make_O(env)
  local O = {}
  setmetatable(O, {__index = function(t, k)
    local i = M.index[k]
    if not i then return nil end
    local f = assert(load("return " .. M.instances[i][2], "=O." .. k, "t", env))
    local v = f()
    rawset(t, k, v)
    return v
  end})
  return O
end

-- The constructors a source needs, in order, as one line.
function M.reproducer(src)
  local need, order = {}, {}
  local function visit(s)
    for name in s:gmatch("O%.([%w_]+)") do
      if M.index[name] and not need[name] then
        need[name] = true
        visit(M.instances[M.index[name]][2])
      end
    end
  end
  visit(src)
  for _, e in ipairs(M.instances) do
    if need[e[1]] then order[#order + 1] = "O." .. e[1] .. " = " .. e[2] end
  end
  if #order == 0 then return src end
  return "local O = {}; " .. table.concat(order, "; ") .. "; " .. src
end

-- Serialization of plain data (templates) to Lua source.
function M.serialize(v)
  local t = type(v)
  if t == "string" then return quote(v)
  elseif t == "number" or t == "boolean" or t == "nil" then return tostring(v)
  elseif t == "table" then
    local parts = {}
    local n = #v
    for i = 1, n do parts[#parts + 1] = M.serialize(v[i]) end
    local keys = {}
    for k in pairs(v) do if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do parts[#parts + 1] = "[" .. M.serialize(k) .. "] = " .. M.serialize(v[k]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  error("cannot serialize " .. t)
end

return M
