-- scripts/studies/*.lua at their smoke size (--smoke): each is one command,
-- runs in seconds and writes its report: a Markdown file with its tables,
-- PNG figures and the CSV behind each. Conditions are trimmed where a
-- study has many (the full sets run the same code).
local study = require "study"

local MNIST = study.default_data("mnist")
local here = (arg and arg[0] or "Tests/lua/run.lua"):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
local qvlua = study.interpreter(arg, qv.root)

local tmp = helpers.tmpdir("qvstudies")

local function run_study(name, args, out)
  local cmd = ("%s %s/scripts/studies/%s.lua --smoke --out %s %s 2>&1"):format(qvlua, root, name, out, args or "")
  local f = io.popen(cmd)
  local text = f:read("a")
  local ok = f:close()
  expect.truthy(ok, name .. " failed:\n" .. text)
  return text
end

--- The report's structure: headings, a Markdown table, each figure's PNG
--- and CSV, the paper's reference; returns the Markdown text.
local function check_report(out, name, figures)
  local md = study.read_file(("%s/%s.md"):format(out, name))
  expect.truthy(md, "no report " .. name .. ".md")
  expect.match(md, "^# ")
  expect.match(md, "\nBudget: [%a ]*mnist, %a+ networks, ")
  expect.match(md, "\n| %-%-%- | %-%-%-:")
  expect.match(md, "\n## The paper\n")
  for _, fig in ipairs(figures) do
    local base = ("%s-%s"):format(name, fig)
    expect.truthy(qv.exists(("%s/%s.png"):format(out, base)), base .. ".png")
    expect.truthy(qv.exists(("%s/%s.csv"):format(out, base)), base .. ".csv")
    expect.truthy(md:find("(" .. base .. ".png)", 1, true), "the report shows " .. base .. ".png")
  end
  expect.truthy(qv.exists(("%s/%s.csv"):format(out, name)))
  expect.truthy(qv.exists(("%s/%s-runs.csv"):format(out, name)))
  return md
end

test("table1 and fig5 (the same runs): four distinct cells, the auxiliary LL for the DW cells", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local out = tmp .. "/table1"
  run_study("table1", "", out)
  local md = check_report(out, "table1", {"curves"})
  expect.match(md, "| DW %(emulator, β_eff 0.75")
  expect.match(md, "| PA | %-?%d")
  local cells = require("runlog").read_csv(out .. "/table1.csv")
  expect.eq(#cells, 4)
  local names = {}
  for _, c in ipairs(cells) do names[#names + 1] = c.condition; expect.type(c.test_ll, "number") end
  table.sort(names)
  expect.eq(names, {"dw-bernoulli", "dw-chimera", "pa-bernoulli", "pa-chimera"})
  -- the Bernoulli cells trained with their own samplers' samples: they differ
  local by = {}
  for _, c in ipairs(cells) do by[c.condition] = c end
  expect.ne(by["dw-bernoulli"].test_ll, by["pa-bernoulli"].test_ll)
  local text = run_study("fig5", "", out)
  expect.match(text, "finished run found")
  check_report(out, "fig5", {"active"})
end)

test("fig6, fig8, fig9, fig11, fig13 at the smoke size", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  run_study("fig6", "--priors bernoulli,chimera", tmp .. "/fig6")
  check_report(tmp .. "/fig6", "fig6", {"curves"})
  run_study("fig8", "", tmp .. "/fig8")
  check_report(tmp .. "/fig8", "fig8", {"curves"})
  run_study("fig9", "--priors chimera", tmp .. "/fig9")
  local md = check_report(tmp .. "/fig9", "fig9", {"curves"})
  expect.match(md, "\nBudget: fmnist and mnist, ")
  expect.match(md, "| chimera | ")
  run_study("fig11", "--levels pa,lower:0.02:0.01", tmp .. "/fig11")
  check_report(tmp .. "/fig11", "fig11", {"curves"})
  run_study("fig13", "", tmp .. "/fig13")
  md = check_report(tmp .. "/fig13", "fig13", {"beta"})
  expect.match(md, "chimera vs bernoulli")
  local steps = require("runlog").read_csv(tmp .. "/fig13/chimera-s1/steps.csv")
  expect.eq(#steps, 2)
  expect.type(steps[1].beta_machine, "number")
  -- the old names still work
  local text = run_study("connectivity", "--priors bernoulli --dry-run", tmp .. "/alias")
  expect.match(text, "fig6: 1 condition")
end)

test("qbm: BM vs QBM priors at the smoke size, the Q-ELBO bound with its log Z error", function()
  if not MNIST then print("    (skipped: no MNIST)"); return end
  local out = tmp .. "/qbm"
  run_study("qbm", "--gammas 0,1", out)
  local md = check_report(out, "qbm", {"curves"})
  expect.match(md, "\n| bm | 0 | 2 | ")
  expect.match(md, "\n| qbm%-g1 | 1 | 2 | ")
  expect.match(md, "Q%-ELBO bound")
  local runs = require("runlog").read_csv(out .. "/qbm-runs.csv")
  expect.eq(#runs, 4)
  for _, r in ipairs(runs) do
    expect.eq(r.ok, 1)
    expect.truthy(r.logz_err > 0, "log Z by (quantum) AIS has an error bar")
  end
  local summary = study.read_file(out .. "/qbm-g1-s1/summary.json")
  expect.match(summary, '"quantum":%s*true')
  expect.truthy(not study.read_file(out .. "/bm-s1/summary.json"):find('"quantum"'), "Γ = 0 is the classical prior")
  local text = run_study("qbm", "--gammas 0,0.5,2 --dry-run", tmp .. "/qbm-dry")
  expect.match(text, "qbm: 3 conditions")
  expect.match(text, "gamma = 0.5")
end)

test("cleanup", function()
  os.execute("rm -rf '" .. tmp .. "'")
end)
