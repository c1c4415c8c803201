-- scripts/train.lua, evaluate.lua and sample.lua end to end (ISSUE 6), run
-- as separate qvlua processes on a small subset of Fashion-MNIST:
-- an exact resume after SIGKILL, bad options, NaN detection.

local root = qv.root or ((arg and arg[0] or ""):match("^(.*)/Tests/lua/[^/]*$") or ".")
local FMNIST = "/usr/share/datasets/fashion-mnist"

local QVLUA = helpers.interpreter()
local q = helpers.q

local tmp = os.tmpname()
os.remove(tmp)
tmp = tmp .. "_qvtrain"
assert(os.execute("mkdir -p " .. q(tmp)))

local study = require "study"
local read = study.read_file

--- Runs a script; returns exit code, stdout, stderr.
local function run(script, args)
  local out, err = tmp .. "/stdout", tmp .. "/stderr"
  local cmd = ("cd %s && %s %s %s > %s 2> %s"):format(q(root), q(QVLUA), q(script), args, q(out), q(err))
  local _, _, code = os.execute(cmd)
  return code, read(out) or "", read(err) or ""
end

-- Tiny settings: 600 training images, small evaluation.
local SMALL = "--train-n 600 --batch-size 50 --chains 100 --valid-n 100 --eval-n 20 --eval-k 10 " ..
              "--logz-chains 50 --logz-temperatures 50"

local function have_data() return qv.exists(FMNIST) end

