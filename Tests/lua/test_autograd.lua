-- Autograd from Lua: backward, .grad, no_grad, finite-difference checks.

local T = qv.tensor

--- Central finite differences of f (a function of one tensor returning a
--- 0-d tensor) at x, compared with x.grad from backward.
local function gradcheck(f, x, tol)
  x = x:detach():clone()
  x.requires_grad = true
  local y = f(x)
  y:backward()
  local analytic = x.grad:reshape(-1):totable()
  local flat = x:detach():reshape(-1)      -- shares storage with x
  local eps = 1e-2
  for i = 1, flat:numel() do
    local orig = flat[i]
    local plus, minus
    qv.no_grad(function()
      flat[i] = orig + eps; plus = f(x):item()
      flat[i] = orig - eps; minus = f(x):item()
      flat[i] = orig
    end)
    local numeric = (plus - minus) / (2 * eps)
    expect.near(analytic[i], numeric, tol or 2e-2, "d/dx[" .. i .. "]")
  end
end

test("backward accumulates gradients into leaves", function()
  local x = T({1, 2, 3}, {requires_grad = true})
  local y = (x * x):sum()
  expect.eq(y.grad_fn, "sum")
  expect.falsy(y.is_leaf)
  expect.truthy(x.is_leaf)
  y:backward()
  expect.eq(x.grad:totable(), {2, 4, 6})
  ;(x * 3):sum():backward()
  expect.eq(x.grad:totable(), {5, 7, 9})        -- accumulated
  x.grad = nil
  expect.eq(x.grad, nil)
  ;(x:sum() * 2):backward()
  expect.eq(x.grad:totable(), {2, 2, 2})
end)

test("backward with an explicit gradient", function()
  local x = T({1, 2}, {requires_grad = true})
  local y = x * 3
  y:backward(T{1, 10})
  expect.eq(x.grad:totable(), {3, 30})
  expect.error(function() (x * 2):backward() end, "only for one-element tensors")
  expect.error(function() (x * 2):backward(T{1}) end, "gradient has shape [1]")
  expect.error(function() T{1}:backward() end, "does not require grad")
end)

test("requires_grad property and detach", function()
  local x = qv.zeros(2)
  expect.falsy(x.requires_grad)
  x.requires_grad = true
  expect.truthy(x.requires_grad)
  local y = x * 2
  expect.truthy(y.requires_grad)
  expect.falsy(y:detach().requires_grad)
  expect.error(function() y.requires_grad = false end, "leaf")
  expect.error(function() x.requires_grad = 1 end, "expected boolean, got number")
  expect.error(function() x.grad = qv.zeros(3) end, "does not match")
  x.grad = qv.ones(2)
  expect.eq(x.grad:totable(), {1, 1})
end)

test("no_grad turns recording off and restores it, even on error", function()
  local x = T({1}, {requires_grad = true})
  expect.truthy(qv.grad_enabled())
  local y, extra = qv.no_grad(function(a) return x * a, qv.grad_enabled() end, 2)
  expect.eq(extra, false)
  expect.falsy(y.requires_grad)
  expect.truthy(qv.grad_enabled())
  local ok, err = pcall(qv.no_grad, function() error("inside") end)
  expect.falsy(ok)
  expect.match(err, "inside")
  expect.truthy(qv.grad_enabled())
  -- error values pass through unchanged
  local ok2, e2 = pcall(qv.no_grad, function() error({code = 7}) end)
  expect.eq(e2.code, 7)
  expect.truthy(qv.grad_enabled())
  expect.error(function() qv.no_grad(5) end, "bad argument #1 to 'qv.no_grad' (fn: expected function, got number)")
  expect.eq(qv.set_grad_enabled(false), true)
  expect.falsy((x * 2).requires_grad)
  qv.set_grad_enabled(true)
end)

test("autograd errors name no Swift API (noGrad, retainGraph)", function()
  local w = qv.randn(3):requires_grad_()
  local msg = expect.error(function() w:add_(1) end, "with gradient recording off (no-grad mode) or on a detached tensor")
  expect.falsy(msg:find("noGrad", 1, true), msg)
  qv.no_grad(function() w:add_(1) end)
  local y = (w * 2):sum()
  y:backward()
  msg = expect.error(function() y:backward() end, "retain the graph in the first backward")
  expect.falsy(msg:find("retainGraph", 1, true), msg)
end)

test("gradients of common ops match finite differences", function()
  qv.seed(11)
  local x = qv.randn(3, 4)
  local w = qv.randn(4, 2)
  gradcheck(function(a) return a:matmul(w):tanh():sum() end, x)
  gradcheck(function(a) return a:sigmoid():log():mean() end, x)
  gradcheck(function(a) return a:log_softmax(2):gather(2, T{{1}, {4}, {2}}):sum() end, x)
  gradcheck(function(a) return (a ^ 2 / 3 - a):max(2):sum() end, x)
  gradcheck(function(a) return a:softplus():var() end, x)
  local target = qv.rand(3, 4):gt(0.5)
  gradcheck(function(a) return a:bce_with_logits(target):sum() end, x)
  gradcheck(function(a) return a[{{1, 2}, {2, 3}}]:exp():sum() + a[{3, {1}}]:sum() * a[2]:select(1, 4) end, x)
  gradcheck(function(a) return qv.cat({a, a * 2}, 2):logsumexp(2):sum() end, x)
  gradcheck(function(a) return qv.where(a:gt(0), a, a * 0.1):sum() end, x)
end)

test("gradient of a linear layer", function()
  local x = T{{1, 2}}
  local W = T({{1, 0}, {0, 1}, {1, 1}}, {requires_grad = true})
  local b = T({0, 0, 0}, {requires_grad = true})
  qv.linear(x, W, b):sum():backward()
  expect.eq(W.grad:totable(), {{1, 2}, {1, 2}, {1, 2}})
  expect.eq(b.grad:totable(), {1, 1, 1})
end)

test("qv.custom: an op with a Lua gradient", function()
  local x = qv.tensor({1, 2, 3}, {requires_grad = true})
  local calls = 0
  local y = qv.custom("twice", {x},
    function(a) expect.falsy(qv.grad_enabled()); return a * 2 end,
    function(g) calls = calls + 1; return g * 2 end)
  expect.eq(y.grad_fn, "twice")
  y:sum():backward()
  expect.eq(calls, 1)
  expect.eq(x.grad:totable(), {2, 2, 2})
  local bad = qv.custom("bad", {x}, function(a) return a + 0 end, function() return "no" end)
  expect.error(function() bad:sum():backward() end, "backward of 'bad' returned a string for input 1")
  local bad2 = qv.custom("bad2", {x}, function(a) return a + 0 end, function() error("from lua") end)
  expect.error(function() bad2:sum():backward() end, "from lua")
  expect.error(function() qv.custom("f", {x}, function() return 1 end, function() end) end,
    "forward of 'f' must return a qv.Tensor")
end)
