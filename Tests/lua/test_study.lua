-- scripts/lib/study.lua: the pure helpers of scripts/studies/*.lua, a
-- study end to end against a stub trainer, and one with real (tiny)
-- training runs in this process: a killed run resumes.
local study = require "study"
local runlog = require "runlog"

test("lists and seeds", function()
  expect.eq(study.list("bernoulli, chimera,,pegasus "), {"bernoulli", "chimera", "pegasus"})
  expect.eq(study.list(""), {})
  expect.eq(study.seeds("3"), {1, 2, 3})
  expect.eq(study.seeds("1"), {1})
  expect.eq(study.seeds("4,7, 9"), {4, 7, 9})
  local s, err = study.seeds("0")
  expect.eq(s, nil); expect.match(err, "count N >= 1")
  s, err = study.seeds("1,x")
  expect.eq(s, nil); expect.match(err, "'x' is not an integer")
end)

test("--train-args words", function()
  expect.eq(study.words("  --chains 200\t--batch-size 50 "), {"--chains", "200", "--batch-size", "50"})
  expect.eq(study.words(nil), {})
end)

test("the running interpreter's path", function()
  local yes = function() return true end
  local no = function() return false end
  expect.eq(study.interpreter({[-1] = ".build/release/qvlua", [0] = "s.lua"}, "/r", yes), ".build/release/qvlua")
  -- the lowest index is the interpreter when qvlua options precede the script
  expect.eq(study.interpreter({[-3] = "/x/qvlua", [-2] = "-e", [-1] = "x=1", [0] = "s.lua"}, "/r", yes), "/x/qvlua")
  expect.eq(study.interpreter({[-1] = "qvlua", [0] = "s.lua"}, "/r", no), "qvlua")            -- on PATH
  expect.eq(study.interpreter({[-1] = "./gone/qvlua", [0] = "s.lua"}, "/r", no), "/r/.build/release/qvlua")
  expect.eq(study.interpreter({[0] = "s.lua"}, "/r", no), "/r/.build/release/qvlua")
  -- under the test runner: whatever runs this file exists
  expect.truthy(qv.exists(study.interpreter(arg, qv.root)) or not study.interpreter(arg, qv.root):find("/"))
end)

test("a run's numbers from trainer results", function()
  local r = study.results_of({final = {ll = -90, ll_se = 0.3, logz = 12, logz_err = 0.4, elbo = -95, active = 40},
                             rows = {{epoch = 1, seconds = 2, valid_elbo = -99, beta_eff = 1},
                                     {epoch = 2, seconds = 3, valid_elbo = -97, beta_eff = 0.9, active_units = 41}}})
  expect.eq(r.ll, -90); expect.near(r.ll_err, 0.5); expect.eq(r.elbo, -95); expect.eq(r.active, 40)
  expect.eq(r.epochs_done, 2); expect.eq(r.train_seconds, 5); expect.eq(r.valid_elbo, -97); expect.eq(r.beta_eff, 0.9)
  local none, err = study.results_of({rows = {}})
  expect.eq(none, nil); expect.match(err, "no final evaluation")
end)

test("mean and standard error", function()
  local m, se, n = study.mean_se{1, 2, 3, 4}
  expect.near(m, 2.5); expect.near(se, math.sqrt(5 / 3) / 2); expect.eq(n, 4)
  m, se, n = study.mean_se{-82.8}
  expect.eq(m, -82.8); expect.eq(se, nil); expect.eq(n, 1)
  m, se, n = study.mean_se{0 / 0, 2, math.huge, 4}
  expect.eq(m, 3); expect.near(se, 1); expect.eq(n, 2)
  m, se, n = study.mean_se{}
  expect.eq(m, nil); expect.eq(se, nil); expect.eq(n, 0)
  expect.eq(study.pm(-82.8, 0.2), "-82.80 ± 0.20")
  expect.eq(study.pm(97, nil, "%.1f"), "97.0")
  expect.eq(study.pm(nil, 1), "-")
  expect.eq(study.pm(0 / 0, 1), "-")
end)

test("aggregation over seeds", function()
  local results = {
    {condition = "bernoulli", seed = 1, ok = true, ll = -100, ll_err = 0.5, active = 40},
    {condition = "chimera", seed = 1, ok = true, ll = -96, ll_err = 0.4, active = 60},
    {condition = "bernoulli", seed = 2, ok = true, ll = -102, ll_err = 0.5, active = 42},
    {condition = "chimera", seed = 2, ok = false, error = "exit status 1"},
  }
  local rows = study.aggregate(results, {"ll", "active"})
  expect.eq(#rows, 2)
  expect.eq(rows[1].condition, "bernoulli"); expect.eq(rows[1].n, 2); expect.eq(rows[1].se_kind, "seeds")
  expect.near(rows[1].ll, -101); expect.near(rows[1].ll_se, 1); expect.near(rows[1].active, 41)
  expect.eq(rows[1].seeds, {1, 2})
  -- one finished run: its own error bar, marked as the estimator's
  expect.eq(rows[2].n, 1); expect.eq(rows[2].runs, 2); expect.eq(rows[2].failed, 1)
  expect.eq(rows[2].ll, -96); expect.eq(rows[2].ll_se, 0.4); expect.eq(rows[2].se_kind, "estimator")
  expect.eq(rows[2].active_se, nil)
end)

test("table formatting and orderings", function()
  local t = study.format_table({"prior", "test LL", "active units"},
                               {{"bernoulli", "-101.00 ± 1.00", "41.0"}, {"rbm", "-9.50", "120.0"}})
  expect.eq(t, table.concat({
    "prior             test LL  active units",
    "---------  --------------  ------------",
    "bernoulli  -101.00 ± 1.00          41.0",
    "rbm                 -9.50         120.0"}, "\n"))
  expect.eq(study.ordering({"rbm", "bernoulli", "chimera", "pegasus"}, {-90, -100, 0 / 0, -95}),
            "bernoulli < pegasus < rbm < chimera")
  expect.eq(study.ordering({"a", "b", "c", "d"}, {0, 0, 2, nil}), "a = b < c < d")
end)

test("plot panels name the conditions and add s.e. lines with several seeds", function()
  local panels = study.plot_panels{{condition = "bernoulli", ll = -100, ll_se = 1, se_kind = "seeds", elbo = -105, active = 40},
                                   {condition = "chimera", ll = -96, ll_se = 0.5, se_kind = "seeds", elbo = -99, active = 60}}
  expect.eq(#panels, 2)
  expect.eq(panels[1].xlabel, "1 bernoulli  2 chimera")
  expect.eq(#panels[1].series, 4)
  expect.eq(panels[1].series[3].y, {-101, -96.5})
  expect.eq(panels[2].series[1].y, {40, 60})
  panels = study.plot_panels{{condition = "a", ll = -1, ll_se = 0.1, se_kind = "estimator"}}
  expect.eq(#panels[1].series, 2)
  expect.truthy(panels[2].series[1].y[1] ~= panels[2].series[1].y[1])  -- missing → NaN gap
end)

test("MNIST default directory beside the project root", function()
  expect.eq(study.default_data("mnist", "/work/wt", function(p) return p == "/work/shared/data/mnist" end),
            "/work/shared/data/mnist")
  expect.eq(study.default_data("mnist", "/work/wt", function() return false end), nil)
  expect.eq(study.default_data("fmnist", "/work/wt", function() return true end), nil)
end)

--- A stub trainer: an LL that depends on the prior and the seed; fails
--- for prior "broken"; counts its calls.
local calls = 0
local function stub_train(o)
  calls = calls + 1
  if o.prior == "broken" then error("stub: broken prior", 0) end
  local ll = ({bernoulli = -100, chimera = -95})[o.prior] - o.seed
  o.echo("epoch 2/2")
  return {final = {ll = ll, ll_se = 0.3, logz = 12, logz_err = 0.01, elbo = ll - 3, active = 40 - o.seed},
          rows = {{epoch = 1, valid_elbo = ll - 5, beta_eff = 1, seconds = 0.5},
                  {epoch = 2, valid_elbo = ll - 5, beta_eff = 1, seconds = 0.5}}}
end

test("a study end to end against a stub trainer: conditions, seeds, options, report", function()
  local dir = os.tmpname()
  os.remove(dir)
  qv.mkdir(dir)
  local o = {dataset = "fmnist", network = "dense", epochs = 2, seeds = "2", eval_k = 10, eval_n = 10,
             out = dir .. "/study", train_args = "--chains 7 --no-quiet", rerun = false, dry_run = false}
  local printed = {}
  local function echo(line) printed[#printed + 1] = line end
  local seen = {}
  local s = study.new(o, {name = "stubby", echo = echo, train = function(opts)
    seen[#seen + 1] = opts
    return stub_train(opts)
  end})
  s:condition("bernoulli", {prior = "bernoulli"})
  s:condition("chimera", {prior = "chimera"})
  local ok, err = pcall(function()
    local rows, results = s:run()
    expect.eq(#results, 4)
    for _, r in ipairs(results) do expect.truthy(r.ok, r.error) end
    expect.eq(seen[1].chains, 7)                   -- --train-args, parsed by the trainer's parser
    expect.eq(seen[1].quiet, false)
    expect.eq(seen[1].eval_k, 10); expect.eq(seen[1].seed, 1); expect.eq(seen[3].seed, 2)
    expect.eq(seen[2].out, dir .. "/study/chimera-s1")
    expect.eq(rows[1].condition, "bernoulli"); expect.near(rows[1].ll, -101.5); expect.near(rows[1].ll_se, 0.5)
    expect.near(rows[2].ll, -96.5); expect.near(rows[2].active, 38.5); expect.eq(rows[2].valid_elbo, -101.5)
    expect.truthy(study.read_file(dir .. "/study/bernoulli-s1/output.txt"):find("epoch 2/2", 1, true))
    local found = false
    for _, l in ipairs(printed) do if l == "[chimera s2] epoch 2/2" then found = true end end
    expect.truthy(found, "prefixed output")
    expect.eq(s:report(rows, {expected = {"bernoulli", "chimera"}}), 0)
    local csv = runlog.read_csv(dir .. "/study/stubby.csv")
    expect.eq(#csv, 2); expect.near(csv[2].test_ll, -96.5); expect.eq(csv[2].se_kind, "seeds")
    expect.eq(#runlog.read_csv(dir .. "/study/stubby-runs.csv"), 4)
    expect.truthy(qv.exists(dir .. "/study/stubby.png"))
    -- a failing run is recorded, not fatal
    local s3 = study.new(o, {name = "stubby3", echo = echo, train = stub_train})
    s3:condition("broken", {prior = "broken"})
    local rows3, results3 = s3:run()
    expect.eq(results3[1].ok, false); expect.match(results3[1].error, "stub: broken prior")
    expect.eq(rows3[1].n, 0)
    expect.eq(s3:report(rows3), 2)
  end)
  os.execute("rm -rf '" .. dir .. "'")
  if not ok then error(err, 0) end
end)

test("a study's runs train in this process; a killed run resumes, a finished one is reused", function()
  local mnist = study.default_data("mnist")
  if not mnist then print("    (skipped: no MNIST)"); return end
  local dir = os.tmpname()
  os.remove(dir)
  local o = {dataset = "mnist", data = mnist, network = "dense", epochs = 2, seeds = "1", eval_k = 5, eval_n = 10,
             out = dir, rerun = false, dry_run = false,
             train_args = "--train-n 100 --batch-size 50 --chains 20 --valid-n 20 --logz-chains 10 --logz-temperatures 10"}
  local printed = {}
  local function echo(line) printed[#printed + 1] = line end
  local s = study.new(o, {name = "tiny", echo = echo})
  -- the first attempt is "killed" after its first epoch's checkpoint
  s:condition("chimera", {prior = "chimera", on_checkpoint = function(run)
    if run.epoch_done == 1 then error("interrupted", 0) end
  end})
  local ok, err = pcall(s.run, s)
  expect.falsy(ok); expect.match(tostring(err), "interrupted")
  expect.truthy(qv.exists(dir .. "/chimera-s1/checkpoint.safetensors"))
  s.conditions[1].options.on_checkpoint = nil
  printed = {}
  local rows, results = s:run()
  expect.truthy(results[1].ok, results[1].error)
  expect.eq(results[1].epochs_done, 2)
  local text = table.concat(printed, "\n")
  expect.match(text, "%[chimera s1%] resuming .* at epoch 1")
  expect.truthy(rows[1].ll < 0)
  printed = {}
  local _, again = s:run()
  expect.eq(again[1].ll, results[1].ll)
  expect.match(table.concat(printed, "\n"), "finished run found")
  os.execute("rm -rf '" .. dir .. "'")
end)
