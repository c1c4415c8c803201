-- The core qv bindings.

test("version is a string", function()
  expect.type(qv.version, "string")
  expect.match(qv.version, "^%d+%.%d+%.%d+")
end)

test("seed makes rand deterministic", function()
  qv.seed(123)
  local a, b = qv.rand(), qv.randn()
  qv.seed(123)
  expect.eq(qv.rand(), a)
  expect.eq(qv.randn(), b)
end)

test("rand is uniform in [0, 1)", function()
  qv.seed(1)
  local sum, lo, hi = 0, 1, 0
  for _ = 1, 20000 do
    local x = qv.rand()
    sum = sum + x
    lo, hi = math.min(lo, x), math.max(hi, x)
  end
  expect.truthy(lo >= 0 and hi < 1)
  expect.near(sum / 20000, 0.5, 0.02)
end)

test("randn has mean 0 and variance 1", function()
  qv.seed(2)
  local s, s2, n = 0, 0, 20000
  for _ = 1, n do local x = qv.randn(); s = s + x; s2 = s2 + x * x end
  expect.near(s / n, 0, 0.03)
  expect.near(s2 / n, 1, 0.05)
end)

test("generators are independent objects", function()
  local g1, g2 = qv.generator(7), qv.generator(7)
  expect.type(g1, "qv.Generator")
  expect.eq(g1:rand(), g2:rand())
  local g3 = g1:split()
  expect.ne(g3:rand(), g1:rand())
  expect.eq(tostring(g1), "qv.Generator")
  expect.truthy(rawequal(g1, g1))
end)

test("wrong arguments name function and argument", function()
  expect.error(function() qv.seed("x") end,
    "bad argument #1 to 'qv.seed' (n: expected integer, got string)")
  expect.error(function() qv.seed(1.5) end, "number has no integer representation")
  expect.error(function() qv.sleep() end, "bad argument #1 to 'qv.sleep' (seconds: expected number, got no value)")
  expect.error(function() qv.generator(1):rand(3) end, "bad argument #1 to 'qv.Generator:rand'")
  expect.error(function() qv.generator(1).rand(5) end, "calling 'qv.Generator:rand' on bad self")
  expect.error(function() qv.threads(0) end, "must be in 1...1024")
end)

test("errors carry the caller's position", function()
  local msg = expect.error(function() qv.seed({}) end)
  expect.match(msg, "^.-test_core%.lua:%d+: bad argument")
end)

test("clock is monotonic, sleep waits", function()
  local t0 = qv.clock()
  qv.sleep(0.02)
  expect.truthy(qv.clock() - t0 >= 0.015)
end)

test("threads get and set", function()
  local n = qv.threads()
  expect.eq(qv.threads(1), 1)
  expect.eq(qv.threads(n), n)
end)

test("no interrupt pending", function()
  expect.eq(qv.interrupted(), false)
end)

test("blas core name", function()
  expect.type(qv.blas(), "string")
end)
