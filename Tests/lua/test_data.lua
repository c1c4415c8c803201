-- qv.data: MNIST (../shared/data/mnist from the repository root) and
-- Fashion-MNIST (/usr/share/datasets/fashion-mnist). Skipped with a
-- message when the files are absent.

local function repo_root()
  if qv.root then return qv.root end
  local script = arg and arg[0] or ""
  return script:match("^(.*)/Tests/lua/[^/]*$") or "."
end

local function find_mnist()
  local candidates = {repo_root() .. "/../shared/data/mnist", "../shared/data/mnist"}
  if os.getenv("QVLUA_MNIST") then table.insert(candidates, 1, os.getenv("QVLUA_MNIST")) end
  for _, d in ipairs(candidates) do
    if qv.exists(d .. "/train-images-idx3-ubyte.gz") then return d end
  end
end

local FMNIST = "/usr/share/datasets/fashion-mnist"

test("MNIST splits, images and 1-based labels", function()
  local dir = find_mnist()
  if not dir then print("  (skipped: MNIST not found at ../shared/data/mnist)"); return end
  local ds = qv.data.load("mnist", {dir = dir})
  expect.type(ds, "qv.data.Splits")
  expect.eq(ds.name, "mnist")
  expect.eq({#ds.train, #ds.valid, #ds.test}, {50000, 10000, 10000})
  expect.eq(ds.train.rows * ds.train.cols, 784)
  local x = ds.train:images(1, 8)
  expect.eq(x.shape, {8, 784})
  expect.truthy(x:min():item() >= 0 and x:max():item() <= 1)
  local y = ds.train:labels(1, 8)
  expect.eq(y:totable(), {6, 1, 5, 2, 10, 3, 2, 4})   -- MNIST's first labels 5 0 4 1 9 2 1 3, plus one
  expect.eq(ds.test:labels():numel(), 10000)
  local all = ds.test:labels()
  expect.truthy(all:min():item() == 1 and all:max():item() == 10)
  expect.truthy(qv.data.load("mnist", {dir = dir}) == ds)    -- loaded once while alive
  expect.match(tostring(ds), "train 50000")
  expect.error(function() ds.train:images(50000, 2) end, "exceeds the set size 50000")
  expect.error(function() ds.train:images(0) end, "index 0 is out of range 1..50000")
end)

test("Fashion-MNIST batches are reproducible under qv.seed", function()
  if not qv.exists(FMNIST) then print("  (skipped: " .. FMNIST .. " absent)"); return end
  local ds = qv.data.load("fmnist", {validation = 10000})
  expect.eq(#ds.train, 50000)
  local function first_batches(binarize)
    qv.seed(21)
    local out, n = {}, 0
    for x, y in ds.train:batches{size = 64, binarize = binarize} do
      n = n + 1
      out[n] = {x, y}
      if n == 3 then break end
    end
    return out
  end
  local a, b = first_batches("dynamic"), first_batches("dynamic")
  for i = 1, 3 do
    expect.eq(a[i][1].shape, {64, 784})
    expect.eq(a[i][2].shape, {64})
    expect.truthy(a[i][1]:equal(b[i][1]))
    expect.truthy(a[i][2]:equal(b[i][2]))
  end
  -- dynamic binarization gives 0/1 values
  local x = a[1][1]
  expect.eq((x:eq(0) + x:eq(1)):sum():item(), 64 * 784)
  -- static: the same images binarize the same way each time
  local s1 = ds.test:batches{size = 10, shuffle = false, binarize = "static"}()
  local s2 = ds.test:batches{size = 10, shuffle = false, binarize = "static"}()
  expect.truthy(s1:equal(s2))
  local t = ds.test:batches{size = 10, shuffle = false, binarize = "threshold", threshold = 0.5}()
  expect.truthy(t:equal(ds.test:images(1, 10):gt(0.5)))
  local g = ds.test:batches{size = 10, shuffle = false}()
  expect.truthy(g:equal(ds.test:images(1, 10)))
end)

test("an epoch covers every example once; drop_last", function()
  if not qv.exists(FMNIST) then print("  (skipped)"); return end
  local ds = qv.data.load("fmnist")
  local n, batches, counts = 0, 0, qv.zeros(10)
  for _, y in ds.test:batches{size = 3000} do
    n = n + y:numel(); batches = batches + 1
    counts = counts + y:one_hot(10):sum(1)
  end
  expect.eq(n, 10000)
  expect.eq(batches, 4)
  expect.eq(counts:totable(), {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000})
  local k = 0
  for _ in ds.test:batches{size = 3000, drop_last = true} do k = k + 1 end
  expect.eq(k, 3)
  expect.eq(qv.data.classes.fmnist[1], "T-shirt/top")
end)

test("bad arguments", function()
  expect.error(function() qv.data.load("cifar") end, "expected one of 'fmnist', 'fashion-mnist', 'mnist', got 'cifar'")
  expect.error(function() qv.data.load("mnist", {dir = "/nonexistent"}) end, "/nonexistent")
  expect.error(function() qv.data.load("mnist", {directory = "x"}) end, "unknown option 'directory'")
  if qv.exists(FMNIST) then
    local ds = qv.data.load("fmnist")
    expect.error(function() ds.train:batches{binarize = "yes"} end, "expected 'none', 'dynamic', 'static' or 'threshold'")
    expect.error(function() ds.train:batches{size = 0} end, "bad option 'size'")
  end
end)
