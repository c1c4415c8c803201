--- A two-layer MLP (784 -> 256 -> 10, ReLU) trained on Fashion-MNIST with
--- Adam: the end-to-end check of qvlua's Lua tensor API.
---
---   qvlua scripts/examples/mlp.lua                      -- 2 epochs, prints the loss every 100 batches
---   qvlua scripts/examples/mlp.lua --epochs 1 --batches 300 --seed 7
---   qvlua scripts/examples/mlp.lua --dataset mnist --dir ../shared/data/mnist
---
--- As a library (Tests/lua/test_mlp.lua): `local mlp = dofile("scripts/examples/mlp.lua")`
--- then `mlp.train{seed = 1, max_batches = 300, print = false}` returns
--- {losses = {...}, lines = {...}, accuracy = ...}. The same seed gives the
--- same losses, bit for bit.

local M = {}

--- PyTorch's nn.Linear initialisation: U(-1/sqrt(in), 1/sqrt(in)).
local function uniform(fan_in, ...)
  local bound = 1 / math.sqrt(fan_in)
  return (qv.rand(...) * 2 - 1) * bound
end

function M.model(hidden)
  local p = {
    W1 = uniform(784, hidden, 784), b1 = uniform(784, hidden),
    W2 = uniform(hidden, 10, hidden), b2 = uniform(hidden, 10),
  }
  for _, t in pairs(p) do t.requires_grad = true end
  p.list = {p.W1, p.b1, p.W2, p.b2}
  return p
end

--- Logits [B, 10] of images x [B, 784].
function M.forward(p, x)
  local h = qv.linear(x, p.W1, p.b1):relu()
  return qv.linear(h, p.W2, p.b2)
end

--- Mean cross-entropy of logits against 1-based labels y [B].
function M.cross_entropy(logits, y)
  return -logits:log_softmax(2):gather(2, y:view(-1, 1)):mean()
end

--- Fraction of `set` classified correctly.
function M.accuracy(p, set)
  return qv.no_grad(function()
    local correct = 0
    for x, y in set:batches{size = 1000, shuffle = false} do
      correct = correct + M.forward(p, x):argmax(2):eq(y):sum():item()
    end
    return correct / #set
  end)
end

function M.train(opts)
  opts = opts or {}
  local say = opts.print == false and function() end or print
  qv.seed(opts.seed or 1)
  local data = opts.data or qv.data.load(opts.dataset or "fmnist", {dir = opts.dir})
  local p = M.model(opts.hidden or 256)
  local opt = qv.optim.adam(p.list, {lr = opts.lr or 1e-3})
  local every, max_batches = opts.every or 100, opts.max_batches
  local losses, lines = {}, {}
  local step, running, t0 = 0, 0, qv.clock()
  for epoch = 1, opts.epochs or 2 do
    for x, y in data.train:batches{size = opts.batch_size or 100, shuffle = true} do
      local loss = M.cross_entropy(M.forward(p, x), y)
      opt:zero_grad()
      loss:backward()
      opt:step()
      step = step + 1
      local l = loss:item()
      losses[step] = l
      running = running + l
      if step % every == 0 then
        local line = string.format("epoch %d  batch %5d  loss %.6f", epoch, step, running / every)
        lines[#lines + 1] = line
        say(line)
        running = 0
      end
      if max_batches and step >= max_batches then break end
    end
    if max_batches and step >= max_batches then break end
  end
  local seconds = qv.clock() - t0
  local acc = opts.evaluate == false and nil or M.accuracy(p, data.test)
  if acc then say(string.format("test accuracy %.4f  (%d batches in %.1f s)", acc, step, seconds)) end
  return {losses = losses, lines = lines, accuracy = acc, params = p, seconds = seconds}
end

-- Run as a script (not when loaded with dofile/require from another file).
if arg and arg[0] and arg[0]:match("mlp%.lua$") then
  local args = require "args"
  local ps = args.parser{name = "mlp.lua", about = "Train a 784-256-10 MLP with Adam on Fashion-MNIST."}
  ps:option{"epochs", type = "int", default = 2, help = "passes over the training set"}
  ps:option{"batches", type = "int", default = 0, help = "stop after this many batches (0: no limit)"}
  ps:option{"seed", type = "int", default = 1, help = "random seed"}
  ps:option{"every", type = "int", default = 100, help = "print the mean loss every this many batches"}
  ps:option{"lr", type = "number", default = 1e-3, help = "Adam learning rate"}
  ps:option{"dataset", choices = {"fmnist", "mnist"}, default = "fmnist", help = "dataset"}
  ps:option{"dir", type = "string", help = "directory of the IDX files (required for mnist)"}
  local o = ps:parse_or_exit(arg)
  M.train{epochs = o.epochs, max_batches = o.batches > 0 and o.batches or nil, seed = o.seed,
          every = o.every, lr = o.lr, dataset = o.dataset, dir = o.dir}
end

return M
