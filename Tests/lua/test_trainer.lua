-- The training library (scripts/lib/trainer.lua): options checked by name,
-- schedules and hooks written in Lua, step-by-step driving, mid-epoch
-- checkpoints that resume bit for bit, checkpoints that hold data only.

local trainer = require "trainer"
local schedule = require "schedule"
local json = require "json"
local study = require "study"
local kit = require "vaekit"

local MNIST = study.default_data("mnist")

local tmp = helpers.tmpdir("qvtrainer")

--- Tiny settings on MNIST: 200 images in batches of 50 (4 steps an epoch).
local function tiny(extra) return helpers.tiny(MNIST, extra) end

local function warmup(epoch) return math.min(1, epoch / 1.5) end
local function kd_switch(epoch, step) if step < 5 then return {k = 1, d = 2} end return {k = 2, d = 1} end

local function rows_without_seconds(rows)
  for _, r in ipairs(rows) do r.seconds = nil end
  return rows
end

local function expect_error(f, pattern)
  local ok, err = pcall(f)
  expect.falsy(ok, "expected an error matching " .. pattern)
  expect.match(tostring(err), pattern)
end

test("options: unknown names (with a suggestion), wrong types and values are errors naming the option", function()
  expect_error(function() trainer.options{epoch = 3} end, "unknown option 'epoch' %(did you mean 'epochs'%?%)")
  expect_error(function() trainer.options{epochs = "three"} end, "option 'epochs': expected an integer")
  expect_error(function() trainer.options{epochs = 0} end, "option 'epochs': 0 is below the minimum 1")
  expect_error(function() trainer.options{network = "rnn"} end, "'rnn' is not one of dense, conv")
  expect_error(function() trainer.options{on_epoch = 1} end, "option 'on_epoch': expected a function")
  expect_error(function() trainer.options{sampler = "nope"} end, "%-%-sampler")
  expect_error(function() trainer.options{kd = "3"} end, "%-%-kd must be")
  expect_error(function() trainer.options{dataset = "mnist"} end, "needs %-%-data")
  local ok, e = pcall(trainer.options, {bogus = 1})
  expect.truthy(trainer.is_option_error(e))
  -- scheduled options take numbers, schedules and functions; defaults are filled in
  local o = trainer.options{kl = warmup, lr = schedule.constant(1e-3), tau = 0.5, kd = {k = 2, d = 4}}
  expect.eq(o.kl, warmup)
  expect.eq(o.epochs, 10)
  expect.eq(o.beta_eff_rate, 0)
  expect.eq(trainer.options{sampler = "annealer"}.beta_eff_rate, 0.01)
  expect.eq(trainer.options{paper = true}.network, "conv")
end)

