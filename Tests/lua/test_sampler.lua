-- qv.sampler: one interface, every sampler against exact enumeration,
-- Lua-defined and subprocess samplers, option checking.

local here = (arg and arg[0] or "Tests/lua/run.lua"):match("^(.*)/[^/]*$") or "."
local fixtures = here .. "/samplers"
local has_python = os.execute("python3 -c 'import json' >/dev/null 2>&1")

-- A 12-unit machine with moderate couplings, and its exact moments.
local function machine()
  local g = qv.graph.chimera(1, 2, 3)
  return qv.bm.random(g, {seed = 21, bias_scale = 0.7, weight_scale = 0.7})
end

local max_diff = helpers.max_diff

local function check_marginals(name, s, n, tol)
  local bm = machine()
  local exact = bm:exact()
  qv.seed(1234)
  local samples = s:sample(bm, n)
  expect.type(samples, "qv.Samples")
  expect.eq(#samples, n)
  expect.eq(samples.units, 12)
  local d = max_diff(samples:means(), exact.means)
  expect.truthy(d < tol, ("%s: unit means differ from exact by %.3f (tolerance %.3f)"):format(name, d, tol))
  local de = max_diff(samples:edge_means(), exact.edge_means)
  expect.truthy(de < tol, ("%s: edge means differ from exact by %.3f"):format(name, de))
  -- energies are the machine's H of each sample
  local es = samples:energies()
  for i = 1, 5 do expect.near(es[i], bm:energy(samples:get(i)), 1e-4) end
  return samples
end

test("exact sampler", function()
  local s = check_marginals("exact", qv.sampler.exact(), 4000, 0.04)
  expect.near(s.stats.logZ, machine():logz(), 1e-6)
  expect.eq(tostring(qv.sampler.exact()), "qv.Sampler exact{}")
end)

test("block Gibbs sampler", function()
  check_marginals("gibbs", qv.sampler.gibbs{sweeps = 30, burn_in = 20, persistent = false}, 4000, 0.05)
end)

test("population annealing sampler and its log Z", function()
  local s = check_marginals("pa", qv.sampler.pa{temperatures = 200, populations = 4}, 4000, 0.06)
  local exact = machine():logz()
  expect.truthy(math.abs(s.stats.logZ - exact) < 4 * s.stats.logZ_err + 0.01)
  expect.eq(s.stats.populations, 4)
end)

test("AIS sampler and its log Z", function()
  local s = check_marginals("ais", qv.sampler.ais{temperatures = 500}, 4000, 0.06)
  local exact = machine():logz()
  expect.truthy(math.abs(s.stats.logZ - exact) < 4 * s.stats.logZ_err + 0.01)
  expect.truthy(s.stats.ess > 0)
end)

test("AIS samples are weighted: mean_energy and means use the weights", function()
  local bm = machine()
  qv.seed(5)
  local s = qv.sampler.ais{temperatures = 2}:sample(bm, 2000)     -- a short anneal: very unequal weights
  local w, es = s.weights, s:energies()
  expect.eq(#w, 2000)
  local sum, weighted, plain = 0, 0, 0
  for i = 1, #w do sum = sum + w[i]; weighted = weighted + w[i] * es[i]; plain = plain + es[i] / #es end
  expect.near(sum, 1, 1e-9)
  expect.near(s:mean_energy(), weighted, 1e-9)
  expect.truthy(math.abs(weighted - plain) > 1e-3, "weights matter here")
  expect.eq(qv.sampler.gibbs{sweeps = 2}:sample(bm, 10).weights, nil)
end)

test("simulated annealing at a constant beta = 1 samples the machine", function()
  local schedule = {}
  for i = 1, 100 do schedule[i] = 1 end
  check_marginals("sa", qv.sampler.sa{schedule = schedule}, 4000, 0.05)
end)

test("simulated annealing finds low energies", function()
  local bm = machine()
  local s = qv.sampler.sa{sweeps = 200}:sample(bm, 50)
  expect.near(s:mean_energy(), bm:exact().min_energy, 0.05)
  expect.type(s.stats.beta_cold, "number")
end)

test("annealer emulator without noise, paused at beta_eff = 1", function()
  check_marginals("annealer",
    qv.sampler.annealer{beta_eff = 1, gauges = 4, anneal_sweeps = 50, pause_sweeps = 30}, 4000, 0.05)
  local s = qv.sampler.annealer{h_noise = 0.1, j_noise = 0.1, gauges = 2}:sample(machine(), 10)
  expect.eq(s.stats.gauges, 2)
end)

-- An exact sampler written in Lua: enumerate, then draw with qv.rand.
local function lua_exact(bm, n)
  local states = {}
  for bits = 0, (1 << bm.units) - 1 do
    local z = {}
    for l = 1, bm.units do z[l] = (bits >> (l - 1)) & 1 end
    states[#states + 1] = z
  end
  local es = bm:energy(states)
  local m = math.huge
  for _, e in ipairs(es) do m = math.min(m, e) end
  local cum, total = {}, 0
  for i, e in ipairs(es) do total = total + math.exp(-(e - m)); cum[i] = total end
  local rows = {}
  for i = 1, n do
    local u, lo, hi = qv.rand() * total, 1, #cum
    while lo < hi do
      local mid = (lo + hi) // 2
      if cum[mid] > u then hi = mid else lo = mid + 1 end
    end
    rows[i] = states[lo]
  end
  return rows, {logZ = -m + math.log(total)}
end

test("a sampler written in Lua", function()
  local s = qv.sampler.lua(lua_exact, {name = "lua exact"})
  expect.eq(s.kind, "lua")
  local samples = check_marginals("lua", s, 4000, 0.04)
  expect.near(samples.stats.logZ, machine():logz(), 1e-5)
  expect.eq(samples.sampler, "lua")
  -- returning a qv.Samples works too (its stats are kept)
  local wrap = qv.sampler.lua(function(bm, n) return qv.sampler.exact():sample(bm, n) end)
  local w = wrap:sample(machine(), 7)
  expect.eq(#w, 7)
  expect.type(w.stats.logZ, "number")
  -- and it is usable wherever samplers are: bm:sample
  expect.eq(#machine():sample(3, s), 3)
end)

test("a Lua sampler's result is checked", function()
  local bm = qv.bm.random(qv.graph.complete(3))
  local function sampler(f) return qv.sampler.lua(f, {name = "bad"}) end
  expect.error(function() sampler(function() end):sample(bm, 2) end, "bad: the sampling function must return a table of 2 rows of 3 values 0 or 1, it returned nothing")
  expect.error(function() sampler(function() return {{0, 1, 0}} end):sample(bm, 2) end, "it returned 1 row")
  expect.error(function() sampler(function() return {{0, 1}, {1, 1}} end):sample(bm, 2) end, "rows have 2 values, the machine has 3 units")
  expect.error(function() sampler(function() return {{0, 1, 0}, {1, 0.5, 0}} end):sample(bm, 2) end, "row 2, value 2 is 0.5")
  expect.error(function() sampler(function() return {{0, 1, 0}, "x"} end):sample(bm, 2) end, "row 2 is a string")
  expect.error(function() sampler(function() return 42 end):sample(bm, 2) end, "got a number")
  -- errors inside the function propagate unchanged
  expect.error(function() sampler(function() error("my sampler broke") end):sample(bm, 2) end, "my sampler broke")
  expect.error(function() qv.sampler.lua(5) end, "bad argument #1 to 'qv.sampler.lua' (sample: expected function, got number)")
  -- a single sample may be returned as one row
  local one = sampler(function(b, n) return {1, 0, 1} end):sample(bm, 1)
  expect.eq(one:get(1), {1, 0, 1})
end)

test("command sampler: a Python program sampling exactly (Ising and QUBO forms)", function()
  if not has_python then print("  (skipped: no python3)") return end
  for _, problem in ipairs({"ising", "qubo"}) do
    local s = qv.sampler.command{"python3", fixtures .. "/exact_sampler.py", timeout = 30, problem = problem,
                                 params = {seed = 5}}
    expect.eq(s.kind, "command")
    local samples = check_marginals("command " .. problem, s, 4000, 0.04)
    expect.eq(samples.stats.reads, 4000)
    expect.type(samples.stats.seconds, "number")
  end
  local bad = qv.sampler.command{"python3", fixtures .. "/exact_sampler.py", params = {fail = true}}
  expect.error(function() bad:sample(machine(), 3) end, "exited with status 3: exact_sampler.py: failing on purpose")
end)

test("command sampler: a shell script", function()
  local s = qv.sampler.command{"sh", fixtures .. "/ones_sampler.sh"}
  local samples = s:sample(qv.bm.random(qv.graph.chimera(1)), 3)
  expect.eq(samples:get(2), {1, 1, 1, 1, 1, 1, 1, 1})
  local q = qv.sampler.command{"sh", fixtures .. "/ones_sampler.sh", problem = "qubo"}
  expect.eq(q:sample(qv.bm.random(qv.graph.chimera(1)), 2):get(1), {1, 1, 1, 1, 1, 1, 1, 1})
  expect.match(tostring(s), "^qv.Sampler command{command = \"sh .*ones_sampler.sh\", timeout = 60, problem = \"ising\"")
end)

test("command sampler: failures are clear errors", function()
  local bm = qv.bm.random(qv.graph.complete(2))
  local function run(script, opts)
    local t = {"sh", "-c", script}
    for k, v in pairs(opts or {}) do t[k] = v end
    return function() qv.sampler.command(t):sample(bm, 2) end
  end
  expect.error(run("cat >/dev/null; echo 'it broke' >&2; exit 4"), "exited with status 4: it broke")
  expect.error(run("cat >/dev/null; echo '1 1'"), "expected 2 samples, the output has 1")
  expect.error(run("cat >/dev/null; printf '1 1\\n1 1\\n1 1\\n'"), "more than the 2 samples")
  expect.error(run("cat >/dev/null; printf '1 1 1\\n1 1\\n'"), "output line 1 has 3 values, expected 2")
  expect.error(run("cat >/dev/null; printf '1 0\\n1 1\\n'"), "spin values must be -1 or +1, got '0'")
  expect.error(run("cat >/dev/null; printf '1 -1\\n1 1\\n'", {problem = "qubo"}), "binary values must be 0 or 1, got '-1'")
  expect.error(run("cat >/dev/null; printf '1 x\\n1 1\\n'"), "'x' is not a number")
  expect.error(run("kill -9 $$"), "killed by signal 9")
  expect.error(function() qv.sampler.command{"/nonexistent/sampler"}:sample(bm, 1) end, "cannot run '/nonexistent/sampler': No such file or directory")
  -- brackets and commas are fine (a printed Python list)
  local ok = qv.sampler.command{"sh", "-c", "cat >/dev/null; echo '[1, -1]'; echo '# note'; echo; echo '[-1, 1]'"}
  expect.eq(ok:sample(bm, 2):totable(), {{1, 0}, {0, 1}})
end)

test("command sampler: a timeout kills the program, never hangs", function()
  local bm = qv.bm.random(qv.graph.complete(2))
  local t0 = qv.clock()
  expect.error(function()
    qv.sampler.command{"sh", "-c", "sleep 30; echo never", timeout = 0.3}:sample(bm, 1)
  end, "timed out after 0.3 s (killed)")
  expect.truthy(qv.clock() - t0 < 5, "returned promptly")
  -- a program that closes its output but keeps running is still stopped
  t0 = qv.clock()
  expect.error(function()
    qv.sampler.command{"sh", "-c", "exec >&- 2>&-; sleep 30", timeout = 0.3}:sample(bm, 1)
  end, "timed out")
  expect.truthy(qv.clock() - t0 < 5)
end)

test("command sampler: a program that ignores a large input", function()
  -- The problem (~200 kB) exceeds a pipe's buffer; the program exits without
  -- reading it. qvlua must not die of SIGPIPE.
  local bm = qv.bm.random(qv.graph.chimera(16))
  expect.error(function() qv.sampler.command{"true"}:sample(bm, 1) end, "expected 1 samples, the output has 0")
  expect.eq(qv.rand() >= 0, true)   -- still alive
end)

test("sampler interface: tostring, options, stats, reproducibility", function()
  local bm = machine()
  local g = qv.sampler.gibbs{sweeps = 5}
  expect.eq(tostring(g), "qv.Sampler gibbs{sweeps = 5, burn_in = 0, beta = 1, persistent = true}")
  expect.eq(g.options, {sweeps = 5, burn_in = 0, beta = 1, persistent = true})
  expect.eq(g.chains, 0)
  local s = g:sample(bm, 10)
  expect.eq(g.chains, 10)
  expect.eq(s.stats.sweeps, 5)
  g:reset()
  expect.eq(g.chains, 0)
  expect.eq(qv.sampler.exact().chains, nil)
  -- the same seed gives the same samples
  qv.seed(77); local a = qv.sampler.pa{temperatures = 20}:sample(bm, 50):totable()
  qv.seed(77); local b = qv.sampler.pa{temperatures = 20}:sample(bm, 50):totable()
  expect.eq(a, b)
  local c = qv.sampler.sa{sweeps = 10}:sample(bm, 5, {generator = qv.generator(3)}):totable()
  local d = qv.sampler.sa{sweeps = 10}:sample(bm, 5, {generator = qv.generator(3)}):totable()
  expect.eq(c, d)
  -- Samples
  local x = qv.sampler.exact():sample(bm, 20)
  expect.eq(x.count, 20)
  expect.eq(#x:totable(), 20)
  expect.eq(#x:get(20), 12)
  local e1, e2 = bm:energy(x), x:energies()
  for i = 1, 20 do expect.near(e1[i], e2[i], 1e-5) end
  expect.match(tostring(x), "^qv.Samples: 20 × 12 from exact, mean energy %-?[%d.]+, logZ [%d.]+$")
  expect.error(function() x:get(21) end, "bad argument #1 to 'qv.Samples:get' (i: sample 21 outside 1..20)")
end)

test("bad options are errors naming the option", function()
  expect.error(function() qv.sampler.gibbs{sweep = 10} end, "unknown option 'sweep' to 'qv.sampler.gibbs' (did you mean 'sweeps'? known options: beta, burn_in, persistent, sweeps)")
  expect.error(function() qv.sampler.gibbs{sweeps = -1} end, "bad option 'sweeps' to 'qv.sampler.gibbs' (must be in 0..100000000, got -1)")
  expect.error(function() qv.sampler.gibbs{beta = "hot"} end, "bad option 'beta' to 'qv.sampler.gibbs' (expected number, got string)")
  expect.error(function() qv.sampler.gibbs{persistent = 1} end, "bad option 'persistent'")
  expect.error(function() qv.sampler.sa{beta_range = {2, 1}} end, "bad option 'beta_range' to 'qv.sampler.sa'")
  expect.error(function() qv.sampler.sa{spacing = "log"} end, "bad option 'spacing'")
  expect.error(function() qv.sampler.sa{schedule = {}} end, "bad option 'schedule'")
  expect.error(function() qv.sampler.pa{resampling = "residual"} end, "bad option 'resampling' to 'qv.sampler.pa' (expected 'systematic' or 'multinomial', got 'residual')")
  expect.error(function() qv.sampler.pa{populations = 0} end, "bad option 'populations'")
  expect.error(function() qv.sampler.pa{ess_threshold = 2} end, "bad option 'ess_threshold'")
  expect.error(function() qv.sampler.ais{temperatures = 0} end, "bad option 'temperatures' to 'qv.sampler.ais'")
  expect.error(function() qv.sampler.ais{sweeps_per_step = 0} end, "bad option 'sweeps_per_step'")
  expect.error(function() qv.sampler.annealer{freeze_out = 0} end, "bad option 'freeze_out' to 'qv.sampler.annealer' (must be a finite number in (0, 1], got 0)")
  expect.error(function() qv.sampler.annealer{gauge = 5} end, "unknown option 'gauge' to 'qv.sampler.annealer'")
  expect.error(function() qv.sampler.annealer{h_noise = -0.1} end, "bad option 'h_noise'")
  expect.error(function() qv.sampler.exact{fast = true} end, "unknown option 'fast' to 'qv.sampler.exact'")
  expect.error(function() qv.sampler.command{} end, "no program given")
  expect.error(function() qv.sampler.command{"x", timeuot = 1} end, "unknown option 'timeuot' to 'qv.sampler.command'")
  expect.error(function() qv.sampler.command{"x", timeout = 0} end, "bad option 'timeout'")
  expect.error(function() qv.sampler.command{"x", problem = "bqm"} end, "bad option 'problem'")
  expect.error(function() qv.sampler.command{"x", params = {f = {}}} end, "bad option 'params' to 'qv.sampler.command' ('f' must be a string, number or boolean, got table)")
  expect.error(function() qv.sampler.command{"x", 5} end, "expected string at index 2, got number")
  local bm = machine()
  local s = qv.sampler.exact()
  expect.error(function() s:sample(bm, 0) end, "bad argument #2 to 'qv.Sampler:sample' (n: must be in 1..100000000, got 0)")
  expect.error(function() s:sample("bm", 1) end, "bad argument #1 to 'qv.Sampler:sample' (bm: expected qv.BM, got string)")
  expect.error(function() s:sample(bm, 1, {seed = 1}) end, "unknown option 'seed' to 'qv.Sampler:sample'")
  expect.error(function() s:sample(qv.bm.random(qv.graph.chimera(2)), 1) end, "at most 24 units")
  expect.error(function() qv.sampler.pa{populations = 8}:sample(bm, 4) end, "at least one replica per population")
  expect.error(function() qv.sampler.annealer{gauges = 5}:sample(bm, 3) end, "cannot be split over 5 gauges")
end)

test("every sampler has help", function()
  for _, name in ipairs({"exact", "gibbs", "sa", "pa", "ais", "annealer", "lua", "command"}) do
    local d = qv.doc(qv.sampler[name])
    expect.type(d, "string")
    expect.match(d, "^qv%.sampler%." .. name)
  end
  for _, name in ipairs({"chimera", "pegasus", "full_bipartite", "complete", "bernoulli", "edges", "load", "parse"}) do
    expect.match(qv.doc(qv.graph[name]), "^qv%.graph%." .. name)
  end
  for _, name in ipairs({"new", "random", "from_ising"}) do
    expect.match(qv.doc(qv.bm[name]), "^qv%.bm%." .. name)
  end
  for _, cls in ipairs({qv.Graph, qv.BM, qv.Sampler, qv.Samples}) do
    for k, f in pairs(cls) do expect.type(qv.doc(f), "string") end
  end
end)
