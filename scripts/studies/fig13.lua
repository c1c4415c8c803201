--- qvlua scripts/studies/fig13.lua [options]
--- The paper's Fig. 13: β_eff tracked (Eq. C3) during two simultaneous runs
--- on one annealer, a Chimera and a Bernoulli prior; their fluctuations are
--- correlated, showing the estimate follows the machine's temperature.
--- Here the annealer is qvlua's emulator with a drifting effective
--- temperature (an Ornstein–Uhlenbeck process around --dw-beta-eff, one
--- value per training step, --dw-drift-sd / --dw-drift-time) whose path is
--- the same for both runs (one machine, --drift-seed). Each run logs every
--- step's tracked β_eff and the emulator's true β to OUT/<run>/steps.csv;
--- the report plots both and gives their correlations.

local study = require "study"
local runlog = require "runlog"

local p = study.parser{name = "fig13", script = "scripts/studies/fig13.lua", out = "runs/fig13", epochs = 3, about =
  "Fig. 13: beta_eff tracking of two runs (Chimera, Bernoulli) on one emulated annealer whose temperature drifts."}
study.annealer_options(p, {beta_eff = 1, h_noise = 0.02, j_noise = 0.01, drift_sd = 0.15, drift_time = 30})
p:option{"drift-seed", type = "int", default = 7, help = "the emulated machine: both runs share its temperature path"}
p:option{"rate", type = "number", default = 0.02, min = 0,
         help = "beta_eff tracking rate per step (Eq. C3; too large a rate for the energy's variance oscillates)"}
local o = p:parse_or_exit(arg)
if o.dw ~= "annealer" then io.stderr:write("fig13: needs the emulator (--dw annealer)\n"); os.exit(2) end

local function on_step(run, info)
  local path = run.options.out .. "/steps.csv"
  local fresh = not qv.exists(path)
  local f = assert(io.open(path, "a"))
  if fresh then f:write("step,epoch,beta_eff,beta_machine\n") end
  local st = run.prior.stats
  f:write(("%d,%d,%.9g,%.9g\n"):format(info.step, info.epoch, info.beta_eff, st.sampler_beta_eff or 0 / 0))
  f:close()
end

local s = study.new(o, {name = "fig13"})
for _, prior in ipairs{"chimera", "bernoulli"} do
  local t = study.dw_options(o)
  t.prior, t.beta_drift_seed, t.beta_eff_rate, t.on_step = prior, o.drift_seed, o.rate, on_step
  s:condition(prior, t)
end
local rows = s:run()
local failed = s:report(rows, {title = "Fig. 13", column = "prior"})

--- steps.csv of a run: {step -> row} (a resumed run's repeated steps: the last wins).
local function steps(dir)
  local ok, rs = pcall(runlog.read_csv, dir .. "/steps.csv")
  local m = {}
  if ok and rs then for _, r in ipairs(rs) do if r.step then m[r.step] = r end end end
  return m
end

local function pearson(xs, ys)
  local n = #xs
  if n < 3 then return 0 / 0 end
  local mx, my = 0, 0
  for i = 1, n do mx, my = mx + xs[i], my + ys[i] end
  mx, my = mx / n, my / n
  local sxy, sxx, syy = 0, 0, 0
  for i = 1, n do
    sxy = sxy + (xs[i] - mx) * (ys[i] - my); sxx = sxx + (xs[i] - mx) ^ 2; syy = syy + (ys[i] - my) ^ 2
  end
  return sxy / math.sqrt(sxx * syy)
end

-- curves over steps (one run per condition and seed; bands over seeds)
local per = {}
local by_seed = {}
for _, r in ipairs(s.results or {}) do
  if r.ok then
    local m = steps(r.dir)
    per[r.condition] = per[r.condition] or {tracked = {}, machine = {}}
    local tr, ma = {}, {}
    for st, row in pairs(m) do tr[st] = row.beta_eff; ma[st] = row.beta_machine end
    table.insert(per[r.condition].tracked, tr)
    table.insert(per[r.condition].machine, ma)
    by_seed[r.seed] = by_seed[r.seed] or {}
    by_seed[r.seed][r.condition] = m
  end
end
local curves = {}
for c, t in pairs(per) do curves[c] = {tracked = study.band(t.tracked), machine = study.band(t.machine)} end
if curves.chimera then curves["machine (emulator's true beta)"] = {tracked = curves.chimera.machine} end

local corr_rows = {}
for seed, runs in pairs(by_seed) do
  local a, b = runs.chimera, runs.bernoulli
  if a and b then
    local xs, ys, ms, dx, dy = {}, {}, {}, {}, {}
    local stepsl = {}
    for st in pairs(a) do if b[st] then stepsl[#stepsl + 1] = st end end
    table.sort(stepsl)
    for i, st in ipairs(stepsl) do
      xs[i], ys[i], ms[i] = a[st].beta_eff, b[st].beta_eff, a[st].beta_machine
      if i > 1 then dx[#dx + 1] = xs[i] - xs[i - 1]; dy[#dy + 1] = ys[i] - ys[i - 1] end
    end
    corr_rows[#corr_rows + 1] = {tostring(seed), tostring(#stepsl), ("%.3f"):format(pearson(xs, ys)),
                                 ("%.3f"):format(pearson(dx, dy)), ("%.3f"):format(pearson(xs, ms)),
                                 ("%.3f"):format(pearson(ys, ms))}
  end
end
table.sort(corr_rows, function(x, y) return tonumber(x[1]) < tonumber(y[1]) end)
local conds = {"chimera", "bernoulli", "machine (emulator's true beta)"}
local rows_for_report = {}
for _, r in ipairs(rows) do rows_for_report[#rows_for_report + 1] = r end
rows_for_report[#rows_for_report + 1] = {condition = "machine (emulator's true beta)", n = 0, runs = 0, failed = 0}
local header, cells = study.condition_table(rows, #s.seeds >= 2)
s:write_report(rows_for_report, {
  title = "Fig. 13 — β_eff tracked on two runs sharing one (emulated) annealer",
  intro = {("The emulator's effective inverse temperature drifts: an Ornstein–Uhlenbeck process around %g with " ..
            "s.d. %g and correlation time %g steps, the same path for both runs (drift seed %d). Both runs track " ..
            "β_eff by Eq. C3 at rate %g per step; the Bernoulli prior is trained with the annealer's samples."):format(
            o.dw_beta_eff, o.dw_drift_sd, o.dw_drift_time, o.drift_seed, o.rate)},
  tables = {{title = "Correlations of the tracked β_eff (per step)",
             header = {"seed", "steps", "chimera vs bernoulli", "their step changes", "chimera vs machine",
                       "bernoulli vs machine"}, rows = corr_rows},
            {title = "Results by run", header = header, rows = cells}},
  figures = {{file = "beta", title = "β_eff over training steps", curves = curves,
              labels = nil,
              panels = {{title = "tracked beta_eff and the machine's beta", column = "tracked", xlabel = "training step"}}}},
  reference = {"Fig. 13 (D-Wave 2000Q, Chimera and Bernoulli priors trained simultaneously): the β_eff estimates of " ..
               "the two runs fluctuate together, i.e. they follow the machine's temperature, not the model."},
})
os.exit(failed == 0 and 0 or 1)
