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
M.words = require("vaekit").words

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

--- The contents of a file, or nil when it cannot be read.
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
--- active units, the last log row's validation ELBO and β_eff, and for a
--- small quantum prior the exact LL with the true p(z) (ll_exact).
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
  -- after annealer training (beta_eff != 1): the auxiliary machine's LL is the headline
  if f.ll_aux then
    r.ll_aux, r.ll_aux_err = f.ll_aux, math.sqrt((f.ll_aux_se or 0) ^ 2 + (f.logz_aux_err or 0) ^ 2)
  end
  r.ll_head = r.ll_aux or r.ll
  r.ll_head_err = r.ll_aux and r.ll_aux_err or r.ll_err
  -- a quantum prior small enough to diagonalize: log p(x) with the true p(z) (r.ll is then the Q-ELBO bound)
  r.ll_exact, r.ll_exact_err = f.ll_exact, f.ll_exact_se
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
  p:option{"network", choices = {"dense", "conv"}, default = "dense", help = "networks (dense = the paper's P-dense: 784-512-256 encoder, 256-512-784 decoder)"}
  p:option{"epochs", type = "int", default = spec.epochs or 3, min = 1, help = "training epochs per run"}
  p:option{"seeds", default = "1", metavar = "N|a,b,..", help = "N seeds 1..N, or a list; several seeds give mean ± s.e."}
  p:option{"eval-k", type = "int", default = 1000, min = 1, help = "importance samples for the test LL"}
  p:option{"eval-n", type = "int", default = 1000, min = 1, help = "test images for the LL"}
  p:option{"out", default = spec.out, metavar = "DIR", help = "study directory: one sub-directory per run, tables, plot"}
  p:option{"train-args", metavar = "'--opt v ..'", help = "extra train.lua options for every run (split on spaces)"}
  p:flag{"rerun", help = "train again from scratch even where OUT/<run> holds a finished or resumable run"}
  p:flag{"smoke", help = "the smoke size: 1 epoch on 100 images, 2 seeds, tiny evaluations (well under a minute; CI)"}
  p:flag{"paper", help = "the paper's size: conv networks, 2000 epochs, 5 seeds, LL on the whole test set (K = 1000)"}
  p:flag{"dry-run", help = "print each run's options and exit"}
  p:option{"task", metavar = "I/N", help = "run slice I of N of the study's runs (a job array's task; " ..
           "default from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)"}
  p:flag{"merge", help = "train nothing: collect the finished runs of every slice into the study's table"}
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

--- The sizes --smoke and --paper stand for: study options, and training
--- options for every run (an explicit --train-args option wins).
M.SIZES = {
  smoke = {study = {epochs = 1, seeds = "2", eval_k = 10, eval_n = 50},
           train = {train_n = 100, batch_size = 50, valid_n = 50, chains = 50, logz_chains = 50, logz_temperatures = 50}},
  paper = {study = {network = "conv", epochs = 2000, seeds = "5", eval_k = 1000, eval_n = 10000}, train = {}},
}

--- Applies --smoke / --paper to the parsed options `o` (in place): the
--- size's values replace the defaults (not options the user gave, which
--- `given` names). Returns the size's training options.
function M.apply_size(o, given)
  if o.smoke and o.paper then io.stderr:write("--smoke and --paper exclude each other\n"); os.exit(2) end
  local size = o.smoke and M.SIZES.smoke or o.paper and M.SIZES.paper
  if not size then return {} end
  for k, v in pairs(size.study) do
    if not (given and given[k]) then o[k] = v end
  end
  return size.train
end

--- The option names given on a command line (dashes as underscores).
function M.given(argv)
  local t = {}
  for _, w in ipairs(argv or {}) do
    local name = w:match("^%-%-([%w%-]+)")
    if name then t[(name:gsub("-", "_"))] = true end
  end
  return t
end

