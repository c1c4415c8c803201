-- Checkpoints describe themselves (docs/CHECKPOINT.md): a reader with
-- nothing but Python's standard library rebuilds the prior's energy from
-- the file alone and gets qvlua's numbers; every key is documented.

local trainer = require "trainer"
local json = require "json"
local study = require "study"

local MNIST = study.default_data("mnist")

local tmp = helpers.tmpdir("qvckpt")

local function have_python()
  local p = io.popen("python3 -c 'print(1)' 2>/dev/null")
  local out = p and p:read("a") or ""
  if p then p:close() end
  return out:match("1") ~= nil
end

-- Reads a safetensors file with the standard library and prints H(z) for
-- each row of z (one row of 0/1 per line on stdin), from the metadata's
-- edge list and the bias and weights tensors.
local READER = [==[
import json, struct, sys, array
path = sys.argv[1]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
meta = header["__metadata__"]
model = json.loads(meta["model"])
def tensor(name):
    info = header[name]
    assert info["dtype"] == "F32"
    a = array.array("f")
    a.frombytes(data[info["data_offsets"][0]:info["data_offsets"][1]])
    return list(a)
b, W = tensor(model["prior"]["parameters"]["bias"]), tensor(model["prior"]["parameters"]["weights"])
edges = model["prior"]["graph"]["edges"]
assert len(W) == len(edges) and len(b) == model["prior"]["graph"]["nodes"]
for line in sys.stdin:
    z = [float(x) for x in line.split()]
    e = sum(bl * zl for bl, zl in zip(b, z)) + sum(w * z[u] * z[v] for w, (u, v) in zip(W, edges))
    print("%.6f" % e)
]==]

test("a checkpoint's prior rebuilt outside qvlua from its metadata gives qvlua's energies", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  if not have_python() then print("    (skipped: no python3)"); return end
  local r = trainer.run(helpers.tiny(MNIST, {train_n = 100, chains = 20, valid_n = 20, eval_n = 5, eval_k = 2,
                                             logz_chains = 10, logz_temperatures = 10, epochs = 1, out = tmp}))
  local path = r.paths.checkpoint
  local kit = require "vaekit"
  local model, prior = kit.restore(path)
  qv.seed(5)
  local z = qv.rand(4, prior.units):lt(0.5)
  local mine = prior:energy(z)
  local lines = {}
  for i = 1, 4 do
    local row = {}
    for l = 1, prior.units do row[l] = ("%d"):format(z[i][l]) end
    lines[i] = table.concat(row, " ")
  end
  qv.write_file(tmp .. "/z.txt", table.concat(lines, "\n") .. "\n")
  qv.write_file(tmp .. "/reader.py", READER)
  local p = io.popen(("python3 '%s/reader.py' '%s' < '%s/z.txt' 2>&1"):format(tmp, path, tmp))
  local out = p:read("a")
  p:close()
  local i = 0
  for v in out:gmatch("[^\n]+") do
    i = i + 1
    expect.near(tonumber(v) or 0 / 0, mine[i], 1e-4, "row " .. i .. ": " .. out)
  end
  expect.eq(i, 4, out)
  -- the description matches the model
  local _, meta = qv.load(path)
  local d = json.decode(meta.model)
  expect.eq(d.schema, "qvlua-model-1")
  expect.eq(#d.prior.graph.edges, prior.graph.edges)
  expect.eq(#d.posterior.groups, #model.groups)
  expect.eq(d.posterior.groups[1][1], model.groups[1][1] - 1)
end)

test("docs/CHECKPOINT.md names every metadata key and tensor family a checkpoint holds", function()
  local path = tmp .. "/checkpoint.safetensors"
  if not qv.exists(path) then print("    (skipped: no checkpoint from the test above)"); return end
  local doc = study.read_file(qv.root .. "/docs/CHECKPOINT.md")
  local tensors, meta = qv.load(path)
  for key in pairs(meta) do expect.truthy(doc:find("`" .. key .. "`", 1, true), "metadata key " .. key) end
  for name in pairs(tensors) do
    local family = name:gsub("%.%d+%.", ".<i>."):gsub("heads%.<i>%.", "heads.<g>."):gsub("%.%d+$", ".<k>")
    local last = family:match("([^.]+)$")
    local documented = doc:find(family, 1, true) or doc:find("`" .. family:gsub("%.[^.]+$", "") .. ".weight`, `." .. last .. "`", 1, true)
      or doc:find(family:gsub("%.[^.]+$", "") .. ".weight`, `." .. last, 1, true)
    expect.truthy(documented, "tensor " .. name .. " (" .. family .. ")")
  end
  os.execute("rm -rf '" .. tmp .. "'")
end)
