--- Notebook-style studies: conditions × seeds of training runs, each run
--- through the training library (scripts/lib/trainer.lua) in this process,
--- summarized as a table, a CSV and a plot. A run that was killed resumes
--- from its checkpoint; a finished one is reused. Used by
--- scripts/studies/*.lua.
---
---   local study = require "study"
---   local p = study.parser{name = "scripts/studies/x.lua", about = "...", out = "runs/x"}
---   p:option{"priors", default = "bernoulli,chimera", help = "..."}
---   local o = p:parse_or_exit(arg)
---   local s = study.new(o, {name = "x"})
---   for _, prior in ipairs(study.list(o.priors)) do
---     s:condition(prior, {prior = prior})
---   end
---   local rows = s:run()          -- one aggregated row per condition
---   s:report(rows, {...})         -- table, OUT/x.csv, OUT/x-runs.csv, OUT/x.png
---
--- Everything except `Study:run` (which trains) is a pure function of its
--- arguments, tested in Tests/lua/test_study.lua.

local args = require "args"
local runlog = require "runlog"

local M = {}

-- ---------------------------------------------------------------------------
-- Small pure helpers

--- Splits "a,b, c" into {"a", "b", "c"} (empty items dropped).
function M.list(s)
  local t = {}
  for item in tostring(s or ""):gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then t[#t + 1] = item end
  end
  return t
end

--- The seeds named by --seeds: "N" is the N seeds 1..N, "a,b,c" is a list.
--- Returns an array of integers, or nil and a message.
function M.seeds(s)
  s = tostring(s)
  if not s:find(",") then
    local n = math.tointeger(tonumber(s))
    if not n or n < 1 then return nil, "--seeds: expected a count N >= 1 or a list a,b,c; got '" .. s .. "'" end
    local t = {}
    for i = 1, n do t[i] = i end
    return t
  end
  local t = {}
  for _, item in ipairs(M.list(s)) do
    local n = math.tointeger(tonumber(item))
    if not n then return nil, "--seeds: '" .. item .. "' is not an integer" end
    t[#t + 1] = n
  end
  if #t == 0 then return nil, "--seeds: empty list" end
  return t
end

--- Splits a --train-args string on white space (no quoting).
function M.words(s)
  local t = {}
  for w in tostring(s or ""):gmatch("%S+") do t[#t + 1] = w end
  return t
end

--- The qvlua executable running this script: the interpreter's path from
--- the `arg` table (its lowest index, as typed: a path, or a name looked up
--- on PATH), else <root>/.build/release/qvlua. `exists` checks a path.
function M.interpreter(argt, root, exists)
  argt = argt or arg or {}
  exists = exists or function(p) return qv and qv.exists and qv.exists(p) end
  local lowest
  for k in pairs(argt) do
    if math.type(k) == "integer" and k < 0 and (lowest == nil or k < lowest) then lowest = k end
  end
  local exe = lowest and argt[lowest]
  if exe and exe ~= "" then
    if not exe:find("/") then return exe end           -- found on PATH by the shell
    if exists(exe) then return exe end
  end
  root = root or (qv and qv.root)
  if root then return root .. "/.build/release/qvlua" end
  return "qvlua"
end

--- Mean and standard error (sample s.d. / √n) of the finite numbers in
--- `values`; returns mean, se, n (se nil when n < 2; mean nil when n = 0).
function M.mean_se(values)
  local xs = {}
  for _, v in ipairs(values) do
    if type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge then xs[#xs + 1] = v end
  end
  local n = #xs
  if n == 0 then return nil, nil, 0 end
  local sum = 0
  for _, v in ipairs(xs) do sum = sum + v end
  local mean = sum / n
  if n < 2 then return mean, nil, n end
  local ss = 0
  for _, v in ipairs(xs) do ss = ss + (v - mean) ^ 2 end
  return mean, math.sqrt(ss / (n - 1)) / math.sqrt(n), n
end

--- "m ± e" with `fmt` (default %.2f); just "m" without e; "-" without m.
function M.pm(mean, err, fmt)
  fmt = fmt or "%.2f"
  if mean == nil or mean ~= mean then return "-" end
  if err == nil or err ~= err then return fmt:format(mean) end
  return (fmt .. " ± " .. fmt):format(mean, err)
end

-- UTF-8 aware width (the ± sign is two bytes, one column).
local function width(s) return utf8.len(s) or #s end

--- A plain-text table: `header` is an array of column names, `rows` arrays
--- of cells (converted with tostring). The first column is left-aligned,
--- the rest right-aligned; a dashed rule under the header.
function M.format_table(header, rows)
  local w = {}
  local all = {header}
  for _, r in ipairs(rows) do all[#all + 1] = r end
  for _, r in ipairs(all) do
    for j = 1, #header do
      local c = tostring(r[j] == nil and "" or r[j])
      w[j] = math.max(w[j] or 0, width(c))
    end
  end
  local function line(r)
    local parts = {}
    for j = 1, #header do
      local c = tostring(r[j] == nil and "" or r[j])
      local pad = (" "):rep(w[j] - width(c))
      parts[j] = j == 1 and (c .. pad) or (pad .. c)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local out = {line(header)}
  local rule = {}
  for j = 1, #header do rule[j] = ("-"):rep(w[j]) end
  out[#out + 1] = table.concat(rule, "  ")
  for _, r in ipairs(rows) do out[#out + 1] = line(r) end
  return table.concat(out, "\n")
end

--- "a < b = c": `labels` ordered by increasing `values`, equal values
--- joined by "=" (nil/NaN last).
function M.ordering(labels, values)
  local idx = {}
  for i = 1, #labels do idx[i] = i end
  local function key(i)
    local v = values[i]
    if v == nil or v ~= v then return math.huge end
    return v
  end
  table.sort(idx, function(a, b)
    if key(a) ~= key(b) then return key(a) < key(b) end
    return a < b
  end)
  local out = {}
  for k, i in ipairs(idx) do
    if k > 1 then out[#out + 1] = key(i) == key(idx[k - 1]) and " = " or " < " end
    out[#out + 1] = labels[i]
  end
  return table.concat(out)
end

--- Groups run results by `condition` and averages them over seeds: returns
--- one row per condition (in first-seen order) with n (finished runs),
--- runs, failed, and for each of `keys` the mean and key_se (the s.e. over
--- seeds; with one run, that run's own key_err when it has one, and
--- se_kind = "estimator").
function M.aggregate(results, keys)
  local order, by = {}, {}
  for _, r in ipairs(results) do
    local c = r.condition
    if not by[c] then by[c] = {}; order[#order + 1] = c end
    table.insert(by[c], r)
  end
  local rows = {}
  for _, c in ipairs(order) do
    local runs = by[c]
    local row = {condition = c, runs = #runs, failed = 0, seeds = {}}
    local ok = {}
    for _, r in ipairs(runs) do
      if r.ok then ok[#ok + 1] = r; table.insert(row.seeds, r.seed) else row.failed = row.failed + 1 end
    end
    row.n = #ok
    row.se_kind = #ok >= 2 and "seeds" or "estimator"
    for _, k in ipairs(keys) do
      local vs = {}
      for i, r in ipairs(ok) do vs[i] = r[k] end
      local mean, se = M.mean_se(vs)
      if #ok == 1 then se = ok[1][k .. "_err"] end
      row[k], row[k .. "_se"] = mean, se
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- ---------------------------------------------------------------------------
-- Files

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
M.read_file = read_file

--- The numbers a study keeps of one run, from trainer results: test LL
--- and its error (importance sampling and log Z together), log Z, ELBO,
--- active units, and the last log row's validation ELBO and β_eff.
function M.results_of(res)
  local r = {}
  local rows = res.rows or {}
  local last = rows[#rows]
  if last then
    r.epochs_done = last.epoch
    r.valid_elbo, r.beta_eff, r.valid_active = last.valid_elbo, last.beta_eff, last.active_units
    local secs = 0
    for _, row in ipairs(rows) do secs = secs + (tonumber(row.seconds) or 0) end
    r.train_seconds = secs
  end
  local f = res.final
  if not f or f.ll == nil then return nil, "the run has no final evaluation" end
  r.ll, r.logz, r.logz_err, r.elbo, r.active = f.ll, f.logz, f.logz_err, f.elbo, f.active
  r.ll_err = math.sqrt((f.ll_se or 0) ^ 2 + (f.logz_err or 0) ^ 2)
  return r
end

-- ---------------------------------------------------------------------------
-- The command-line parser every study shares

--- A parser with the options every study has; the study adds its own.
--- spec: name, script (for the usage line), about, out (default output
--- directory), epochs, dataset.
function M.parser(spec)
  local p = args.parser{name = spec.script or spec.name, about = spec.about}
  p:option{"dataset", choices = {"mnist", "fmnist"}, default = spec.dataset or "mnist", help = "dataset"}
  p:option{"data", metavar = "DIR", help = "IDX directory (default for mnist: ../shared/data/mnist beside the project root)"}
  p:option{"network", choices = {"dense", "conv"}, default = "dense", help = "networks (dense = BENCH.md's P-dense)"}
  p:option{"epochs", type = "int", default = spec.epochs or 3, min = 1, help = "training epochs per run"}
  p:option{"seeds", default = "1", metavar = "N|a,b,..", help = "N seeds 1..N, or a list; several seeds give mean ± s.e."}
  p:option{"eval-k", type = "int", default = 1000, min = 1, help = "importance samples for the test LL"}
  p:option{"eval-n", type = "int", default = 1000, min = 1, help = "test images for the LL"}
  p:option{"out", default = spec.out, metavar = "DIR", help = "study directory: one sub-directory per run, tables, plot"}
  p:option{"train-args", metavar = "'--opt v ..'", help = "extra train.lua options for every run (split on spaces)"}
  p:flag{"rerun", help = "train again from scratch even where OUT/<run> holds a finished or resumable run"}
  p:flag{"dry-run", help = "print each run's options and exit"}
  return p
end

--- The MNIST default directory: <root>/../shared/data/mnist when it exists.
function M.default_data(dataset, root, exists)
  exists = exists or qv.exists
  root = root or qv.root
  if dataset ~= "mnist" or not root then return nil end
  local parent = root:match("^(.*)/[^/]+$")
  local dir = (parent or (root .. "/..")) .. "/shared/data/mnist"
  if exists(dir) then return dir end
  return nil
end

-- ---------------------------------------------------------------------------
-- A study: conditions × seeds of train.lua runs

local Study = {}
Study.__index = Study

--- Prints a line and flushes (so a study's log interleaves in order).
function M.say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

--- A study from the parsed shared options `o`; spec.name names its files,
--- spec.echo(line) replaces print for everything the study prints,
--- spec.train (a function(options) -> results) replaces trainer.run (tests).
function M.new(o, spec)
  local seeds, err = M.seeds(o.seeds)
  if not seeds then io.stderr:write(spec.name, ": ", err, "\n"); os.exit(2) end
  local data = o.data or M.default_data(o.dataset)
  if o.dataset == "mnist" and not data then
    io.stderr:write(spec.name, ": --dataset mnist needs --data DIR (no ../shared/data/mnist beside ",
                    tostring(qv.root), ")\n")
    os.exit(2)
  end
  local extra = {}
  if o.train_args then
    local t, perr = require("trainer").parser{name = spec.name .. " --train-args"}:parse(M.words(o.train_args))
    if not t then io.stderr:write(spec.name, ": --train-args: ", tostring(perr), "\n"); os.exit(2) end
    local given = {}
    for _, w in ipairs(M.words(o.train_args)) do
      local name = w:match("^%-%-([%w%-]+)")
      if name then given[(name:gsub("^no%-", ""):gsub("-", "_"))] = true end
    end
    for k in pairs(given) do extra[k] = t[k] end
  end
  return setmetatable({o = o, name = spec.name, seeds = seeds, data = data, conditions = {}, extra = extra,
                       train = spec.train, echo = spec.echo or M.say}, Study)
end

--- Adds a condition: `label` (names its runs and table row) and the
--- training options that distinguish it (merged over the shared ones).
function Study:condition(label, options)
  self.conditions[#self.conditions + 1] = {label = label, options = options or {}}
end

--- The training options of one run.
function Study:run_options(cond, seed)
  local o = self.o
  local t = {dataset = o.dataset, data = self.data, network = o.network, epochs = o.epochs,
             eval_k = o.eval_k, eval_n = o.eval_n, seed = seed,
             out = ("%s/%s-s%d"):format(o.out, cond.label, seed)}
  for k, v in pairs(self.extra) do t[k] = v end
  for k, v in pairs(cond.options) do t[k] = v end
  return t
end

local function describe_options(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = ("%s = %s"):format(k, tostring(t[k])) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local RUN_FILES = {"checkpoint.safetensors", "log.csv", "summary.json", "samples.png", "recon.png", "curves.png",
                   "output.txt"}

--- Trains (or resumes, or reuses) one run; returns the study's record.
function Study:run_one(cond, seed, prefix)
  local opts = self:run_options(cond, seed)
  local dir = opts.out
  local r = {condition = cond.label, seed = seed, dir = dir}
  if self.o.rerun then for _, f in ipairs(RUN_FILES) do os.remove(dir .. "/" .. f) end end
  qv.mkdir(dir)
  local log = io.open(dir .. "/output.txt", "a")
  opts.echo = function(line)
    self.echo(prefix .. line)
    if log then log:write(line, "\n"); log:flush() end
  end
  opts.resume = qv.exists(dir .. "/checkpoint.safetensors")
  opts.force = not opts.resume          -- the study owns its run directories
  local t0 = qv.clock()
  local ok, res = pcall(function()
    if self.train then return self.train(opts) end
    local trainer = require "trainer"
    local run = trainer.new(opts)
    if run:finished() then self.echo(prefix .. "finished run found in " .. dir .. " (--rerun trains it again)") end
    local done, res_or_err = pcall(run.run, run)
    run:close()
    if not done then error(res_or_err, 0) end
    return res_or_err
  end)
  if log then log:close() end
  r.seconds = qv.clock() - t0
  if not ok then
    local msg = tostring(res)
    if msg:match("interrupted$") then error(res, 0) end
    r.ok, r.error = false, msg
    return r
  end
  local nums, err = M.results_of(res)
  if not nums then r.ok, r.error = false, err; return r end
  for k, v in pairs(nums) do r[k] = v end
  if r.train_seconds and r.seconds < 0.5 * r.train_seconds then r.seconds = r.train_seconds end  -- reused
  r.ok = true
  return r
end

--- Runs every condition × seed (resuming killed runs and reusing finished
--- ones unless --rerun) and returns (aggregated rows, per-run results). A
--- failed run is recorded (ok = false, error) and the study goes on (the
--- scripts exit 1 after the table when `report` counts failures). Ctrl-C
--- stops the study; running it again resumes.
function Study:run()
  local o = self.o
  local total = #self.conditions * #self.seeds
  self.echo(("%s: %d condition%s × %d seed%s = %d run%s of %d epoch%s, %s, out %s"):format(self.name,
    #self.conditions, #self.conditions == 1 and "" or "s", #self.seeds, #self.seeds == 1 and "" or "s",
    total, total == 1 and "" or "s", o.epochs, o.epochs == 1 and "" or "s", o.dataset, o.out))
  local results = {}
  local k = 0
  for _, seed in ipairs(self.seeds) do
    for _, cond in ipairs(self.conditions) do
      k = k + 1
      local prefix = ("[%s s%d] "):format(cond.label, seed)
      self.echo(("\n(%d/%d) %s"):format(k, total, describe_options(self:run_options(cond, seed))))
      if not o.dry_run then
        local r = self:run_one(cond, seed, prefix)
        if not r.ok then self.echo(prefix .. "FAILED: " .. tostring(r.error)) end
        results[#results + 1] = r
      end
    end
  end
  if o.dry_run then os.exit(0) end
  self.results = results
  return M.aggregate(results, {"ll", "elbo", "active", "seconds", "valid_elbo", "beta_eff"}), results
end

--- Prints the table and writes OUT/<name>.csv (one row per condition),
--- OUT/<name>-runs.csv (one per run) and OUT/<name>.png. spec: title,
--- column (the first column's header), expected (array of labels in the
--- paper's increasing order), reference (lines of what the paper reports),
--- extra_columns ({{header, fn(row) -> string}}). Returns the number of
--- failed runs (the scripts exit 1 when it is not 0).
function Study:report(rows, spec)
  spec = spec or {}
  local o = self.o
  local multi = #self.seeds >= 2
  local header = {spec.column or "condition", "runs",
                  multi and "test LL (mean ± s.e.)" or "test LL (± est. error)", "ELBO", "active units", "seconds"}
  for _, c in ipairs(spec.extra_columns or {}) do header[#header + 1] = c[1] end
  local cells = {}
  for i, r in ipairs(rows) do
    local runs = r.failed > 0 and ("%d/%d"):format(r.n, r.runs) or tostring(r.n)
    cells[i] = {r.condition, runs, M.pm(r.ll, r.ll_se), M.pm(r.elbo, multi and r.elbo_se or nil),
                M.pm(r.active, multi and r.active_se or nil, multi and "%.1f" or "%.0f"), M.pm(r.seconds, nil, "%.0f")}
    for _, c in ipairs(spec.extra_columns or {}) do cells[i][#cells[i] + 1] = c[2](r) end
  end
  self.echo(("\n%s — %s, %s networks, %d epoch%s, LL with K = %d on %d test images%s"):format(
    spec.title or self.name, o.dataset, o.network, o.epochs, o.epochs == 1 and "" or "s", o.eval_k, o.eval_n,
    multi and (", %d seeds"):format(#self.seeds) or ""))
  self.echo(M.format_table(header, cells))

  local labels, lls, actives = {}, {}, {}
  for i, r in ipairs(rows) do labels[i], lls[i], actives[i] = r.condition, r.ll, r.active end
  self.echo("\nby test LL:       " .. M.ordering(labels, lls))
  self.echo("by active units:  " .. M.ordering(labels, actives))
  if spec.expected then
    local present = {}
    for _, l in ipairs(labels) do present[l] = true end
    local exp = {}
    for _, l in ipairs(spec.expected) do if present[l] then exp[#exp + 1] = l end end
    self.echo("paper's ordering: " .. table.concat(exp, " < ") ..
          "  (a few epochs of the dense model need not reproduce it)")
  end
  for _, l in ipairs(spec.reference or {}) do self.echo(l) end

  qv.mkdir(o.out)
  local csv = runlog.open(("%s/%s.csv"):format(o.out, self.name), {fields = {
    "condition", "n", "runs", "test_ll", "test_ll_se", "se_kind", "elbo", "elbo_se", "active_units",
    "active_units_se", "valid_elbo", "beta_eff", "seconds", "dataset", "network", "epochs", "eval_k", "eval_n"}})
  for _, r in ipairs(rows) do
    csv:write{condition = r.condition, n = r.n, runs = r.runs, test_ll = r.ll, test_ll_se = r.ll_se,
              se_kind = r.se_kind, elbo = r.elbo, elbo_se = r.elbo_se, active_units = r.active,
              active_units_se = r.active_se, valid_elbo = r.valid_elbo, beta_eff = r.beta_eff,
              seconds = r.seconds, dataset = o.dataset, network = o.network, epochs = o.epochs,
              eval_k = o.eval_k, eval_n = o.eval_n}
  end
  csv:close()
  local runs_csv = runlog.open(("%s/%s-runs.csv"):format(o.out, self.name), {fields = {
    "condition", "seed", "ok", "test_ll", "test_ll_err", "logz", "logz_err", "elbo", "active_units",
    "valid_elbo", "beta_eff", "seconds", "dir", "error"}})
  for _, r in ipairs(self.results or {}) do
    runs_csv:write{condition = r.condition, seed = r.seed, ok = r.ok and 1 or 0, test_ll = r.ll,
                   test_ll_err = r.ll_err, logz = r.logz, logz_err = r.logz_err, elbo = r.elbo,
                   active_units = r.active, valid_elbo = r.valid_elbo, beta_eff = r.beta_eff,
                   seconds = r.seconds, dir = r.dir, error = r.error}
  end
  runs_csv:close()

  local png = ("%s/%s.png"):format(o.out, self.name)
  local ok, err = pcall(M.plot, png, rows)
  local written = ("%s/{%s.csv, %s-runs.csv%s}"):format(o.out, self.name, self.name, ok and (", " .. self.name .. ".png") or "")
  self.echo("\nwrote " .. written)
  if not ok then self.echo("no plot: " .. tostring(err)) end
  local failed = 0
  for _, r in ipairs(self.results or {}) do if not r.ok then failed = failed + 1 end end
  if failed > 0 then
    self.echo(("\n%s: %d run%s failed (see the FAILED lines above)"):format(self.name, failed, failed == 1 and "" or "s"))
  end
  return failed
end

--- The plot panels for aggregated rows: LL and ELBO by condition index,
--- active units by condition index (± s.e. lines when there are several
--- seeds). The x-axis label names the conditions.
function M.plot_panels(rows)
  local x, ll, lo, hi, elbo, act = {}, {}, {}, {}, {}, {}
  local names = {}
  local nan = 0 / 0
  local have_se = false
  for i, r in ipairs(rows) do
    x[i] = i
    ll[i] = r.ll or nan
    elbo[i] = r.elbo or nan
    act[i] = r.active or nan
    if r.se_kind == "seeds" and r.ll_se then
      have_se = true
      lo[i], hi[i] = r.ll - r.ll_se, r.ll + r.ll_se
    else
      lo[i], hi[i] = nan, nan
    end
    names[i] = ("%d %s"):format(i, r.condition)
  end
  local xlabel = table.concat(names, "  ")
  local bounds = {{name = "test LL", x = x, y = ll}, {name = "test ELBO", x = x, y = elbo}}
  if have_se then
    bounds[#bounds + 1] = {name = "LL - s.e.", x = x, y = lo}
    bounds[#bounds + 1] = {name = "LL + s.e.", x = x, y = hi}
  end
  return {
    {title = "test LL and ELBO (nats)", xlabel = xlabel, series = bounds},
    {title = "active units", xlabel = xlabel, series = {{name = "active units", x = x, y = act}}},
  }
end

function M.plot(path, rows)
  qv.plot.lines(path, M.plot_panels(rows))
end

return M
