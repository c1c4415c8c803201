-- The fuzz harness: qvlua Tests/fuzz/fuzz.lua [options]
--
-- Calls every function of `qv` and every method, property and metamethod of
-- every object kind with bad values, one argument or option at a time, and
-- feeds mutated safetensors, IDX (raw and gzip), edge-list and checkpoint
-- files to their readers. Work runs in child processes (worker.lua through
-- run.sh): a crash (signal, Swift trap, abort), a hang or running out of
-- memory kills only the child; the parent reports it with a one-line
-- reproducer, and resumes the batch after the fatal call.
--
--   --seed N        base seed (default 1); batch b uses (seed, b): reproducible
--   --calls N       fuzz calls to make (default 20000)
--   --files N       mutated files to try (default 2000)
--   --batch N       calls per child (default 4000; files: 2x)
--   --jobs N        children at once (default 2)
--   --time S        stop after about S seconds (running children finish early; default: none)
--   --call-timeout S  a call silent this long is interrupted, then killed (default 60)
--   --mem MB        address-space limit per child (default 3072)
--   --out DIR       work and report directory (default /tmp/qvfuzz-<seed>)
--   --known FILE    crash sites to expect and skip (default Tests/fuzz/known.txt;
--                   "qv.Tensor:narrow@*" means the method on every receiver)
--   --backtrace 1   Swift backtraces of crashes, saved in DIR/crashes/N.stderr
--
-- Writes DIR/summary.txt (also printed) and DIR/crashes.txt (one reproducer
-- per line). Exit status 1 when a crash or hang not listed in --known occurred.

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local pwd = os.getenv("PWD") or io.popen("pwd"):read("l")
  return pwd .. "/" .. p
end
here = abspath(here)
package.path = here .. "/?.lua;" .. package.path
local C = require "catalog"

local o = {seed = 1, calls = 20000, files = 2000, batch = 4000, jobs = 2, ["call-timeout"] = 60, mem = 3072,
           known = here .. "/known.txt"}
do
  local i = 1
  while i <= #arg do
    local k = arg[i]:match("^%-%-(.+)$")
    if not k or arg[i + 1] == nil then io.stderr:write("bad option " .. arg[i] .. "\n"); os.exit(2) end
    o[k] = tonumber(arg[i + 1]) or arg[i + 1]
    i = i + 2
  end
end
o.out = abspath(o.out or ("/tmp/qvfuzz-" .. o.seed))
local qvlua = abspath(o.qvlua or (here .. "/../../.build/release/qvlua"))
local worker = here .. "/worker.lua"
local runsh = here .. "/run.sh"
local libdir = abspath(here .. "/../../scripts/lib")
local t0 = qv.clock()
local backtrace_env = (o.backtrace and o.backtrace ~= 0) and "FUZZ_BACKTRACE=1 " or ""