--- A study from the parsed shared options `o`; spec.name names its files,
--- spec.echo(line) replaces print for everything the study prints,
--- spec.train (a function(options) -> results) replaces trainer.run (tests).
function M.new(o, spec)
  local size_train = M.apply_size(o, M.given(spec.argv or arg))
  local seeds, err = M.seeds(o.seeds)
  if not seeds then io.stderr:write(spec.name, ": ", err, "\n"); os.exit(2) end
  local data = o.data or M.default_data(o.dataset)
  if o.dataset == "mnist" and not data then
    io.stderr:write(spec.name, ": --dataset mnist needs --data DIR (no ../shared/data/mnist beside ",
                    tostring(qv.root), ")\n")
    os.exit(2)
  end
  local extra = {}
  for k, v in pairs(size_train) do extra[k] = v end
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
  if cond.options.dataset and cond.options.dataset ~= o.dataset then
    -- a condition on another dataset: its own directory (MNIST's default beside the root)
    t.data = cond.options.data or (cond.options.dataset == "mnist" and M.default_data("mnist")) or nil
  end
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

--- The slice of a study this process runs: (I, N) from --task I/N, else
--- from SLURM's job-array variables (task IDs counted from
--- SLURM_ARRAY_TASK_MIN), else (1, 1). Returns I, N or nil and a message.
function M.task(spec, env)
  env = env or os.getenv
  local i, n
  if spec then
    i, n = tostring(spec):match("^(%d+)/(%d+)$")
    i, n = tonumber(i), tonumber(n)
    if not i or n < 1 or i < 1 or i > n then return nil, "--task: expected I/N with 1 <= I <= N, got '" .. tostring(spec) .. "'" end
    return i, n
  end
  local id, count = tonumber(env("SLURM_ARRAY_TASK_ID") or ""), tonumber(env("SLURM_ARRAY_TASK_COUNT") or "")
  if id and count then
    local min = tonumber(env("SLURM_ARRAY_TASK_MIN") or "") or 0
    return id - min + 1, count
  end
  return 1, 1
end

