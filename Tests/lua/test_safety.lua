-- The crash classes the fuzz harness (Tests/fuzz) found in the bridge: each
-- must be a Lua error that says what was wrong, never a crash.

local g = qv.graph.chimera(1, 1, 4)
local bm = qv.bm.random(g)

test("object options given a non-object", function()
  expect.error(function() qv.vae.dense{prior = "chimera"} end, "bad option 'prior' to 'qv.vae.dense' (expected qv.Prior, got string)")
  expect.error(function() qv.prior.new(g, {sampler = "gibbs"}) end, "expected qv.Sampler, got string")
  expect.error(function() qv.prior.new(g, {sampler = -2}) end, "expected qv.Sampler, got number")
  local s = qv.sampler.gibbs()
  expect.error(function() s:sample(bm, 4, {generator = 1}) end, "expected qv.Generator, got number")
  expect.error(function() s:sample(bm, 4, {generator = io.stdout}) end, "expected qv.Generator, got FILE*")
  expect.error(function() bm:logz{generator = 2^31 - 1} end, "expected qv.Generator")
  expect.error(function() qv.vae.dense{prior = g} end, "expected qv.Prior, got qv.Graph")
end)

test("methods and metamethods on other libraries' values", function()
  expect.error(function() qv.Tensor.sum(io.stdout) end, "bad self (expected qv.Tensor, got FILE*)")
  expect.error(function() qv.Graph.degree(setmetatable({}, {__name = "qv.Graph"}), 1) end, "got table (qv.Graph)")
  -- __gc called by hand on a foreign userdata or a table does nothing
  getmetatable(qv.zeros(1)).__gc(io.stdout)
  getmetatable(g).__gc({})
  io.stdout:write("")                                    -- the file is intact
  local mt = getmetatable(qv.zeros(1))
  expect.error(function() mt.__index(io.stdout, "x") end, "expected qv.Tensor")
  expect.error(function() mt.__newindex(io.stdout, "x", 1) end, "expected qv.Tensor")
  expect.error(function() mt.__len(io.stdout) end, "bad self")
  expect.eq(mt.__tostring(io.stdout), "qv.Tensor")
end)

test("a userdata given a qv metatable is still not a qv object", function()
  local u = io.tmpfile()
  debug.setmetatable(u, getmetatable(qv.zeros(1)))
  expect.error(function() qv.Tensor.sum(u) end, "not a qv object")
  expect.error(function() qv.matmul(qv.zeros(2, 2), u) end, "not a qv object")
  getmetatable(u).__gc(u)                                -- ignored, not a release of a FILE*
end)

test("released objects", function()
  local t = qv.zeros(2)
  getmetatable(t).__gc(t)
  expect.error(function() return t:sum() end, "already released")
  expect.error(function() return qv.zeros(2) + t end, "")
  getmetatable(t).__gc(t)                                -- twice is harmless
  local m = qv.nn.linear(2, 2)
  getmetatable(m).__gc(m)
  expect.error(function() qv.optim.adam(m:parameters()) end, "already released")
  local s = qv.sampler.gibbs()
  getmetatable(s).__gc(s)
  expect.error(function() qv.prior.new(g, {sampler = s}) end, "already released")
end)

test("qv.tensor: self-referencing and deeply nested tables", function()
  local t = {}; t[1] = t
  expect.error(function() qv.tensor(t) end, "nested more than 32 levels")
  local d = {1}
  for _ = 1, 100000 do d = {d} end
  expect.error(function() qv.tensor(d) end, "nested more than 32 levels")
  local ok = {1}
  for _ = 1, 20 do ok = {ok} end
  expect.eq(qv.tensor(ok):dim(), 21)
end)

test("floats too large for an integer", function()
  expect.error(function() qv.zeros(1e300) end, "number has no integer representation")
  expect.error(function() qv.zeros(2^63) end, "number has no integer representation")
  expect.error(function() qv.zeros(0/0) end, "number has no integer representation")
  expect.error(function() qv.randperm(1/0) end, "number has no integer representation")
end)

test("Swift objects report their memory to the collector", function()
  -- 100 default priors and 100 784x512 layers hold ~400 MB of Swift memory;
  -- without the reports Lua counts only their userdata and seldom collects
  local f = io.open("/proc/self/status")
  if not f then return end
  f:close()
  local function rss_mb()
    for line in io.lines("/proc/self/status") do
      local kb = line:match("^VmRSS:%s*(%d+)")
      if kb then return tonumber(kb) / 1024 end
    end
  end
  collectgarbage("collect")
  local before = rss_mb()
  local big = qv.graph.chimera(6, 6, 4)
  local peak = before
  for _ = 1, 100 do
    local _ = qv.prior.new(big)
    local _ = qv.nn.linear(784, 512)
    peak = math.max(peak, rss_mb())
  end
  expect.truthy(peak - before < 150, string.format("RSS grew by %.0f MB", peak - before))
end)

test("image grid: rows × cols that overflow", function()
  expect.error(function() qv.image.grid("x.png", qv.randn(3, 4), {cols = math.mininteger}) end, "rows and cols must be >= 1")
  expect.error(function() qv.image.grid("x.png", qv.randn(3, 4), {rows = 1 << 32, cols = 1 << 32}) end, "do not make")
end)

test("a module cannot contain itself", function()
  -- s:add(s) made parameters/zero_grad/forward recurse until the stack overflowed
  local s = qv.nn.sequential{qv.nn.linear(4, 3)}
  expect.error(function() s:add(s) end, "cannot add a module to itself")
  local outer = qv.nn.sequential{s}
  expect.error(function() s:add(outer) end, "cannot add a module to itself")
  s:add(qv.nn.relu())
  s:zero_grad()
  expect.eq(#s:parameters(), 2)
end)