local function sh(cmd) local ok, how, code = os.execute(cmd); return ok, how, code end
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function readall(p) local f = io.open(p, "rb"); if not f then return nil end local s = f:read("a"); f:close(); return s end
local function writefile(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end

sh("rm -rf " .. q(o.out) .. " && mkdir -p " .. q(o.out .. "/work") .. " " .. q(o.out .. "/crashes"))

-- known crash keys (skipped, reported as known, not failures)
local known = {}
for line in (readall(o.known) or ""):gmatch("[^\n]+") do
  if not line:match("^%s*#") and line:match("%S") then known[line] = true end
end
local skipfile = o.out .. "/skip.txt"
local function write_skip(extra)
  local lines = {}
  for k in pairs(known) do lines[#lines + 1] = k end
  for k in pairs(extra) do lines[#lines + 1] = k end
  table.sort(lines)
  writefile(skipfile, table.concat(lines, "\n") .. "\n")
end

---------------------------------------------------------------------------
-- fixtures for the file mutator

local function fixtures(dir)
  sh("mkdir -p " .. q(dir .. "/idx"))
  qv.seed(7)
  qv.save(dir .. "/tensors.safetensors", {a = qv.randn(3, 4), b = qv.zeros(2), c = qv.tensor(1)}, {note = "x", n = "3"})
  qv.graph.chimera(1, 1, 4):save(dir .. "/graph.txt")
  qv.graph.chimera(1, 1, 4):save(dir .. "/graph.json")
  local function idx(dims, n)
    local h = string.pack(">I2BB", 0, 8, #dims)
    for _, d in ipairs(dims) do h = h .. string.pack(">I4", d) end
    local body = {}
    for i = 1, n do body[i] = string.char((i * 37) % 256) end
    return h .. table.concat(body)
  end
  local files = {
    ["train-images-idx3-ubyte"] = idx({12, 28, 28}, 12 * 784), ["train-labels-idx1-ubyte"] = idx({12}, 12),
    ["t10k-images-idx3-ubyte"] = idx({4, 28, 28}, 4 * 784), ["t10k-labels-idx1-ubyte"] = idx({4}, 4),
  }
  for name, bytes in pairs(files) do
    writefile(dir .. "/idx/" .. name, bytes)
    sh("gzip -n -c " .. q(dir .. "/idx/" .. name) .. " > " .. q(dir .. "/idx/" .. name .. ".gz"))
  end
  -- a real (small) checkpoint, as the trainer writes it
  package.path = libdir .. "/?.lua;" .. package.path
  local kit = require "vaekit"
  -- options as the trainer records them; a small network keeps the file small
  -- (kit.restore then rebuilds the full-size model and refuses the shapes)
  local opts = {prior = "bernoulli", network = "dense", grouping = "bipartite", chains = 4, sampler = "pcd", lr = 0.001}
  local p = qv.prior.new(qv.graph.bernoulli(8), {samples = 4})
  local model = qv.vae.dense{prior = p, encoder_hidden = {8}, decoder_hidden = {8}, input = 16}
  local optim = qv.optim.adam(model:parameters())
  kit.save_checkpoint(dir .. "/checkpoint.safetensors", model, optim, opts, 3)
end

---------------------------------------------------------------------------
-- children

local SIG = {[4] = "SIGILL (Swift trap)", [5] = "SIGTRAP (Swift trap)", [6] = "SIGABRT (abort)",
             [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV (segfault)"}

local function classify(rc, log, err)
  if log:find("\nSLOW\n") or log:match("^SLOW\n") then return "slow" end
  err = err or ""
  if err:find("allocate memory", 1, true) or err:find("out of memory", 1, true) or err:find("swift_slowAlloc", 1, true)
     or err:find("Cannot allocate", 1, true) or err:find("std::bad_alloc", 1, true) then
    return "out of memory (allocation failure)"
  end
  if rc == 137 then return "hang (killed: ignored Ctrl-C)" end
  if rc > 128 and SIG[rc - 128] then return SIG[rc - 128] end
  if rc > 128 then return "signal " .. (rc - 128) end
  return "exit status " .. rc
end

local function last_call(log)
  local last
  for line in log:gmatch("[^\n]+") do if line:sub(1, 2) == "C " then last = line end end
  if not last then return nil end
  local idx, key, src, file = last:match("^C (%d+)\t([^\t]*)\t([^\t]*)\t?(.*)$")
  return tonumber(idx), key, src, file
end

local stats = {calls = 0, ok = 0, errors = 0, files = 0, file_ok = 0, file_errors = 0, restarts = 0, slow = 0}
local crashes, crash_order = {}, {}   -- key -> record
local site_crashes, hot_sites = {}, {}
local slow = {}

-- The skip file: the known keys and every key found so far (crashes, slow
-- calls, hot crash sites), so restarted workers pass over them.
local function skip_found()
  local extra = {}
  for _, set in ipairs{crashes, slow, hot_sites} do
    for k in pairs(set) do extra[k] = true end
  end
  write_skip(extra)
end

local function record(kind, key, src, class, err, where, file, replay)
  local repro = kind == "calls" and C.reproducer(src) or src
  if kind == "files" and file ~= "" then
    local saved = o.out .. "/crashes/" .. (#crash_order + 1) .. "-" .. file:gsub("[^%w.]", "_")
    sh("cp " .. q(where .. "/" .. file) .. " " .. q(saved))
    repro = src:gsub(C.quote(file):gsub("%p", "%%%0"), C.quote(saved):gsub("%%", "%%%%"))
    if src:find("'idx") or src:find('"idx') then repro = repro .. "  -- mutated file: " .. saved end
  end
  if class == "slow" then
    if not slow[key] then slow[key] = repro; stats.slow = stats.slow + 1 end
    return
  end
  local r = crashes[key]
  if r then r.count = r.count + 1; return end
  -- a site (target on a receiver) that crashed 3 times is skipped from now on
  local site = kind == "calls" and key:match("^%S+") or key
  if kind == "calls" then
    site_crashes[site] = (site_crashes[site] or 0) + 1
    if site_crashes[site] >= 3 then hot_sites[site] = true end
  end
  local msg = (err or ""):match("Fatal error: [^\n]*") or (err or ""):match("qvlua: [^\n]*") or (err or ""):match("[^\n]+") or ""
  if err and err ~= "" then writefile(o.out .. "/crashes/" .. (#crash_order + 1) .. ".stderr", err) end
  r = {key = key, site = site, repro = repro, class = class, count = 1, message = msg:sub(1, 200),
       known = known[key] or known[site] or known[(site:gsub("@.*$", "@*"))] or false, replay = replay, kind = kind}
  crashes[key] = r
  crash_order[#crash_order + 1] = r
  io.write(string.format("  %s: %s\n    %s\n", r.known and "known" or "CRASH", class, repro))
  io.flush()
end

-- Runs one batch to completion, restarting after each fatal call.
local function run_batch(kind, b, n)
  local dir = o.out .. "/work/" .. kind .. b
  local from = 0
  local fix = o.out .. "/fixtures"
  for _ = 1, 1000 do
    sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
    local log, errf = dir .. "/log", dir .. "/stderr"
    local cmd
    if kind == "calls" then
      cmd = table.concat({qvlua, worker, "calls", o.out .. "/sig.lua", log, skipfile, o.seed, b, n, from}, " ")
    elseif kind == "files" then
      cmd = table.concat({qvlua, worker, "files", log, skipfile, o.seed, b, n, from, fix}, " ")
    else
      cmd = table.concat({qvlua, worker, "discover", o.out .. "/sig.lua", log, skipfile}, " ")
    end
    local full = "cd " .. q(dir) .. " && QVLUA_PATH=" .. q(libdir) .. " sh " .. q(runsh) .. " " .. o.mem .. " "
                 .. o["call-timeout"] .. " " .. q(log) .. " " .. cmd .. " >/dev/null 2>" .. q(errf) .. "; echo $? > rc"
    sh(full)
    local rc = tonumber(readall(dir .. "/rc")) or -1
    local logtext = readall(log) or ""
    local e = logtext:match("\nEND (%d+) (%d+) (%d+)\n") and {logtext:match("\nEND (%d+) (%d+) (%d+)\n")}
    if not e then local a, b2, c = logtext:match("^END (%d+) (%d+) (%d+)\n"); if a then e = {a, b2, c} end end
    local done_calls, done_ok, done_err = 0, 0, 0
    if e then
      done_calls, done_ok, done_err = tonumber(e[1]), tonumber(e[2]), tonumber(e[3])
    else
      for line in logtext:gmatch("[^\n]+") do if line:sub(1, 2) == "C " then done_calls = done_calls + 1 end end
      done_calls = math.max(0, done_calls - 1)   -- the fatal call is counted below
    end
    if kind == "files" then
      stats.files = stats.files + done_calls; stats.file_ok = stats.file_ok + done_ok; stats.file_errors = stats.file_errors + done_err
    else
      stats.calls = stats.calls + done_calls; stats.ok = stats.ok + done_ok; stats.errors = stats.errors + done_err
    end
    if rc == 0 and e then return true end
    -- the child died (or was stopped): the last logged call did it
    local idx, key, src, file = last_call(logtext)
    if not key then
      record(kind, kind .. " batch " .. b .. " startup", "(startup of " .. kind .. " batch " .. b .. ")",
             classify(rc, logtext, readall(errf)), readall(errf), dir, "")
      return false
    end
    if kind == "files" then stats.files = stats.files + 1 else stats.calls = stats.calls + 1 end
    record(kind, key, src, classify(rc, logtext, readall(errf)), readall(errf), dir, file)
    stats.restarts = stats.restarts + 1
    skip_found()
    if kind ~= "discover" then from = idx end
  end
  return false
end

---------------------------------------------------------------------------

write_skip({})
io.write(string.format("qvlua fuzz: seed %d, %d calls, %d files, batches of %d, %d jobs, out %s\n",
  o.seed, o.calls, o.files, o.batch, o.jobs, o.out))
io.flush()
fixtures(o.out .. "/fixtures")
run_batch("discover", 0, 0)
local tdisc = qv.clock() - t0
io.write(string.format("discovery: %.1f s\n", tdisc)); io.flush()

-- batches, `jobs` at a time (each in its own shell so they overlap)
-- call and file batches interleaved in proportion, so a run stopped by
-- --time has done some of each
local plan = {}
local nb = math.ceil(o.calls / o.batch)
local fb = math.max(1, o.batch // 4)
local nf = math.ceil(o.files / fb)
local ci, fi = 1, 1
while ci <= nb or fi <= nf do
  if fi > nf or (ci <= nb and (ci - 1) * nf <= (fi - 1) * nb) then
    plan[#plan + 1] = {"calls", ci, math.min(o.batch, o.calls - (ci - 1) * o.batch)}; ci = ci + 1
  else
    plan[#plan + 1] = {"files", fi, math.min(fb, o.files - (fi - 1) * fb)}; fi = fi + 1
  end
end

-- Parallel children: each batch is run by a copy of this script's
-- run_batch in a sub-process would lose the shared crash table, so jobs run
-- as coroutines over non-blocking shells: start J, poll their rc files.
local function start(job)
  local kind, b, n = job[1], job[2], job[3]
  job.dir = o.out .. "/work/" .. kind .. b
  job.from = job.from or 0
  sh("rm -rf " .. q(job.dir) .. " && mkdir -p " .. q(job.dir))
  local log = job.dir .. "/log"
  local cmd
  if kind == "calls" then
    cmd = table.concat({qvlua, worker, "calls", o.out .. "/sig.lua", log, skipfile, o.seed, b, n, job.from}, " ")
  else
    cmd = table.concat({qvlua, worker, "files", log, skipfile, o.seed, b, n, job.from, o.out .. "/fixtures"}, " ")
  end
  sh("cd " .. q(job.dir) .. " && (" .. backtrace_env .. "QVLUA_PATH=" .. q(libdir) .. " sh " .. q(runsh) .. " " .. o.mem .. " "
     .. o["call-timeout"] .. " " .. q(log) .. " " .. cmd .. " >/dev/null 2>stderr; echo $? > rc.tmp; mv rc.tmp rc) &")
end

local function finish(job)
  local dir = job.dir
  local rc = tonumber(readall(dir .. "/rc")) or -1
  local logtext = readall(dir .. "/log") or ""
  local a, b2, c = logtext:match("END (%d+) (%d+) (%d+)\n")
  local kind = job[1]
  local function add(n, ok, err)
    if kind == "files" then
      stats.files = stats.files + n; stats.file_ok = stats.file_ok + ok; stats.file_errors = stats.file_errors + err
    else
      stats.calls = stats.calls + n; stats.ok = stats.ok + ok; stats.errors = stats.errors + err
    end
  end
  if rc == 0 and a then add(tonumber(a), tonumber(b2), tonumber(c)); return true end
  local n = 0
  for line in logtext:gmatch("[^\n]+") do if line:sub(1, 2) == "C " then n = n + 1 end end
  local err = readall(dir .. "/stderr")
  local idx, key, src, file = last_call(logtext)
  if not key then
    record(kind, kind .. " batch " .. job[2] .. " startup", "(startup)", classify(rc, logtext, err), err, dir, "")
    return true
  end
  add(n, 0, 0)   -- outcomes of the calls before the fatal one are not itemised
  record(kind, key, src, classify(rc, logtext, err), err, dir, file,
         string.format("%s batch %d, calls %d..%d", kind, job[2], job.from + 1, idx))
  stats.restarts = stats.restarts + 1
  skip_found()
  job.from = idx
  return false
end

local running, next_job = {}, 1
local stop_written = false
local stopped = false
while true do
  while #running < o.jobs and next_job <= #plan and not stopped do
    if o.time and qv.clock() - t0 > o.time then stopped = true; break end
    local job = plan[next_job]; next_job = next_job + 1
    start(job); running[#running + 1] = job
  end
  if #running == 0 then break end
  if o.time and qv.clock() - t0 > o.time and not stop_written then
    stopped, stop_written = true, true
    writefile(o.out .. "/STOP", "")       -- running workers finish early (they poll it)
  end
  qv.sleep(0.2)
  for i = #running, 1, -1 do
    local job = running[i]
    if io.open(job.dir .. "/rc") then
      table.remove(running, i)
      if not finish(job) then
        if o.time and qv.clock() - t0 > o.time then stopped = true else start(job); running[#running + 1] = job end
      end
    end
  end
end

---------------------------------------------------------------------------
-- each new crash's reproducer, alone in a fresh child: does it crash there too?

for i, r in ipairs(crash_order) do
  if r.kind == "calls" and not r.known and r.repro:sub(1, 1) ~= "(" and i <= 200 then
    local dir = o.out .. "/work/confirm"
    sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
    writefile(dir .. "/repro.lua", r.repro)
    sh("cd " .. q(dir) .. " && sh " .. q(runsh) .. " " .. o.mem .. " " .. o["call-timeout"] .. " repro.lua "
       .. qvlua .. " " .. worker .. " one repro.lua >out 2>err; echo $? > rc")
    local rc = tonumber(readall(dir .. "/rc")) or -1
    r.alone = rc == 0 and "no (an error or a result alone: depends on earlier calls of the batch)"
              or ("yes (" .. classify(rc, "", readall(dir .. "/err")) .. ")")
  end
end

---------------------------------------------------------------------------
-- summary

local elapsed = qv.clock() - t0
local by_class, new = {}, 0
local sites, site_list = {}, {}
for _, r in ipairs(crash_order) do
  if not sites[r.site] then
    sites[r.site] = r; site_list[#site_list + 1] = r
    by_class[r.class] = (by_class[r.class] or 0) + 1
  end
  if not r.known then new = new + 1 end
end
local lines = {}
local function L(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end
L("qvlua fuzz summary — seed %d, %s", o.seed, os.date("!%Y-%m-%dT%H:%M:%SZ"))
L("calls:  %d (%d returned, %d raised a Lua error; calls before a fatal one are not itemised)", stats.calls, stats.ok, stats.errors)
L("files:  %d mutated files (%d read, %d rejected with a Lua error)", stats.files, stats.file_ok, stats.file_errors)
L("time:   %.0f s (discovery %.0f s), %d child restarts, %d jobs", elapsed, tdisc, stats.restarts, o.jobs)
L("crashes: %d fatal calls at %d sites (functions or methods on one receiver); %d not in %s",
  #crash_order, #site_list, new, o.known)
L("sites by class (the first crash of each site):")
local classes = {}
for k in pairs(by_class) do classes[#classes + 1] = k end
table.sort(classes)
for _, k in ipairs(classes) do L("  %-36s %d", k, by_class[k]) end
L("slow calls (interrupted by the watchdog's Ctrl-C, not failures): %d", stats.slow)
for k, repro in pairs(slow) do L("  slow: %s", repro) end
for _, r in ipairs(site_list) do
  L("%s [%s] %s  (%d fatal call%s at this site)", r.known and "known" or "CRASH", r.class, r.message,
    site_crashes[r.site] or 1, (site_crashes[r.site] or 1) == 1 and "" or "s")
  L("  site:  %s", r.site)
  L("  repro: %s", r.repro)
  if r.alone then L("  alone: %s", r.alone) end
  if r.replay then L("  replay: %s (seed %d; worker.lua calls/files with FROM)", r.replay, o.seed) end
end
local text = table.concat(lines, "\n") .. "\n"
writefile(o.out .. "/summary.txt", text)
local cl = {}
for _, r in ipairs(crash_order) do cl[#cl + 1] = r.repro end
writefile(o.out .. "/crashes.txt", table.concat(cl, "\n") .. (#cl > 0 and "\n" or ""))
io.write(text)
os.exit(new == 0 and 0 or 1)
