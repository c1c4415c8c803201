-- qv.optim: Adam, SGD, clipping, state.

local function quadratic_problem()
  qv.seed(4)
  local target = qv.randn(5)
  local x = qv.zeros(5):requires_grad_()
  local function loss() return ((x - target) ^ 2):sum() end
  return x, target, loss
end

test("adam minimizes a quadratic", function()
  local x, target, loss = quadratic_problem()
  local opt = qv.optim.adam({x}, {lr = 0.1})
  expect.type(opt, "qv.optim.Adam")
  local first = loss():item()
  for _ = 1, 300 do
    opt:zero_grad()
    local l = loss()
    l:backward()
    opt:step()
  end
  expect.truthy(loss():item() < 1e-3 * first)
  expect.eq(opt.step_count, 300)
  expect.truthy(x:allclose(target, 1e-2, 1e-2))
end)

test("sgd with momentum minimizes a quadratic; lr is settable", function()
  local x, target, loss = quadratic_problem()
  local opt = qv.optim.sgd({x}, {lr = 0.05, momentum = 0.9})
  expect.near(opt.lr, 0.05)
  opt.lr = 0.1
  expect.near(opt.lr, 0.1)
  for _ = 1, 200 do
    opt:zero_grad(); loss():backward(); opt:step()
  end
  expect.truthy(x:allclose(target, 1e-3, 1e-3))
  expect.error(function() opt.lr = -1 end, "learning rate must be finite and >= 0")
  expect.error(function() opt.lr = "x" end, "expected number, got string")
end)

test("zero_grad clears gradients; step skips parameters without one", function()
  local a, b = qv.ones(2):requires_grad_(), qv.ones(2):requires_grad_()
  local opt = qv.optim.sgd({a, b}, {lr = 1})
  a:sum():backward()
  opt:step()
  expect.eq(a:totable(), {0, 0})
  expect.eq(b:totable(), {1, 1})
  opt:zero_grad()
  expect.eq(a.grad, nil)
  expect.eq(#opt.params, 2)
  expect.truthy(opt.params[1] == a)
end)

test("state and load_state resume exactly", function()
  local function run(steps, opt_state)
    qv.seed(9)
    local w = qv.randn(4):requires_grad_()
    local opt = qv.optim.adam({w}, {lr = 0.05, betas = {0.8, 0.99}})
    local tgt = qv.randn(4)
    return w, opt, function(n)
      for _ = 1, n do opt:zero_grad(); ((w - tgt) ^ 2):sum():backward(); opt:step() end
    end
  end
  local w1, o1, go1 = run()
  go1(10)
  local w2, o2, go2 = run()
  go2(5)
  local saved = o2:state()
  expect.type(saved.step, "qv.Tensor")
  expect.type(saved["exp_avg.0"], "qv.Tensor")
  local wsave = w2:clone()
  local w3, o3, go3 = run()
  qv.no_grad(function() w3:copy_(wsave) end)
  o3:load_state(saved)
  go3(5)
  expect.truthy(w3:allclose(w1, 1e-6, 1e-7))
  expect.error(function() o3:load_state({step = 3}) end, "value of 'step' must be a qv.Tensor, got number")
  expect.error(function() o3:load_state({}) end, "state 'step' is missing")
end)

test("clip_grad_norm returns the norm and scales gradients", function()
  local a = qv.zeros(2):requires_grad_()
  a.grad = qv.tensor{3, 4}
  local n = qv.optim.clip_grad_norm({a}, 1)
  expect.near(n, 5)
  expect.near(a.grad:square():sum():sqrt():item(), 1, 1e-4)
  expect.near(qv.optim.clip_grad_norm({a}, 10), 1, 1e-4)
  expect.error(function() qv.optim.clip_grad_norm({a}, 0) end, "max_norm: must be positive")
end)

test("bad arguments are errors naming the option", function()
  local a = qv.zeros(2):requires_grad_()
  expect.error(function() qv.optim.adam({a}, {learning_rate = 1}) end, "unknown option 'learning_rate' to 'qv.optim.adam'")
  expect.error(function() qv.optim.adam({a}, {lr = "x"}) end, "bad option 'lr' to 'qv.optim.adam'")
  expect.error(function() qv.optim.adam({a}, {betas = {2, 0}}) end, "bad option 'betas'")
  expect.error(function() qv.optim.adam({a, 3}) end, "bad argument #1 to 'qv.optim.adam' (params: expected qv.Tensor at index 2, got number)")
  expect.error(function() qv.optim.adam({a * 2}) end, "is not a leaf tensor")
  expect.error(function() qv.optim.sgd({a}) end, "lr is required")
  expect.error(function() qv.optim.sgd({a}, {lr = 1}):step(1) end, "bad argument #1 to 'qv.optim.SGD:step'")
end)
