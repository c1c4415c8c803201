--- Notebook-style studies that drive scripts/train.lua as child processes:
--- build its command line, run it with its output streamed under a prefix,
--- read back its results, and summarize conditions × seeds as a table, a
--- CSV and a plot. Used by scripts/studies/*.lua.
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
--- Everything except `Study:run` (which starts processes) is a pure function
--- of its arguments, tested in Tests/lua/test_study.lua.

local args = require "args"
local runlog = require "runlog"
local json = require "json"

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

--- Quotes a word for /bin/sh (only when it needs quoting).
function M.shell_quote(s)
  s = tostring(s)
  if s ~= "" and not s:find("[^%w%-%./_=:,+@%%]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- One shell command line from an array of words.
function M.command_line(words)
  local q = {}
  for i, w in ipairs(words) do q[i] = M.shell_quote(w) end
  return table.concat(q, " ")
end

--- The argument vector for train.lua from an options table (keys with
--- underscores become --dashed-flags, sorted for a stable command line):
--- true → --flag, false/nil → left out, anything else → --key value.
--- `extra` (an array of words, e.g. from --train-args) is appended as is.
function M.train_argv(options, extra)
  local keys = {}
  for k in pairs(options) do keys[#keys + 1] = k end
  table.sort(keys)
  local argv = {}
  for _, k in ipairs(keys) do
    local v = options[k]
    local flag = "--" .. tostring(k):gsub("_", "-")
    if v == true then argv[#argv + 1] = flag
    elseif v ~= false and v ~= nil then
      argv[#argv + 1] = flag
      if type(v) == "number" and math.type(v) == "float" then
        argv[#argv + 1] = ("%.10g"):format(v)
      else
        argv[#argv + 1] = tostring(v)
      end
    end
  end
  for _, w in ipairs(extra or {}) do argv[#argv + 1] = w end
  return argv
end

--- Splits a --train-args string on white space (no quoting).
function M.words(s)
  local t = {}
  for w in tostring(s or ""):gmatch("%S+") do t[#t + 1] = w end
  return t
end

--- The option names (without "--") that a usage text lists.
function M.help_options(text)
  local set = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local name = line:match("^%s+%-%-([%w][%w%-]*)")
    if name then set[name] = true end
  end
  return set
end

--- The --flags of `argv` that `supported` (a set from help_options) lacks.
function M.unsupported(argv, supported)
  local missing, seen = {}, {}
  for _, w in ipairs(argv) do
    local name = w:match("^%-%-([%w][%w%-]*)")
    if name and not supported[name] and not supported[name:match("^no%-(.*)") or ""] and not seen[name] then
      seen[name] = true
      missing[#missing + 1] = "--" .. name
    end
  end
  return missing
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

local function number(s)
  if s == nil then return nil end
  local l = s:lower()
  if l == "nan" or l == "-nan" then return 0 / 0 end
  if l == "inf" or l == "+inf" then return math.huge end
  if l == "-inf" then return -math.huge end
  return tonumber(s)
end

local NUM = "([%+%-]?[%w%.]+)"

--- Parses train.lua's summary line ("test LL -95.12 ± 0.30 (log Z 123.456 ±
--- 0.004)  ELBO -101.20  active units 97"). Returns {ll, ll_err, logz,
--- logz_err, elbo, active} or nil. ll_err is the line's error bar (the
--- importance-sampling s.e. and log Z's error combined).
function M.parse_summary(line)
  if type(line) ~= "string" then return nil end
  local ll, ll_err = line:match("test LL%s+" .. NUM .. "%s*±%s*" .. NUM)
  if not ll then ll = line:match("test LL%s+" .. NUM) end
  if not number(ll) then return nil end
  local r = {ll = number(ll), ll_err = number(ll_err)}
  local lz, lz_err = line:match("log Z%s+" .. NUM .. "%s*±%s*" .. NUM)
  r.logz, r.logz_err = number(lz), number(lz_err)
  r.elbo = number(line:match("ELBO%s+" .. NUM))
  r.active = number(line:match("active units%s+" .. NUM))
  return r
end

--- The parsed summary from the last line of `lines` that has one.
function M.find_summary(lines)
  for i = #lines, 1, -1 do
    local r = M.parse_summary(lines[i])
    if r then return r end
  end
  return nil
end

--- Parses a JSON object — the shape of OUT/summary.json — into a Lua table
--- with nulls left out. Returns nil when `text` is not a JSON object.
function M.parse_flat_json(text)
  local ok, t = pcall(json.decode, text)
  if not ok or type(t) ~= "table" or (next(t) ~= nil and #t > 0) then return nil end
  for k, v in pairs(t) do if v == json.null then t[k] = nil end end
  return t
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

local write_file = qv.write_file

local function lines_of(text)
  local t = {}
  for l in (text or ""):gmatch("[^\n]*") do t[#t + 1] = l end
  return t
end

--- Reads a finished run's results from its directory and its output lines:
--- OUT/summary.json when train.lua writes one, else the summary line;
--- valid_elbo, beta_eff, epoch and training seconds from log.csv's rows.
function M.read_results(dir, lines)
  local r = {}
  local last_log
  local rows = runlog.read_csv(dir .. "/log.csv")
  if #rows > 0 then
    last_log = rows[#rows]
    r.epochs_done = last_log.epoch
    r.valid_elbo, r.beta_eff = last_log.valid_elbo, last_log.beta_eff
    r.valid_active = last_log.active_units
    local secs = 0
    for _, row in ipairs(rows) do secs = secs + (tonumber(row.seconds) or 0) end
    r.train_seconds = secs
    if last_log.test_ll then r.ll = last_log.test_ll end
  end
  local js = M.parse_flat_json(read_file(dir .. "/summary.json"))
  local s = M.find_summary(lines or {})
  if js then
    r.ll = js.test_ll or r.ll
    local se, lz_err = js.test_ll_se, js.logz_err
    if se or lz_err then r.ll_err = math.sqrt((se or 0) ^ 2 + (lz_err or 0) ^ 2) end
    r.logz, r.logz_err = js.logz, lz_err
    r.elbo, r.active = js.test_elbo or js.elbo, js.active_units or js.active
    r.source = "summary.json"
  elseif s then
    for k, v in pairs(s) do r[k] = v end
    r.source = "summary line"
  end
  if r.ll == nil then return nil, "no test LL: neither a summary line in the output nor a test_ll in log.csv" end
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
  p:option{"qvlua", metavar = "PATH", help = "qvlua executable for the runs (default: the one running this script)"}
  p:flag{"rerun", help = "train again even where OUT/<run> already holds a finished run with the same command"}
  p:flag{"dry-run", help = "print the commands and exit"}
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
--- spec.train_script replaces <root>/scripts/train.lua (tests use a stub),
--- spec.echo(line) replaces print for everything the study prints.
function M.new(o, spec)
  local seeds, err = M.seeds(o.seeds)
  if not seeds then io.stderr:write(spec.name, ": ", err, "\n"); os.exit(2) end
  local data = o.data or M.default_data(o.dataset)
  if o.dataset == "mnist" and not data then
    io.stderr:write(spec.name, ": --dataset mnist needs --data DIR (no ../shared/data/mnist beside ",
                    tostring(qv.root), ")\n")
    os.exit(2)
  end
  local root = qv.root or "."
  return setmetatable({o = o, name = spec.name, seeds = seeds, data = data, conditions = {},
                       exe = o.qvlua or M.interpreter(arg, qv.root),
                       script = spec.train_script or (root .. "/scripts/train.lua"),
                       extra = M.words(o.train_args), echo = spec.echo or M.say}, Study)
end

--- Adds a condition: `label` (names its runs and table row) and the
--- train.lua options that distinguish it (merged over the shared ones).
function Study:condition(label, options)
  self.conditions[#self.conditions + 1] = {label = label, options = options or {}}
end

--- The train.lua options of one run.
function Study:run_options(cond, seed)
  local o = self.o
  local t = {dataset = o.dataset, data = self.data, network = o.network, epochs = o.epochs,
             eval_k = o.eval_k, eval_n = o.eval_n, seed = seed,
             out = ("%s/%s-s%d"):format(o.out, cond.label, seed)}
  for k, v in pairs(cond.options) do t[k] = v end
  return t
end

--- The words of one run's command line.
function Study:run_words(cond, seed)
  local words = {self.exe, self.script}
  for _, w in ipairs(M.train_argv(self:run_options(cond, seed), self.extra)) do words[#words + 1] = w end
  return words
end

--- Runs `cmd` (a shell command line), printing each output line under
--- `prefix` (through `echo`, default stdout) and copying it to `log_path`.
--- Returns ok, exit code, lines.
function M.stream(cmd, prefix, log_path, echo)
  echo = echo or M.say
  local log = log_path and io.open(log_path, "w")
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local lines = {}
  for line in p:lines() do
    lines[#lines + 1] = line
    echo(prefix .. line)
    if log then log:write(line, "\n"); log:flush() end
  end
  local ok, how, code = p:close()
  if log then log:close() end
  if how == "signal" then code = 128 + (code or 0) end
  return ok == true, code or (ok and 0 or 1), lines
end

--- Checks once that train.lua knows every option the runs pass.
function Study:check_options()
  local words = {}
  for _, c in ipairs(self.conditions) do
    for _, w in ipairs(M.train_argv(self:run_options(c, self.seeds[1]), self.extra)) do words[#words + 1] = w end
  end
  local p = io.popen(M.command_line{self.exe, self.script, "--help"} .. " 2>&1", "r")
  local help = p and p:read("a") or ""
  if p then p:close() end
  local supported = M.help_options(help)
  if not next(supported) then
    return nil, ("cannot run %s --help:\n%s"):format(M.command_line{self.exe, self.script}, help)
  end
  local missing = M.unsupported(words, supported)
  if #missing > 0 then
    return nil, ("this train.lua has no %s; the study needs %s (see scripts/studies/README.md)")
      :format(table.concat(missing, ", "), #missing > 1 and "them" or "it")
  end
  return true
end

--- Runs every condition × seed (reusing finished runs unless --rerun) and
--- returns (aggregated rows, per-run results). A failed run is recorded
--- (ok = false, error) and the study goes on (the scripts exit 1 after the
--- table when `report` counts failures). Ctrl-C in a run stops the study.
function Study:run()
  local o = self.o
  local ok, err = true, nil
  if not o.dry_run then ok, err = self:check_options() end
  if not ok then io.stderr:write(self.name, ": ", err, "\n"); os.exit(2) end
  local total = #self.conditions * #self.seeds
  self.echo(("%s: %d condition%s × %d seed%s = %d run%s of %d epoch%s, %s, out %s"):format(self.name,
    #self.conditions, #self.conditions == 1 and "" or "s", #self.seeds, #self.seeds == 1 and "" or "s",
    total, total == 1 and "" or "s", o.epochs, o.epochs == 1 and "" or "s", o.dataset, o.out))
  local results = {}
  local k = 0
  for _, seed in ipairs(self.seeds) do
    for _, cond in ipairs(self.conditions) do
      k = k + 1
      local words = self:run_words(cond, seed)
      local cmd = M.command_line(words)
      local dir = self:run_options(cond, seed).out
      local prefix = ("[%s s%d] "):format(cond.label, seed)
      self.echo(("\n(%d/%d) %s"):format(k, total, cmd))
      if o.dry_run then goto continue end
      do
        local r = {condition = cond.label, seed = seed, dir = dir, command = cmd}
        local reused = false
        if not o.rerun and read_file(dir .. "/study-command.txt") == cmd .. "\n" then
          local prev = lines_of(read_file(dir .. "/output.txt"))
          local res = M.read_results(dir, prev)
          local before = tonumber(read_file(dir .. "/study-seconds.txt"))
          if res and res.epochs_done == o.epochs then
            for key, v in pairs(res) do r[key] = v end
            r.ok, r.code, r.seconds, reused = true, 0, before, true
            self.echo(prefix .. "finished run found in " .. dir .. " (--rerun trains it again)")
          end
        end
        if not reused then
          qv.mkdir(dir)
          os.remove(dir .. "/study-command.txt")
          local t0 = qv.clock()
          local okc, code, lines = M.stream(cmd, prefix, dir .. "/output.txt", self.echo)
          r.seconds, r.code = qv.clock() - t0, code
          if code == 130 or code == 128 + 2 then
            io.stderr:write(self.name, ": interrupted\n")
            os.exit(130)
          end
          if okc then
            local res, rerr = M.read_results(dir, lines)
            if res then
              for key, v in pairs(res) do r[key] = v end
              r.ok = true
              write_file(dir .. "/study-command.txt", cmd .. "\n")
              write_file(dir .. "/study-seconds.txt", ("%.3f\n"):format(r.seconds))
            else
              r.ok, r.error = false, rerr
            end
          else
            r.ok, r.error = false, ("exit status %d; output in %s/output.txt"):format(code, dir)
          end
        end
        if not r.ok then self.echo(prefix .. "FAILED: " .. tostring(r.error)) end
        results[#results + 1] = r
      end
      ::continue::
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
