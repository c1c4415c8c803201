-- Issue 10: sizes, allocation, overlapping in-place ops, parameter
-- validation, bounded readers and save/load round trips. Each case here
-- crashed the process or gave a wrong result before.

local dir = os.getenv("TMPDIR") or "/tmp"
local function tmp(name) return string.format("%s/qvlua_hard_%d_%s", dir, math.floor(qv.clock() * 1e6) % 1e9, name) end

-- checked sizes ------------------------------------------------------------

test("allocation beyond memory is a Lua error", function()
  expect.error(function() qv.zeros(1e12) end, "cannot allocate 4000000000000 bytes")
  expect.error(function() qv.ones(2^20, 2^20) end, "cannot allocate")
  expect.error(function() qv.randn(1e12) end, "cannot allocate")
end)

test("shapes whose strides overflow are refused", function()
  -- a zero dimension beside huge ones: 0 elements, but strides overflow
  expect.error(function() qv.zeros(0, 2^40, 2^40) end, "too large")
  expect.error(function() qv.zeros(1, 1):expand(2^40, 2^40) end, "expand")
  expect.error(function() qv.zeros(1):expand(2^62) end, "expand")
  expect.error(function() qv.zeros(4):view(2^40, 2^40, -1) end, "view")
  expect.error(function() qv.zeros(4):reshape(2^62, 4, -1) end, "reshape")
  -- broadcasting two small tensors to a huge result
  expect.error(function() return qv.zeros(1, 1):expand(2^20, 1) + qv.zeros(1, 1):expand(1, 2^20) end, "cannot allocate")
end)

