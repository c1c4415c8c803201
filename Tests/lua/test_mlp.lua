-- The done-criterion of the Lua tensor API: a two-layer MLP trained with
-- Adam from Lua drives the Fashion-MNIST loss down, and the same seed
-- reproduces the same losses.

local FMNIST = "/usr/share/datasets/fashion-mnist"

local function script_path()
  local root = qv.root or ((arg and arg[0] or ""):match("^(.*)/Tests/lua/[^/]*$") or ".")
  return root .. "/scripts/examples/mlp.lua"
end

test("MLP on Fashion-MNIST: loss goes down, same seed same losses", function()
  if not qv.exists(FMNIST) then print("  (skipped: " .. FMNIST .. " absent)"); return end
  local mlp = dofile(script_path())
  local data = qv.data.load("fmnist")
  local opts = {seed = 5, max_batches = 300, every = 50, data = data, print = false, evaluate = false}
  local a = mlp.train(opts)
  local b = mlp.train(opts)
  expect.eq(#a.losses, 300)
  expect.eq(a.lines, b.lines)
  for i = 1, 300 do
    if a.losses[i] ~= b.losses[i] then error("loss " .. i .. " differs: " .. a.losses[i] .. " vs " .. b.losses[i]) end
  end
  local function mean(t, i, j) local s = 0; for k = i, j do s = s + t[k] end; return s / (j - i + 1) end
  local first, last = mean(a.losses, 1, 10), mean(a.losses, 251, 300)
  expect.truthy(first > 1.8, "initial loss near log(10), got " .. first)
  expect.truthy(last < 0.65, "loss after 300 batches, got " .. last)
  local c = mlp.train{seed = 6, max_batches = 20, data = data, print = false, evaluate = false}
  expect.ne(c.losses[20], a.losses[20])
  local acc = mlp.accuracy(a.params, data.test)
  expect.truthy(acc > 0.75, "test accuracy " .. acc)
end)