test("a run driven step by step, with Lua-function schedules and hooks", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local steps, epochs, evals, checkpoints = {}, {}, 0, {}
  local run = trainer.new(tiny{out = tmp .. "/steps", kl = warmup, kd = kd_switch,
    on_step = function(_, info) steps[#steps + 1] = info end,
    on_epoch = function(_, row) epochs[#epochs + 1] = row end,
    on_eval = function() evals = evals + 1 end,
    on_checkpoint = function(_, path) checkpoints[#checkpoints + 1] = path end})
  expect.match(tostring(run), "trainer.Run: mnist %(first 200%), chimera prior")
  local info = run:step()
  expect.eq(info.epoch, 1); expect.eq(info.batch, 1); expect.eq(info.step, 1)
  expect.eq(info.kl, 0); expect.eq(info.k, 1); expect.eq(info.d, 2)
  run:step()
  expect.near(steps[2].kl, warmup(0.25), 1e-12)
  local row = run:epoch()                          -- the rest of epoch 1
  expect.eq(row.epoch, 1)
  expect.eq(#steps, 4)
  expect.eq(#epochs, 1)
  expect.eq(#checkpoints, 1)
  row = run:epoch()
  expect.eq(row.epoch, 2)
  expect.eq(steps[6].k, 2)                           -- kd_switch moved at step 5
  expect.eq(steps[8].kl, 1)
  expect.eq(evals, 1)                                -- the final evaluation
  expect.truthy(run:finished())
  expect_error(function() run:step() end, "the run is finished")
  local rows = run:results().rows
  expect.eq(#rows, 2)
  expect.truthy(rows[2].test_ll < 0)
  expect.truthy(rows[1].weights_l1 > 0)
  for _, f in ipairs{"checkpoint.safetensors", "log.csv", "summary.json", "samples.png", "recon.png", "curves.png"} do
    expect.truthy(qv.exists(tmp .. "/steps/" .. f), f)
  end
end)

test("a mid-epoch checkpoint resumes bit for bit; schedules given as functions must be given again", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local A = trainer.run(tiny{out = tmp .. "/A", kl = warmup, kd = kd_switch})

  local run = trainer.new(tiny{out = tmp .. "/B", kl = warmup, kd = kd_switch})
  run:step(); run:step(); run:step(); run:step(); run:step()  -- epoch 1 and one batch of epoch 2
  run:save()
  run = nil
  collectgarbage()

  local _, meta = qv.load(tmp .. "/B/checkpoint.safetensors")
  expect.eq(meta.format, "qvlua-vae-2")
  local stored = json.decode(meta.options)
  expect.match(stored.kl.schedule, "^Lua function %(.*test_trainer%.lua:%d+%)")
  expect.eq(stored.train_n, 200)
  expect.eq(meta.batch, "1")

  expect_error(function() trainer.new(tiny{out = tmp .. "/B", kd = kd_switch, resume = true}) end,
               "the checkpoint's kl schedule was Lua function .*give the function again")
  expect_error(function() trainer.new(tiny{out = tmp .. "/B", kl = warmup, kd = kd_switch, resume = true, seed = 4}) end,
               "trained with %-%-seed 3, not 4")
  local B = trainer.new(tiny{out = tmp .. "/B", kl = warmup, kd = kd_switch, resume = true}):run()
  expect.eq(rows_without_seconds(B.rows), rows_without_seconds(A.rows))
  expect.eq(B.final.ll, A.final.ll)
  local ta, tb = qv.load(A.paths.checkpoint), qv.load(B.paths.checkpoint)
  for name, t in pairs(ta) do expect.truthy(t:equal(tb[name]), name) end

  -- a finished run resumed again writes what is missing and trains nothing
  os.remove(tmp .. "/B/summary.json")
  local C = trainer.new(tiny{out = tmp .. "/B", kl = warmup, kd = kd_switch, resume = true}):run()
  expect.truthy(qv.exists(tmp .. "/B/summary.json"))
  expect.eq(C.epochs, 2)
  local D = trainer.new(tiny{out = tmp .. "/B", kl = warmup, kd = kd_switch, resume = true}):run()
  expect.near(D.final.ll, C.final.ll, 1e-9)
end)

test("bad schedules are errors naming the schedule, found when the run is built or at the step", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  expect_error(function() trainer.new(tiny{out = tmp .. "/bad", kl = function() return "much" end}) end,
               "schedule kl at epoch 0: expected a number, got much")
  expect_error(function() trainer.new(tiny{out = tmp .. "/bad", kd = function() return {k = 0} end}) end,
               "kd at epoch 0: expected {k = K, d = D}")
  local run = trainer.new(tiny{out = tmp .. "/bad", lr = function(e) if e > 0 then error("boom") end return 1e-3 end})
  run:step()
  expect_error(function() run:step() end, "schedule lr at epoch 0.25: .*boom")
  expect.falsy(qv.exists(tmp .. "/bad/log.csv"))
end)

test("a schedule of negative-phase sweeps moves the PCD chains' sweeps between steps", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local run = trainer.new(tiny{out = tmp .. "/sweeps", epochs = 1, sweeps = function(epoch) return epoch < 0.5 and 2 or 7 end})
  local seen = {}
  run.hooks.on_step = function(r) seen[#seen + 1] = r.prior.sweeps end
  for _ = 1, 4 do run:step() end
  expect.eq(seen, {2, 2, 7, 7})
  run:close()
  expect_error(function() trainer.new(tiny{out = tmp .. "/sweeps-pa", sampler = "pa", sweeps = schedule.constant(3)}) end,
               "a schedule of sweeps needs the pcd sampler")
  local p = qv.prior.new(qv.graph.chimera(1, 1, 4), {sampler = qv.sampler.pa{}})
  expect.eq(p.sweeps, nil)
  expect_error(function() p.sweeps = 3 end, "only a gibbs %(PCD%) sampler's sweeps can change")
end)

test("any sampler object drives the negative phase, e.g. one written in Lua", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local calls = 0
  local gibbs = qv.sampler.gibbs{sweeps = 5, burn_in = 20}
  local mine = qv.sampler.lua(function(bm, n)
    calls = calls + 1
    return gibbs:sample(bm, n)
  end, {name = "mine"})
  local run = trainer.new(tiny{out = tmp .. "/luasampler", sampler = mine, epochs = 1})
  run:step(); run:step()
  expect.eq(calls, 2)
  run:save()
  expect_error(function() trainer.new(tiny{out = tmp .. "/luasampler", sampler = mine, epochs = 1, resume = true}) end,
               "luasampler is in use by another run: .*locked by another object of this process")
  run:close()
  local _, meta = qv.load(tmp .. "/luasampler/checkpoint.safetensors")
  expect.match(json.decode(meta.options).sampler.object, "qv.Sampler")
  expect_error(function() trainer.new(tiny{out = tmp .. "/luasampler", epochs = 1, resume = true}) end,
               "the checkpoint's sampler was a Lua object .*give it again")
  local r = trainer.new(tiny{out = tmp .. "/luasampler", sampler = mine, epochs = 1, resume = true}):run()
  expect.eq(calls, 4)
  expect.truthy(r.final.ll < 0)
end)

test("an existing run is never overwritten without resume or force; one writer per OUT", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local out = tmp .. "/guard"
  local run = trainer.new(tiny{out = out, epochs = 1})
  -- a second run into the same OUT while the first holds it
  expect_error(function() trainer.new(tiny{out = out, epochs = 1}) end, "guard is in use by another run")
  run:run()
  run:close()
  local log = study.read_file(out .. "/log.csv")
  local ok, e = pcall(trainer.new, tiny{out = out, epochs = 1})
  expect.falsy(ok)
  expect.truthy(trainer.is_option_error(e))
  expect.match(tostring(e), "guard holds a run %(checkpoint%.safetensors%); %-%-resume continues it, %-%-force starts afresh")
  expect.eq(study.read_file(out .. "/log.csv"), log, "log.csv untouched")
  expect_error(function() trainer.options{resume = true, force = true, out = out} end, "exclude each other")
  -- --force starts afresh: the old outputs are gone at once
  local fresh = trainer.new(tiny{out = out, epochs = 1, force = true})
  expect.falsy(qv.exists(out .. "/summary.json"))
  expect.falsy(qv.exists(out .. "/checkpoint.safetensors"))
  fresh:close()
end)

test("temporary files a killed run left behind are removed when the next run takes OUT", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local out = tmp .. "/stale"
  qv.mkdir(out)
  -- the pid of a process that has exited, and this process's own
  local p = io.popen("sh -c 'echo $$'")
  local dead = tonumber(p:read("l"))
  p:close()
  local stale = ("%s/.checkpoint.safetensors.tmp-%d-1a2b"):format(out, dead)
  local f = assert(io.open(stale, "w")); f:write(("x"):rep(1000)); f:close()
  local other = out .. "/.notes.tmp-x-y"
  f = assert(io.open(other, "w")); f:write("keep"); f:close()
  local run = trainer.new(tiny{out = out, epochs = 1})
  expect.falsy(qv.exists(stale), "stale temporary file removed")
  expect.truthy(qv.exists(other), "unrelated file kept")
  run:close()
end)

test("format-1 checkpoint options are read as data, never run", function()
  local t = kit.read_literal('{beta_eff = 1, data = "a \\"q\\" b", epochs = 3, paper = false, tau = 0.142857}')
  expect.eq(t, {beta_eff = 1, data = 'a "q" b', epochs = 3, paper = false, tau = 0.142857})
  expect_error(function() kit.read_literal('{x = os.exit(3)}') end, "corrupt options")
  expect_error(function() kit.read_literal('(function() while true do end end)()') end, "corrupt options")
end)

test("train.lua --config may require the project's libraries and give functions", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local cfg = tmp .. "/config.lua"
  local f = assert(io.open(cfg, "w"))
  f:write([[
local schedule = require "schedule"
return {
  kl = schedule.linear{from = 0, to = 1, over = 1},
  kd = function(epoch) return {k = 1, d = 2} end,
  on_epoch = function(run, row) print(("hook: epoch %d kl %.2f"):format(row.epoch, row.kl_weight)) end,
}
]])
  f:close()
  local exe = study.interpreter(arg, qv.root)
  local cmd = ("cd '%s' && '%s' scripts/train.lua --config '%s' --dataset mnist --data '%s' --train-n 100 " ..
               "--batch-size 50 --chains 20 --valid-n 20 --eval-n 5 --eval-k 2 --logz-chains 10 " ..
               "--logz-temperatures 10 --epochs 2 --out '%s' 2>&1"):format(qv.root, exe, cfg, MNIST, tmp .. "/cfg")
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok = p:close()
  expect.truthy(ok, out)
  expect.match(out, "hook: epoch 1 kl 0%.50")   -- the last step's value (epoch 0.5)
  expect.match(out, "hook: epoch 2")
  expect.match(out, "test LL")
end)

test("REPL.md 'Training from the REPL': every line runs, and the resumed run finishes", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local doc = study.read_file(qv.root .. "/REPL.md")
  local section = doc:match("\n## Training from the REPL\n(.-)\n## ") or doc:match("\n## Training from the REPL\n(.*)$")
  expect.truthy(section, "REPL.md has the section")
  local input = {}
  for line in section:gmatch("[^\n]+") do
    local l = line:match("^>> ?(.*)$") or line:match("^> ?(.*)$")
    if l then
      l = l:gsub('"runs/repl"', '"' .. tmp .. '/repl"'):gsub('"%.%./shared/data/mnist"', '"' .. MNIST .. '"')
      input[#input + 1] = l
    end
  end
  expect.truthy(#input >= 20, "lines of the session: " .. #input)
  local f = assert(io.open(tmp .. "/repl_in.lua", "w"))
  f:write(table.concat(input, "\n"), "\n")
  f:close()
  local exe = study.interpreter(arg, qv.root)
  local ok = os.execute(("cd '%s' && '%s' -i < '%s' > '%s' 2>&1"):format(qv.root, exe, tmp .. "/repl_in.lua",
                                                                       tmp .. "/repl_out"))
  local out = study.read_file(tmp .. "/repl_out") or ""
  expect.truthy(ok, out)
  expect.falsy(out:find("stack traceback", 1, true), out)
  expect.match(out, "resuming .*/repl/checkpoint%.safetensors at epoch 1 batch 2")
  expect.match(out, "%-> epoch 4: KL weight 1%.00, K 8, D 1")
  expect.match(out, "test LL %-%d+%.%d+ ± ")
  for _, name in ipairs{"samples.png", "curves.png", "summary.json"} do
    expect.truthy(qv.exists(tmp .. "/repl/" .. name), name)
  end
end)

test("cleanup", function()
  os.execute("rm -rf '" .. tmp .. "'")
end)
