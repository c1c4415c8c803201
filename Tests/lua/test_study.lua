-- scripts/lib/study.lua: the pure helpers of scripts/studies/*.lua, and one
-- study run end to end against a stub train.lua (no training).
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

test("train.lua argument vectors: sorted, dashed, flags, floats, extra words", function()
  local argv = study.train_argv({prior = "chimera", eval_k = 100, seed = 2, resume = true, paper = false,
                                 h_noise = 0.05, data = nil, lr = 3e-3}, {"--chains", "200"})
  expect.eq(argv, {"--eval-k", "100", "--h-noise", "0.05", "--lr", "0.003", "--prior", "chimera",
                   "--resume", "--seed", "2", "--chains", "200"})
  expect.eq(study.words("  --chains 200\t--batch-size 50 "), {"--chains", "200", "--batch-size", "50"})
  expect.eq(study.words(nil), {})
end)

test("shell quoting", function()
  expect.eq(study.shell_quote("runs/a-b_c.1"), "runs/a-b_c.1")
  expect.eq(study.shell_quote("a b"), "'a b'")
  expect.eq(study.shell_quote("it's"), "'it'\\''s'")
  expect.eq(study.shell_quote(""), "''")
  expect.eq(study.command_line{"qvlua", "scripts/train.lua", "--out", "my runs/x"},
            "qvlua scripts/train.lua --out 'my runs/x'")
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

test("supported options from a usage text", function()
  local help = [[
usage: qvlua scripts/train.lua [options]

options:
  --dataset fmnist|mnist   dataset (default: fmnist)
  --prior bernoulli|chimera|pegasus|rbm|FILE
                           prior connectivity
  --eval-k INT             importance samples (default: 1000)
  --resume                 continue
  --help                   show this help and exit]]
  local set = study.help_options(help)
  expect.eq(set, {dataset = true, prior = true, ["eval-k"] = true, resume = true, help = true})
  expect.eq(study.unsupported({"--prior", "chimera", "--h-noise", "0.1", "--no-resume", "--j-noise", "0", "--h-noise", "1"}, set),
            {"--h-noise", "--j-noise"})
  expect.eq(study.unsupported({"--eval-k", "5"}, set), {})
end)

test("summary line parsing", function()
  local r = study.parse_summary("test LL -95.12 ± 0.30 (log Z 123.456 ± 0.004)  ELBO -101.20  active units 97")
  expect.eq(r, {ll = -95.12, ll_err = 0.30, logz = 123.456, logz_err = 0.004, elbo = -101.2, active = 97})
  r = study.parse_summary("test LL nan ± nan (log Z inf ± 0.000)  ELBO -nan  active units 0")
  expect.truthy(r.ll ~= r.ll); expect.eq(r.logz, math.huge); expect.truthy(r.elbo ~= r.elbo); expect.eq(r.active, 0)
  expect.eq(study.parse_summary("  valid ELBO -120.00  active units 40  (3.0 s train)"), nil)
  expect.eq(study.parse_summary(nil), nil)
  local lines = {"qvlua 0.1  mnist  prior chimera", "  test LL -99.00 ± 1.00 (log Z 1.000 ± 0.100)  ELBO -100.00  active units 5",
                 "", "mnist on 100 test images, K = 100",
                 "test LL -90.50 ± 0.25 (log Z 2.500 ± 0.010)  ELBO -92.00  active units 44", "wrote runs/x/{...}"}
  expect.eq(study.find_summary(lines).ll, -90.5)
  expect.eq(study.find_summary({"nothing"}), nil)
end)

test("flat JSON summaries", function()
  local t = study.parse_flat_json('{"test_ll": -90.5, "test_ll_se": 0.25, "prior": "chimera", "note": "a, \\"b\\"}",' ..
                                  ' "beta_eff": null, "ok": true, "active_units": 44}\n')
  expect.eq(t, {test_ll = -90.5, test_ll_se = 0.25, prior = "chimera", note = 'a, "b"}', ok = true, active_units = 44})
  expect.eq(study.parse_flat_json("not json"), nil)
  expect.eq(study.parse_flat_json(nil), nil)
  expect.eq(study.parse_flat_json("{}"), {})
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

-- A stub train.lua: knows a few options, writes log.csv, prints a summary
-- line whose LL depends on the prior; fails for --prior broken.
local STUB = [[
local o = {}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--help" then
    print("usage: stub\n\noptions:\n  --dataset X\n  --data DIR\n  --network X\n  --epochs INT\n  --eval-k INT\n" ..
          "  --eval-n INT\n  --out DIR\n  --prior P\n  --seed INT\n  --chains INT")
    os.exit(0)
  end
  o[a:sub(3)] = arg[i + 1]; i = i + 2
end
if o.prior == "broken" then io.stderr:write("stub: broken prior\n"); os.exit(3) end
qv.mkdir(o.out)
local f = assert(io.open(o.out .. "/log.csv", "w"))
f:write("epoch,valid_elbo,test_ll,active_units,beta_eff,seconds\n")
local ll = ({bernoulli = -100, chimera = -95})[o.prior] - tonumber(o.seed)
for e = 1, tonumber(o.epochs) do
  f:write(("%d,%g,%s,%d,1,0.5\n"):format(e, ll - 5, e == tonumber(o.epochs) and tostring(ll) or "", 40))
  print(("epoch %d/%s"):format(e, o.epochs))
end
f:close()
print(("test LL %.2f ± 0.30 (log Z 12.000 ± 0.010)  ELBO %.2f  active units %d"):format(ll, ll - 3, 40 - tonumber(o.seed)))
]]

test("a study end to end against a stub train.lua: stream, parse, reuse, report", function()
  local dir = os.tmpname()
  os.remove(dir)
  qv.mkdir(dir)
  local stub = dir .. "/stub_train.lua"
  local f = assert(io.open(stub, "w")); f:write(STUB); f:close()
  local o = {dataset = "fmnist", network = "dense", epochs = 2, seeds = "2", eval_k = 10, eval_n = 10,
             out = dir .. "/study", train_args = "--chains 7", rerun = false, dry_run = false}
  local printed = {}
  local function echo(line) printed[#printed + 1] = line end
  local s = study.new(o, {name = "stubby", train_script = stub, echo = echo})
  s:condition("bernoulli", {prior = "bernoulli"})
  s:condition("chimera", {prior = "chimera"})
  local ok, err = pcall(function()
    local rows, results = s:run()
    expect.eq(#results, 4)
    for _, r in ipairs(results) do expect.truthy(r.ok, r.error) end
    expect.eq(rows[1].condition, "bernoulli"); expect.near(rows[1].ll, -101.5); expect.near(rows[1].ll_se, 0.5)
    expect.near(rows[2].ll, -96.5); expect.near(rows[2].active, 38.5); expect.eq(rows[2].valid_elbo, -101.5)
    expect.eq(results[1].source, "summary line")
    expect.eq(study.read_file(dir .. "/study/bernoulli-s1/output.txt"):match("epoch 2/2") ~= nil, true)
    expect.eq(s:report(rows, {expected = {"bernoulli", "chimera"}}), 0)
    local csv = runlog.read_csv(dir .. "/study/stubby.csv")
    expect.eq(#csv, 2); expect.near(csv[2].test_ll, -96.5); expect.eq(csv[2].se_kind, "seeds")
    expect.eq(#runlog.read_csv(dir .. "/study/stubby-runs.csv"), 4)
    expect.truthy(qv.exists(dir .. "/study/stubby.png"))
    -- a second study over the same directory reuses the finished runs
    printed = {}
    local s2 = study.new(o, {name = "stubby", train_script = stub, echo = echo})
    s2.conditions = s.conditions
    local rows2, results2 = s2:run()
    expect.eq(#results2, 4)
    expect.near(rows2[1].ll, -101.5)
    local reused = 0
    for _, l in ipairs(printed) do if l:find("finished run found", 1, true) then reused = reused + 1 end end
    expect.eq(reused, 4)
    -- a failing run is recorded, not fatal
    local s3 = study.new(o, {name = "stubby3", train_script = stub, echo = echo})
    s3:condition("broken", {prior = "broken"})
    local rows3, results3 = s3:run()
    expect.eq(results3[1].ok, false); expect.match(results3[1].error, "exit status 3")
    expect.eq(rows3[1].n, 0)
    expect.eq(s3:report(rows3), 2)
  end)
  os.execute("rm -rf " .. study.shell_quote(dir))
  if not ok then error(err, 0) end
end)