--- log.csv rows (tables of cells) without the wall-clock column "seconds".
local function log_rows(dir)
  local rows, header = {}, nil
  for line in (read(dir .. "/log.csv") or ""):gmatch("[^\n]+") do
    local cells = {}
    for cell in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = cell end
    if not header then header = cells else rows[#rows + 1] = cells end
  end
  for i, name in ipairs(header or {}) do
    if name == "seconds" then for _, r in ipairs(rows) do r[i] = "-" end end
  end
  return rows
end

--- The final summary: its "test LL" line, and after annealer training the
--- "at beta = 1" line under it (the headline is then the auxiliary machine's).
local function summary_line(stdout)
  local s = stdout:match("\n(test LL [^\n]+)")
  local beta1 = s and stdout:match("\n" .. s:gsub("%p", "%%%0") .. "\n(  at beta = 1: [^\n]+)")
  return s and beta1 and (s .. "\n" .. beta1) or s
end

test("bad options: a clear message and the usage, exit 2, nothing written", function()
  local cases = {
    {"--bogus", "unknown option"},
    {"--epochs x", "--epochs"},
    {"--epochs 0", "--epochs"},
    {"--data /nonexistent/qvlua-data", "data directory not found"},
    {"--dataset mnist", "--dataset mnist needs --data"},
    {"--prior nosuch-graph", "--prior"},
    {"--kd 3", "--kd"},
    {"--lr -1", "learning rates must be positive"},
    {"--sampler nope", "--sampler"},
    {"--resume", "no checkpoint"},
    {"--gamma -1", "--gamma"},
    {"--gamma 0.5 --sampler pa", "--sampler must be pcd"},
    {"--gamma 0.5 --slices 1", "--slices"},
  }
  if have_data() then cases[#cases + 1] = {"--train-n 999999", "--train-n 999999"} end
  for i, c in ipairs(cases) do
    local out = tmp .. "/bad" .. i
    local code, stdout, stderr = run("scripts/train.lua", c[1] .. " --out " .. q(out))
    expect.ne(code, 0, c[1] .. ": exit code")
    expect.truthy(stderr:find(c[2], 1, true), c[1] .. ": message '" .. c[2] .. "' not in: " .. stderr)
    expect.truthy(stderr:find("usage: qvlua scripts/train.lua", 1, true), c[1] .. ": usage not shown: " .. stderr)
    expect.falsy(qv.exists(out), c[1] .. ": wrote " .. out)
  end
  local code, _, stderr = run("scripts/evaluate.lua", "--k 0 nothing.safetensors")
  expect.ne(code, 0); expect.match(stderr, "usage")
  code, _, stderr = run("scripts/evaluate.lua", q(tmp .. "/missing.safetensors"))
  expect.eq(code, 1); expect.match(stderr, "no checkpoint at")
  code, _, stderr = run("scripts/sample.lua", q(tmp .. "/missing.safetensors") .. " --out " .. q(tmp .. "/s.png"))
  expect.eq(code, 1); expect.match(stderr, "no checkpoint at")
  expect.falsy(qv.exists(tmp .. "/s.png"))
end)

test("--gamma: a quantum Boltzmann prior trained with the Q-ELBO, evaluated as a bound", function()
  if not have_data() then return end
  local out = tmp .. "/quantum"
  local code, stdout, err = run("scripts/train.lua", SMALL .. " --epochs 1 --gamma 0.5 --slices 8 --out " .. q(out))
  expect.eq(code, 0, err)
  expect.match(stdout, "quantum prior %(Q%-ELBO, Eqs. 13%-16%): Γ = 0.5, PIMC negative phase 100 chains × 8 slices")
  expect.match(stdout, "test LL %-?[%d.]+ ± [%d.]+ %[Q%-ELBO bound, Eq. 15%]")
  expect.truthy(qv.exists(out .. "/summary.json"))
  local code_e, stdout_e, err_e = run("scripts/evaluate.lua", q(out .. "/checkpoint.safetensors") ..
                                      " --n 10 --k 5 --chains 32 --temperatures 20")
  expect.eq(code_e, 0, err_e)
  expect.match(stdout_e, "Q%-ELBO bound")
end)

test("--help lists the options", function()
  local code, stdout = run("scripts/train.lua", "--help")
  expect.eq(code, 0)
  for _, o in ipairs{"--train-n", "--resume", "--eval-k", "--valid-n", "--logz-chains", "--sampler", "--beta-eff-rate",
                     "--h-noise", "--j-noise", "--gauges", "--gamma", "--slices"} do
    expect.truthy(stdout:find(o, 1, true), o)
  end
end)

--- Trains `opts` uninterrupted into A, and again into B, SIGKILLed once the
--- epoch-1 checkpoint exists and then resumed; both must end identically.
local function check_resume(name, opts, epochs)
  local A, B = tmp .. "/" .. name .. "A", tmp .. "/" .. name .. "B"
  local code, stdout_a, err = run("scripts/train.lua", opts .. " --out " .. q(A))
  expect.eq(code, 0, err)
  local sum_a = summary_line(stdout_a)
  expect.truthy(sum_a, stdout_a)

  local pidfile = tmp .. "/pid"
  assert(os.execute(("cd %s && %s scripts/train.lua %s --out %s > %s 2>&1 & echo $! > %s"):format(
    q(root), q(QVLUA), opts, q(B), q(tmp .. "/B.out"), q(pidfile))))
  local pid = tonumber(read(pidfile))
  local t0 = qv.clock()
  while not qv.exists(B .. "/checkpoint.safetensors") do
    if qv.clock() - t0 > 60 then os.execute("kill -9 " .. pid); error("no checkpoint after 60 s: " .. (read(tmp .. "/B.out") or "")) end
    qv.sleep(0.005)
  end
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  os.execute(("while kill -0 %d 2>/dev/null; do sleep 0.02; done"):format(pid))
  expect.eq(#log_rows(B), 1, name .. ": killed during epoch 2 (log rows at the kill)")
  local _, meta = qv.load(B .. "/checkpoint.safetensors")
  expect.eq(meta.epoch, "1")
  expect.falsy(qv.exists(B .. "/samples.png"))

  local code_b, stdout_b, err_b = run("scripts/train.lua", opts .. " --resume --out " .. q(B))
  expect.eq(code_b, 0, err_b)
  expect.match(stdout_b, "resuming .* at epoch 1")
  expect.eq(summary_line(stdout_b), sum_a, name .. ": final summary")
  local ra, rb = log_rows(A), log_rows(B)
  expect.eq(#ra, epochs)
  expect.eq(rb, ra, name .. ": log.csv")
  -- The final checkpoints hold bit-identical tensors (model, optimizer, prior chains and stream).
  local ta = qv.load(A .. "/checkpoint.safetensors")
  local tb = qv.load(B .. "/checkpoint.safetensors")
  local n = 0
  for tname, t in pairs(ta) do
    n = n + 1
    expect.truthy(tb[tname], tname)
    expect.truthy(t:equal(tb[tname]), name .. ": " .. tname .. " differs")
  end
  expect.truthy(n > 20)
  for _, f in ipairs{"samples.png", "recon.png", "curves.png", "log.csv", "summary.json"} do expect.truthy(qv.exists(B .. "/" .. f), f) end
  local js = require("json").decode(read(B .. "/summary.json"))
  expect.eq(string.format("%.2f", js.test_ll), sum_a:match("at beta = 1: test LL (%-?[%d.]+)") or sum_a:match("test LL (%-?[%d.]+)"),
            name .. ": summary.json test_ll")
  if js.test_ll_aux then
    expect.eq(string.format("%.2f", js.test_ll_aux), sum_a:match("^test LL (%-?[%d.]+)"), name .. ": summary.json test_ll_aux")
  end
  expect.eq(js.active_units, tonumber(sum_a:match("active units (%d+)")))
  return A
end

test("killed mid-epoch and resumed: the same numbers as an uninterrupted run", function()
  if not have_data() then print("    (skipped: no Fashion-MNIST)"); return end
  local A = check_resume("dense", SMALL .. " --epochs 3 --seed 7", 3)

  -- evaluate.lua and sample.lua on the checkpoint.
  local ckpt = q(A .. "/checkpoint.safetensors")
  local code_e, stdout_e, err_e = run("scripts/evaluate.lua", ckpt .. " --n 20 --k 10 --chains 50 --temperatures 50")
  expect.eq(code_e, 0, err_e)
  expect.match(stdout_e, "trained 3 epochs")
  expect.match(stdout_e, "test LL %-?%d+%.%d+ ± ")
  expect.match(stdout_e, "reconstruction %d+%.%d+  KL")
  for _, extra in ipairs{"", "--zero-couplings", "--chain 5 --n 20"} do
    local png = tmp .. "/sample" .. #extra .. ".png"
    local code_s, stdout_s, err_s = run("scripts/sample.lua", ckpt .. " " .. extra .. " --out " .. q(png))
    expect.eq(code_s, 0, err_s)
    expect.match(stdout_s, "wrote ")
    expect.truthy(qv.exists(png), png)
  end
end)

test("conv networks (batch norm, dropout) resume exactly too", function()
  if not have_data() then print("    (skipped: no Fashion-MNIST)"); return end
  check_resume("conv", "--network conv --train-n 100 --batch-size 50 --chains 100 --valid-n 50 --eval-n 10 " ..
               "--eval-k 5 --logz-chains 50 --logz-temperatures 50 --epochs 2 --seed 3", 2)
end)

test("--gamma: a quantum prior (PIMC chains, log Z cache, stream) resumes exactly", function()
  if not have_data() then print("    (skipped: no Fashion-MNIST)"); return end
  check_resume("quantum", SMALL .. " --epochs 2 --gamma 0.5 --slices 4 --seed 3", 2)
end)

test("--sampler annealer: beta_eff tracks the emulator's temperature (Eq. C3), and resumes exactly", function()
  if not have_data() then print("    (skipped: no Fashion-MNIST)"); return end
  -- 3 x 50 steps; the emulator samples at beta 0.5, the prior's beta_eff starts at 1 (it moves
  -- slowly at first, while the prior's energies hardly vary).
  local opts = "--sampler annealer --beta-eff 0.5 --train-n 1000 --batch-size 20 --chains 100 --valid-n 50 " ..
               "--eval-n 10 --eval-k 5 --logz-chains 50 --logz-temperatures 50 --epochs 3 --seed 5"
  local A = check_resume("annealer", opts, 3)
  local header, rows = nil, {}
  for line in (read(A .. "/log.csv") or ""):gmatch("[^\n]+") do
    local cells = {}
    for cell in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = cell end
    if not header then header = cells else rows[#rows + 1] = cells end
  end
  local col
  for i, name in ipairs(header) do if name == "beta_eff" then col = i end end
  local b1, b2, b3 = tonumber(rows[1][col]), tonumber(rows[2][col]), tonumber(rows[3][col])
  expect.truthy(b1 < 0.97 and b2 < b1, ("beta_eff falls from 1: %g, %g"):format(b1, b2))
  expect.truthy(math.abs(b3 - 0.5) < 0.15, ("beta_eff after 150 steps: %g (emulator: 0.5)"):format(b3))
  -- the rate is off for PCD, whose samples are thermal at beta 1
  local code, stdout = run("scripts/train.lua", SMALL .. " --epochs 1 --out " .. q(tmp .. "/pcdbeta"))
  expect.eq(code, 0)
  expect.falsy(stdout:find("beta_eff", 1, true), stdout)
  expect.eq(tonumber(log_rows(tmp .. "/pcdbeta")[1][col]), 1)
end)

test("REPL.md 'Exploring a trained prior': every line runs on a fresh checkpoint", function()
  if not have_data() then print("    (skipped: no Fashion-MNIST)"); return end
  local doc = read(root .. "/REPL.md")
  local section = doc:match("\n## Exploring a trained prior\n(.-)\n## ") or doc:match("\n## Exploring a trained prior\n(.*)$")
  expect.truthy(section, "REPL.md has the section")
  local dir = tmp .. "/replprior"
  local code, _, err = run("scripts/train.lua", SMALL .. " --epochs 1 --out " .. q(dir))
  expect.eq(code, 0, err)
  local input, pngs = {}, {}
  for line in section:gmatch("[^\n]+") do
    local l = line:match("^>> ?(.*)$") or line:match("^> ?(.*)$")
    if l then
      l = l:gsub("runs/default/checkpoint%.safetensors", dir .. "/checkpoint.safetensors")
      l = l:gsub('"([%w_]+)%.png"', function(name) pngs[#pngs + 1] = name; return '"' .. dir .. "/" .. name .. '.png"' end)
      input[#input + 1] = l
    end
  end
  expect.truthy(#input >= 40, "lines of the session: " .. #input)
  expect.truthy(#pngs >= 4, "images written: " .. #pngs)
  local f = assert(io.open(tmp .. "/repl_in.lua", "w"))
  f:write(table.concat(input, "\n"), "\n")
  f:close()
  local cmd = ("cd %s && %s -i < %s > %s 2>&1"):format(q(root), q(QVLUA), q(tmp .. "/repl_in.lua"), q(tmp .. "/repl_out"))
  local ok = os.execute(cmd)
  local out = read(tmp .. "/repl_out") or ""
  expect.truthy(ok, out)
  expect.falsy(out:find("stack traceback", 1, true), out)
  expect.falsy(out:find("stdin:%d+:"), out)
  expect.match(out, "qv%.Samples: 4000 × 288 from pa")
  for _, name in ipairs(pngs) do expect.truthy(qv.exists(dir .. "/" .. name .. ".png"), name) end
end)

test("NaN mid-training is reported naming the tensor, with the last checkpoint", function()
  if not have_data() then print("    (skipped: no Fashion-MNIST)"); return end
  local out = tmp .. "/nan"
  local code, stdout, stderr = run("scripts/train.lua", SMALL .. " --epochs 2 --lr 1e30 --out " .. q(out))
  expect.eq(code, 1, stdout .. stderr)
  expect.match(stderr, "non%-finite [%w_.]+")
  expect.match(stderr, "at epoch %d+ batch %d+")
  expect.falsy(qv.exists(out .. "/samples.png"))
end)

test("cleanup", function()
  os.execute("rm -rf " .. q(tmp))
end)