test("narrow, chunk and split with huge arguments", function()
  local x = qv.arange(0, 5)
  expect.error(function() x:narrow(1, 2, math.maxinteger) end, "exceeds the size")
  expect.error(function() x:narrow(1, math.maxinteger, 1) end, "")
  local c = x:chunk(math.maxinteger)
  expect.eq(#c, 5)
  expect.eq(c[5]:item(), 4)
  expect.error(function() x:split({math.maxinteger, math.maxinteger, 5}) end, "")
end)

test("arange bounds beyond an Int", function()
  expect.error(function() qv.arange(0, 1e30) end, "arange")
  expect.error(function() qv.arange(0, 10, 1e-30) end, "arange")
  expect.eq(qv.arange(0, 3):numel(), 3)
end)

test("reductions over a dimension of a 0-d tensor", function()
  local s = qv.tensor(3)
  expect.eq(s:mean(1):item(), 3)
  expect.eq(s:sum(1):item(), 3)
  expect.eq(s:var(1, false):item(), 0)
  expect.error(function() s:narrow(1, 1, 1) end, "0-dimensional")
  expect.error(function() s:split(1) end, "0-dimensional")
  expect.error(function() s:size(1) end, "")
end)

test("convolution sizes from a huge stride or padding", function()
  local x, w = qv.ones(1, 1, 4, 4), qv.ones(1, 1, 3, 3)
  expect.error(function() qv.conv_transpose2d(x, w, nil, {stride = 2^40}) end, "")
  expect.error(function() qv.conv_transpose2d(x, w, nil, {stride = 100000}) end, "cannot allocate")
  expect.error(function() qv.conv2d(x, w, nil, {padding = 2^62}) end, "")
  expect.error(function() qv.conv2d(x, w, nil, {padding = 10^7}) end, "")
  expect.eq(qv.conv2d(x, w, nil, {padding = 1}):size(), {1, 1, 4, 4})
end)

-- overlapping in-place ops ---------------------------------------------------

test("in-place ops read an overlapping source before writing", function()
  local s = qv.tensor{{1, 2}, {3, 4}}
  s:add_(s:t())
  expect.eq(s:totable(), {{2, 5}, {5, 8}})
  local x = qv.tensor{1, 2, 3, 4, 5}
  x:narrow(1, 2, 4):add_(x:narrow(1, 1, 4))
  expect.eq(x:totable(), {1, 3, 5, 7, 9})
  local y = qv.tensor{1, 2, 3, 4, 5}
  y:narrow(1, 1, 4):copy_(y:narrow(1, 2, 4))
  expect.eq(y:totable(), {2, 3, 4, 5, 5})
  local a = qv.tensor{1, 2, 3}
  a:add_(a)   -- the very same view is fine
  expect.eq(a:totable(), {2, 4, 6})
end)

test("assignment through an expanded view is refused like add_", function()
  local e = qv.zeros(1):expand(3)
  expect.error(function() e:add_(qv.ones(3)) end, "expanded")
  expect.error(function() e[1] = 5 end, "expanded")
  expect.error(function() e[{{1, 2}}] = qv.ones(2) end, "expanded")
  expect.error(function() e:copy_(qv.tensor{1, 2, 3}) end, "expanded")
  local m = qv.zeros(1, 3):expand(2, 3)
  expect.error(function() m[1] = qv.ones(3) end, "expanded")
  expect.eq(e:sum():item(), 0)
end)

-- parameters and optimizer options ----------------------------------------------

test("Adam and SGD refuse NaN, infinite or out-of-range options", function()
  local w = qv.ones(3):requires_grad_()
  expect.error(function() qv.optim.adam({w}, {eps = 0 / 0}) end, "eps")
  expect.error(function() qv.optim.adam({w}, {eps = -1e-8}) end, "eps")
  expect.error(function() qv.optim.adam({w}, {lr = 0 / 0}) end, "lr")
  expect.error(function() qv.optim.adam({w}, {lr = math.huge}) end, "lr")
  expect.error(function() qv.optim.adam({w}, {weight_decay = 0 / 0}) end, "weight_decay")
  expect.error(function() qv.optim.sgd({w}, {lr = 0.1, momentum = 0 / 0}) end, "momentum")
  expect.error(function() qv.optim.sgd({w}, {lr = 0.1, weight_decay = -1}) end, "weight_decay")
end)

test("a parameter listed twice is refused", function()
  local w = qv.ones(3):requires_grad_()
  expect.error(function() qv.optim.adam({w, w}) end, "listed twice")
  expect.error(function() qv.optim.sgd({w, w}, {lr = 0.1}) end, "listed twice")
end)

test("optimizer state with a negative or NaN step is refused", function()
  local w = qv.ones(3):requires_grad_()
  local opt = qv.optim.adam({w})
  local st = opt:state()
  st.step = qv.tensor(-1)
  expect.error(function() opt:load_state(st) end, "step")
  st.step = qv.tensor(0 / 0)
  expect.error(function() opt:load_state(st) end, "step")
end)

test("Boltzmann machine parameters must be finite", function()
  local g = qv.graph.full_bipartite(2, 2)
  local bm = qv.bm.new(g)
  expect.error(function() bm.bias = {0 / 0, 0, 0, 0} end, "finite")
  expect.error(function() bm.weights = {math.huge, 0, 0, 0} end, "finite")
  expect.error(function() qv.bm.new(g, {bias = {0, 0 / 0, 0, 0}}) end, "finite")
  local z = bm:logz()
  expect.truthy(z == z, "log Z is a number")
  -- finite parameters that a method makes non-finite
  bm.bias = {1, 1, 1, 1}
  expect.error(function() return bm:scaled(1e39) end, "non-finite")
  expect.error(function() return qv.bm.from_ising(g, {J = {3e38, 0, 0, 0}}) end, "finite")
  -- a diverged prior is not handed out as a machine whose log Z is NaN ± 0
  local p = qv.prior.new(g)
  qv.no_grad(function() p.bias:fill_(0 / 0) end)
  expect.error(function() return p:machine() end, "not finite")
end)

-- bounded readers -------------------------------------------------------------

test("a graph read from an endless file stops with an error", function()
  expect.error(function() qv.graph.load("/dev/zero") end, "larger than")
end)

test("a command sampler that never stops writing is stopped at the expected size", function()
  local g = qv.graph.full_bipartite(2, 2)
  local bm = qv.bm.new(g)
  local s = qv.sampler.command{"sh", "-c", "cat >/dev/null; yes '1 1 1 1'", timeout = 30}
  local t0 = qv.clock()
  local msg = expect.error(function() s:sample(bm, 4) end, "bytes of output")
  -- bounded by what 4 samples of 4 values can take, not by a gigabyte
  expect.truthy(tonumber(msg:match("more than (%d+) bytes")) < 1e6, msg)
  expect.truthy(qv.clock() - t0 < 10, "stopped early")
end)

local function write_safetensors(path, header, data)
  local f = io.open(path, "wb")
  f:write(string.pack("<I8", #header), header, data or "")
  f:close()
end

test("safetensors headers that lie about sizes", function()
  local p = tmp("lie.safetensors")
  write_safetensors(p, '{"x":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}')
  expect.error(function() qv.load(p) end, "too large")
  write_safetensors(p, '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', "1234")
  expect.error(function() qv.load(p) end, "outside the data")
  local f = io.open(p, "wb"); f:write(string.pack("<I8", 1 << 62), "{}"); f:close()
  expect.error(function() qv.load(p) end, "exceeds the file size")
  os.remove(p)
end)

-- qv.save / qv.load ------------------------------------------------------------

test("qv.save refuses what qv.load would not give back unchanged", function()
  local p = tmp("rt.safetensors")
  expect.error(function() qv.save(p, {x = qv.ones(1)}, {epoch = 3}) end, "must be a string")
  expect.error(function() qv.save(p, {x = qv.ones(1)}, {ok = true}) end, "must be a string")
  expect.error(function() qv.save(p, {["a\255"] = qv.ones(1)}) end, "not valid UTF-8")
  expect.error(function() qv.save(p, {x = qv.ones(1)}, {k = "\255\254"}) end, "not valid UTF-8")
  expect.error(function() qv.save(p, {x = qv.ones(1)}, {["\200"] = "v"}) end, "not valid UTF-8")
  expect.error(function() qv.save(p, {__metadata__ = qv.ones(1)}) end, "reserved")
  expect.eq(qv.exists(p), false)
  local names = {["ü.weight"] = qv.ones(2), ["a b"] = qv.zeros(1), [""] = qv.ones(1)}
  qv.save(p, names, {note = "π ≈ 3.14", empty = ""})
  local ts, meta = qv.load(p)
  for k, v in pairs(names) do expect.truthy(ts[k] and ts[k]:equal(v), k) end
  expect.eq(meta, {note = "π ≈ 3.14", empty = ""})
  os.remove(p)
end)

test("qv.save refuses a target that is not a regular file", function()
  local fifo = tmp("fifo")
  if os.execute('mkfifo "' .. fifo .. '" 2>/dev/null') then
    expect.error(function() qv.save(fifo, {x = qv.ones(1)}) end, "not a regular file")
    expect.truthy(os.execute('test -p "' .. fifo .. '"'), "the FIFO is still there")
    os.remove(fifo)
  end
  expect.error(function() qv.save("/dev/null", {x = qv.ones(1)}) end, "not a regular file")
end)

-- image grids and plots ----------------------------------------------------------

test("image grid layouts that overflow are errors", function()
  local p = tmp("grid.png")
  local imgs = qv.rand(4, 2, 2)
  qv.image.grid(p, imgs, {columns = 2^62})   -- more columns than images: one row
  expect.error(function() qv.image.grid(p, imgs, {padding = 2^62}) end, "")
  expect.error(function() qv.image.grid(p, imgs, {rows = 2^32, cols = 2^32}) end, "")
  qv.image.grid(p, imgs, {columns = 1000})
  os.remove(p)
end)

test("plots of huge or non-finite values", function()
  local p = tmp("plot.png")
  qv.plot.lines(p, {{title = "t", series = {{name = "a", x = {1, 2, 3}, y = {1e308, -1e308, 0 / 0}}}}})
  qv.plot.lines(p, {{title = "t", series = {{name = "a", x = {-1e308, 1e308, math.huge}, y = {1, 2, 3}}}}})
  qv.plot.lines(p, {{title = "t", series = {{name = "a", x = {1, 2}, y = {1e300, 1e300 * (1 + 2^-50)}}}}})
  qv.plot.lines(p, {{title = "t", series = {{name = "a", x = {0 / 0}, y = {math.huge}}}}})
  os.remove(p)
end)

test("an edge-list file that declares billions of nodes is an error, not an allocation abort", function()
  -- found by the fuzzer's file mutator (seed 20261202): a chimera(1,1,4) file truncated to 38 bytes
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("# chimera(1,1,4)\nnodes 2147483648\n0 21")
  f:close()
  local ok, err = pcall(qv.graph.load, path)
  expect.falsy(ok)
  expect.match(err, "2147483648 nodes: at most 16777216")
  f = assert(io.open(path, "w"))
  f:write("0 1\n5 99999999999\n")
  f:close()
  ok, err = pcall(qv.graph.load, path)
  expect.falsy(ok)
  expect.match(err, "node index 99999999999 beyond the 16777216 nodes")
  os.remove(path)
end)