--- Whether run k (1-based, in the study's order) belongs to slot `slot`
--- of `slots` (slots = job-array tasks × MPI ranks; round robin).
function M.mine(k, slot, slots) return (k - 1) % slots == slot end

--- Runs every condition × seed (resuming killed runs and reusing finished
--- ones unless --rerun) and returns (aggregated rows, per-run results). A
--- failed run is recorded (ok = false, error) and the study goes on (the
--- scripts exit 1 after the table when `report` counts failures). Ctrl-C
--- stops the study; running it again resumes.
function Study:run()
  local o = self.o
  local total = #self.conditions * #self.seeds
  if not o.merge and qv.dist.rank() > 0 then self.echo = function() end end  -- rank 0 prints the study
  self.echo(("%s: %d condition%s × %d seed%s = %d run%s of %d epoch%s, %s, out %s"):format(self.name,
    #self.conditions, #self.conditions == 1 and "" or "s", #self.seeds, #self.seeds == 1 and "" or "s",
    total, total == 1 and "" or "s", o.epochs, o.epochs == 1 and "" or "s", o.dataset, o.out))
  -- Fan-out: the runs are dealt round robin over (job-array task, MPI
  -- rank) slots; each rank trains its runs alone (a world of one).
  local ti, tn = M.task(o.task)
  if not ti then io.stderr:write(self.name, ": ", tn, "\n"); os.exit(2) end
  if o.merge then ti, tn = 1, 1 end
  local rank, size = qv.dist.rank(), qv.dist.size()
  if o.merge then rank, size = 0, 1 end
  local slots, slot = tn * size, (ti - 1) * size + rank
  self.slice = tn > 1 and ("task-%d-of-%d"):format(ti, tn) or nil
  self.rank = rank
  if slots > 1 then
    self.echo(("%s: slice %d of %d (task %d/%d, rank %d/%d): runs %s"):format(self.name, slot + 1, slots, ti, tn,
      rank, size, slots >= total and tostring(slot + 1) or ("%d, %d, ..."):format(slot + 1, slot + 1 + slots)))
  end
  local trainer = require "trainer"
  local results = {}
  local k = 0
  for _, seed in ipairs(self.seeds) do
    for _, cond in ipairs(self.conditions) do
      k = k + 1
      local prefix = ("[%s s%d] "):format(cond.label, seed)
      if M.mine(k, slot, slots) then
        self.echo(("\n(%d/%d) %s"):format(k, total, describe_options(self:run_options(cond, seed))))
        if o.merge then
          local r = self:collect_one(cond, seed)
          if not r.ok then self.echo(prefix .. "MISSING: " .. tostring(r.error)) end
          results[#results + 1] = r
        elseif not o.dry_run then
          trainer.dist = size > 1 and trainer.SOLO or qv.dist
          local ok, r = pcall(self.run_one, self, cond, seed, prefix)
          trainer.dist = qv.dist
          if not ok then error(r, 0) end
          if not r.ok then self.echo(prefix .. "FAILED: " .. tostring(r.error)) end
          r.k = k
          results[#results + 1] = r
        end
      end
    end
  end
  if o.dry_run then os.exit(0) end
  if size > 1 then
    -- Every rank's results to rank 0, which reports them in the study's order.
    local json = require "json"
    local all = qv.dist.gather(json.encode(results))
    if rank > 0 then self.results = results; return {}, results end
    results = {}
    for _, text in ipairs(all) do for _, r in ipairs(json.decode(text)) do results[#results + 1] = r end end
    table.sort(results, function(a, b) return a.k < b.k end)
  end
  self.results = results
  return M.aggregate(results, {"ll", "elbo", "active", "seconds", "valid_elbo", "beta_eff", "ll_aux", "ll_head"}), results
end

--- The record of a run another slice trained (--merge): its summary and
--- log, or ok = false when it has not finished.
function Study:collect_one(cond, seed)
  local opts = self:run_options(cond, seed)
  local dir = opts.out
  local r = {condition = cond.label, seed = seed, dir = dir}
  if not qv.exists(dir .. "/summary.json") then
    r.ok, r.error = false, "no finished run in " .. dir .. " (run its slice first)"; return r
  end
  local final = require("vaekit").read_summary(dir .. "/summary.json")
  local nums, err = M.results_of({final = final, rows = runlog.read_csv(dir .. "/log.csv")})
  if not nums then r.ok, r.error = false, err; return r end
  for key, v in pairs(nums) do r[key] = v end
  r.seconds = r.train_seconds
  r.ok = true
  return r
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
  if (self.rank or 0) > 0 then  -- rank 0 reports the whole study
    local failed = 0
    for _, r in ipairs(self.results or {}) do if not r.ok then failed = failed + 1 end end
    return failed
  end
  -- A job-array slice writes its own files; --merge writes the study's.
  local name = self.slice and (self.name .. "-" .. self.slice) or self.name
  local saved = self.name
  self.name = name
  local ok, failed = pcall(self.report_files, self, rows, spec)
  self.name = saved
  if not ok then error(failed, 0) end
  if self.slice then
    self.echo(("%s: this was slice %s; when every slice has finished, run the same command with --merge " ..
               "(no --task) for the whole table"):format(saved, self.slice))
  end
  return failed
end

function Study:report_files(rows, spec)
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
    "condition", "seed", "ok", "test_ll", "test_ll_err", "test_ll_aux", "test_ll_aux_err", "test_ll_head", "logz",
    "logz_err", "elbo", "active_units", "valid_elbo", "beta_eff", "seconds", "dir", "error"}})
  for _, r in ipairs(self.results or {}) do
    runs_csv:write{condition = r.condition, seed = r.seed, ok = r.ok and 1 or 0, test_ll = r.ll,
                   test_ll_err = r.ll_err, test_ll_aux = r.ll_aux, test_ll_aux_err = r.ll_aux_err,
                   test_ll_head = r.ll_head, logz = r.logz, logz_err = r.logz_err, elbo = r.elbo,
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

--- Writes the study's plot (`M.plot_panels(rows)`) as a PNG at `path`.
function M.plot(path, rows)
  qv.plot.lines(path, M.plot_panels(rows))
end

-- ---------------------------------------------------------------------------
-- The paper's sampler × prior cells (Table I, Figs. 5 and 13)

--- Adds the options every annealer study shares to parser `p`: the "DW"
--- sampler (the emulator, or an external command sampler) and the
--- emulator's temperature, noise and drift.
function M.annealer_options(p, defaults)
  defaults = defaults or {}
  p:option{"dw", default = "annealer", metavar = "annealer|command:PROG ARGS",
           help = "the annealer ('DW' cells): qvlua's emulator, or an external sampler, e.g. " ..
                  "'command:python3 scripts/samplers/dimod_sampler.py' (D-Wave Ocean; --solver qpu for hardware)"}
  p:option{"dw-beta-eff", type = "number", default = defaults.beta_eff or 0.75, min = 0,
           help = "the emulator's (mean) effective inverse temperature"}
  p:option{"dw-h-noise", type = "number", default = defaults.h_noise or 0.05, min = 0, help = "the emulator's control noise on h"}
  p:option{"dw-j-noise", type = "number", default = defaults.j_noise or 0.025, min = 0, help = "the emulator's control noise on J"}
  p:option{"dw-drift-sd", type = "number", default = defaults.drift_sd or 0, min = 0,
           help = "s.d. of the emulator's drifting inverse temperature (Ornstein-Uhlenbeck; 0: constant)"}
  p:option{"dw-drift-time", type = "number", default = defaults.drift_time or 100, min = 0,
           help = "the drift's correlation time, in training steps"}
end

--- Training options of the "DW" sampler from the parsed annealer options.
function M.dw_options(o)
  local t = {sampler = o.dw, negative_phase = "sampled"}
  if o.dw == "annealer" then
    t.beta_eff, t.h_noise, t.j_noise = o.dw_beta_eff, o.dw_h_noise, o.dw_j_noise
    t.beta_drift_sd, t.beta_drift_time = o.dw_drift_sd, o.dw_drift_time
  else
    t.beta_eff_rate = 0.01          -- an external annealer: track its temperature too
  end
  return t
end

--- Table I's cells: {label, options} for sampler × prior, every prior
--- (Bernoulli too) trained with its sampler's samples.
function M.table1_cells(o)
  local cells = {}
  for _, prior in ipairs{"chimera", "bernoulli"} do
    local dw = M.dw_options(o)
    dw.prior = prior
    cells[#cells + 1] = {"dw-" .. prior, dw}
    cells[#cells + 1] = {"pa-" .. prior, {prior = prior, sampler = "pa", negative_phase = "sampled"}}
  end
  return cells
end

-- ---------------------------------------------------------------------------
-- Reports: a Markdown file with the tables, PNG figures of curves over
-- epochs (mean over seeds, min/max band) and the CSV behind each.

--- Summary of per-seed curves: `series` is an array of {epoch -> value}
--- maps (one per seed); returns {x, mean, lo, hi, n} over the epochs any
--- seed has (min/max over the seeds that have a finite value there).
function M.band(series)
  local epochs, seen = {}, {}
  for _, s in ipairs(series) do
    for e in pairs(s) do if not seen[e] then seen[e] = true; epochs[#epochs + 1] = e end end
  end
  table.sort(epochs)
  local out = {x = {}, mean = {}, lo = {}, hi = {}, n = {}}
  local nan = 0 / 0
  for i, e in ipairs(epochs) do
    local vs = {}
    for _, s in ipairs(series) do
      local v = s[e]
      if type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge then vs[#vs + 1] = v end
    end
    local lo, hi = nan, nan
    for _, v in ipairs(vs) do
      if lo ~= lo or v < lo then lo = v end
      if hi ~= hi or v > hi then hi = v end
    end
    out.x[i], out.mean[i], out.lo[i], out.hi[i], out.n[i] = e, M.mean_se(vs) or nan, lo, hi, #vs
  end
  return out
end

--- The per-epoch curves of every condition: {[condition] = {[column] =
--- band}} from the log.csv of each finished run (`results` as Study:run
--- returns them), for the log columns `columns`.
function M.curves(results, columns)
  local per = {}
  for _, r in ipairs(results) do
    if r.ok and r.dir then
      local ok, rows = pcall(runlog.read_csv, r.dir .. "/log.csv")
      if ok and rows then
        per[r.condition] = per[r.condition] or {}
        for _, col in ipairs(columns) do
          local m = {}
          for _, row in ipairs(rows) do
            if row.epoch and type(row[col]) == "number" then m[row.epoch] = row[col] end
          end
          per[r.condition][col] = per[r.condition][col] or {}
          table.insert(per[r.condition][col], m)
        end
      end
    end
  end
  local out = {}
  for cond, cols in pairs(per) do
    out[cond] = {}
    for col, series in pairs(cols) do out[cond][col] = M.band(series) end
  end
  return out
end

--- Writes the curves as CSV: condition, column, epoch, mean, min, max, n.
function M.write_curves_csv(path, curves, conditions, columns)
  local log = runlog.open(path, {fields = {"condition", "column", "epoch", "mean", "min", "max", "n"}})
  for _, c in ipairs(conditions) do
    for _, col in ipairs(columns) do
      local b = curves[c] and curves[c][col]
      if b then
        for i, e in ipairs(b.x) do
          log:write{condition = c, column = col, epoch = e, mean = b.mean[i], min = b.lo[i], max = b.hi[i], n = b.n[i]}
        end
      end
    end
  end
  log:close()
end

--- Plot panels of curves: `panels` = {{title = ..., column = ...}, ...};
--- one series per condition (mean over seeds) with its min/max band.
function M.curve_panels(curves, conditions, panels, labels)
  local out = {}
  for _, spec in ipairs(panels) do
    local series = {}
    for _, c in ipairs(conditions) do
      local b = curves[c] and curves[c][spec.column]
      if b and #b.x > 0 then
        series[#series + 1] = {name = (labels and labels[c]) or c, x = b.x, y = b.mean, lo = b.lo, hi = b.hi}
      end
    end
    if #series > 0 then out[#out + 1] = {title = spec.title, xlabel = spec.xlabel or "epoch", series = series} end
  end
  return out
end

--- Differences a − b of `key` (default the headline LL) between the runs
--- of conditions a and b with the same seed (same initialization and data
--- order): mean, s.e., n over the common seeds.
function M.paired(results, a, b, key)
  key = key or "ll_head"
  local by = {}
  for _, r in ipairs(results or {}) do
    if r.ok then by[r.condition .. "\0" .. tostring(r.seed)] = r end
  end
  local d = {}
  for _, r in ipairs(results or {}) do
    if r.ok and r.condition == a then
      local o = by[b .. "\0" .. tostring(r.seed)]
      if o and r[key] and o[key] then d[#d + 1] = r[key] - o[key] end
    end
  end
  return M.mean_se(d)
end

--- The command line that ran this script ("qvlua SCRIPT ARGS", quoted
--- where needed), or nil outside a script.
function M.command_line(argt)
  if not argt or not argt[0] then return nil end
  local parts = {"qvlua", argt[0]}
  for i = 1, #argt do
    local a = argt[i]
    parts[#parts + 1] = a:find("[%s'\"]") and ("'" .. a:gsub("'", "'\\''") .. "'") or a
  end
  return table.concat(parts, " ")
end

--- "m ± se" of `paired` (fmt default %.2f), "-" without common seeds.
function M.pm_paired(results, a, b, key, fmt)
  local m, se, n = M.paired(results, a, b, key)
  if n == 0 then return "-" end
  return M.pm(m, se, fmt) .. (" (n = %d)"):format(n)
end

--- The per-run table of a report: condition, seed, headline LL, LL at
--- beta = 1, ELBO, active units, beta_eff, seconds ("FAILED" rows too).
function M.runs_table(results)
  local header = {"condition", "seed", "test LL (headline)", "test LL at β = 1", "ELBO", "active units", "β_eff", "s"}
  local rows = {}
  for _, r in ipairs(results or {}) do
    if r.ok then
      rows[#rows + 1] = {r.condition, tostring(r.seed), M.pm(r.ll_head, r.ll_head_err) .. (r.ll_aux and " (aux.)" or ""),
                         M.pm(r.ll, r.ll_err), M.pm(r.elbo), M.pm(r.active, nil, "%.0f"), M.pm(r.beta_eff, nil, "%.3f"),
                         M.pm(r.seconds, nil, "%.0f")}
    else
      rows[#rows + 1] = {r.condition, tostring(r.seed), "FAILED: " .. tostring(r.error), "", "", "", "", ""}
    end
  end
  return header, rows
end

--- A Markdown table from a header and rows of cells.
function M.md_table(header, rows)
  local function line(r)
    local cells = {}
    for j = 1, #header do cells[j] = tostring(r[j] == nil and "" or r[j]):gsub("|", "\\|") end
    return "| " .. table.concat(cells, " | ") .. " |"
  end
  local out = {line(header)}
  local rule = {}
  for j = 1, #header do rule[j] = j == 1 and "---" or "---:" end
  out[#out + 1] = "| " .. table.concat(rule, " | ") .. " |"
  for _, r in ipairs(rows) do out[#out + 1] = line(r) end
  return table.concat(out, "\n")
end

--- The standard per-condition table of a report: the headline LL (the
--- auxiliary machine's after annealer training, else at beta = 1), the
--- LL at beta = 1, ELBO, active units, final beta_eff, seconds per run.
function M.condition_table(rows, multi)
  local header = {"condition", "runs", "test LL (headline)", "test LL at β = 1", "ELBO", "active units", "β_eff", "s / run"}
  local cells = {}
  for i, r in ipairs(rows) do
    cells[i] = {r.condition, r.failed > 0 and ("%d/%d"):format(r.n, r.runs) or tostring(r.n),
                M.pm(r.ll_head, r.ll_head_se) .. (r.ll_aux and " (aux.)" or ""), M.pm(r.ll, r.ll_se),
                M.pm(r.elbo, multi and r.elbo_se or nil), M.pm(r.active, multi and r.active_se or nil, "%.1f"),
                M.pm(r.beta_eff, nil, "%.3f"), M.pm(r.seconds, nil, "%.0f")}
  end
  return header, cells
end

--- Writes OUT/<name>.md: spec.title, spec.intro (lines), spec.tables
--- ({{title, header, rows}}; default the condition table), the curves
--- figures spec.figures ({{file, title, panels = {{title, column}}}}: each
--- OUT/<name>-<file>.png with OUT/<name>-<file>.csv behind it),
--- spec.reference (the paper's numbers, lines), spec.notes (lines), the
--- budget (spec.dataset names the data when the conditions span several)
--- and the per-run CSVs. Returns the report's path and the files written.
function Study:write_report(rows, spec)
  spec = spec or {}
  local o = self.o
  if (self.rank or 0) > 0 then return nil, {} end   -- rank 0 reports the whole study
  if self.slice then
    -- a job-array slice reports its own runs under its own name; --merge writes the study's report
    local saved = self.name
    self.name = self.name .. "-" .. self.slice
    self.slice = nil
    local ok, path, files = pcall(self.write_report, self, rows, spec)
    self.name, self.slice = saved, self.name:sub(#saved + 2)
    if not ok then error(path, 0) end
    return path, files
  end
  local multi = #self.seeds >= 2
  qv.mkdir(o.out)
  local files = {}
  local lines = {"# " .. (spec.title or self.name), ""}
  for _, l in ipairs(spec.intro or {}) do lines[#lines + 1] = l end
  if spec.intro then lines[#lines + 1] = "" end
  local total = 0
  for _, r in ipairs(self.results or {}) do total = total + (r.seconds or 0) end
  lines[#lines + 1] = ("Budget: %s, %s networks, %d epoch%s per run, %d seed%s (%s), LL with K = %d on %d test images%s; " ..
                       "%d runs, %.0f s of training and evaluation in all."):format(spec.dataset or o.dataset, o.network, o.epochs,
    o.epochs == 1 and "" or "s", #self.seeds, #self.seeds == 1 and "" or "s", table.concat(self.seeds, ","), o.eval_k,
    o.eval_n, next(self.extra) and (", training options " .. describe_options(self.extra)) or "",
    #(self.results or {}), total)
  lines[#lines + 1] = ""
  lines[#lines + 1] = multi and "Errors are the standard error over seeds (s.d./√n, as the paper's Table I)." or
                      "One seed: errors are the run's estimator error (importance sampling and log Z)."
  lines[#lines + 1] = ""
  local tables = spec.tables
  if not tables then
    local h, c = M.condition_table(rows, multi)
    tables = {{title = "Results by condition", header = h, rows = c}}
  end
  for _, t in ipairs(tables) do
    lines[#lines + 1] = "## " .. t.title
    lines[#lines + 1] = ""
    lines[#lines + 1] = M.md_table(t.header, t.rows)
    lines[#lines + 1] = ""
  end
  if spec.reference then
    lines[#lines + 1] = "## The paper"
    lines[#lines + 1] = ""
    for _, l in ipairs(spec.reference) do lines[#lines + 1] = l end
    lines[#lines + 1] = ""
  end
  local conditions = {}
  for _, r in ipairs(rows) do conditions[#conditions + 1] = r.condition end
  for _, fig in ipairs(spec.figures or {}) do
    local columns = {}
    for _, p in ipairs(fig.panels) do columns[#columns + 1] = p.column end
    local curves = fig.curves or M.curves(self.results or {}, columns)
    local base = ("%s-%s"):format(self.name, fig.file)
    M.write_curves_csv(("%s/%s.csv"):format(o.out, base), curves, conditions, columns)
    files[#files + 1] = base .. ".csv"
    local panels = M.curve_panels(curves, conditions, fig.panels, fig.labels)
    lines[#lines + 1] = "## " .. fig.title
    lines[#lines + 1] = ""
    if #panels > 0 then
      local ok, err = pcall(qv.plot.lines, ("%s/%s.png"):format(o.out, base), panels)
      if ok then
        files[#files + 1] = base .. ".png"
        lines[#lines + 1] = ("![%s](%s.png)"):format(fig.title, base)
      else
        lines[#lines + 1] = "(no figure: " .. tostring(err) .. ")"
      end
    else
      lines[#lines + 1] = "(no curves: no finished run logged these columns)"
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = ("Lines: mean over seeds; bands: min/max over seeds. Data: [%s.csv](%s.csv).%s"):format(
      base, base, fig.caption and (" " .. fig.caption) or "")
    lines[#lines + 1] = ""
  end
  if self.results and #self.results > 0 then
    local h, c = M.runs_table(self.results)
    lines[#lines + 1] = "## Every run"
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Runs with the same seed share their initialization and data order; a run with 0 active units " ..
                        "has a collapsed posterior (its LL equals its ELBO)."
    lines[#lines + 1] = ""
    lines[#lines + 1] = M.md_table(h, c)
    lines[#lines + 1] = ""
  end
  local notes = {}
  for _, l in ipairs(spec.notes or {}) do notes[#notes + 1] = l end
  local collapsed, order = {}, {}
  for _, r in ipairs(self.results or {}) do
    if r.ok and r.active == 0 then
      if not collapsed[r.condition] then collapsed[r.condition] = {}; order[#order + 1] = r.condition end
      table.insert(collapsed[r.condition], r.seed)
    end
  end
  if #order > 0 then
    local parts = {}
    for _, c in ipairs(order) do parts[#parts + 1] = ("%s (seed %s)"):format(c, table.concat(collapsed[c], ", ")) end
    notes[#notes + 1] = "- collapsed runs (0 active units at the end; they dominate the spread over seeds): " ..
                        table.concat(parts, "; ")
  end
  if #notes > 0 then
    lines[#lines + 1] = "## What came out"
    lines[#lines + 1] = ""
    for _, l in ipairs(notes) do lines[#lines + 1] = l end
    lines[#lines + 1] = ""
  end
  lines[#lines + 1] = ("Per condition: [%s.csv](%s.csv); per run: [%s-runs.csv](%s-runs.csv)."):format(
    self.name, self.name, self.name, self.name)
  lines[#lines + 1] = ""
  local command = spec.command or M.command_line(arg)
  if command then lines[#lines + 1] = "Command: `" .. command .. "`"; lines[#lines + 1] = "" end
  local path = ("%s/%s.md"):format(o.out, self.name)
  qv.write_file(path, table.concat(lines, "\n"))
  files[#files + 1] = self.name .. ".md"
  self.echo(("wrote %s (report) and %s/{%s}"):format(path, o.out, table.concat(files, ", ")))
  return path, files
end

return M
