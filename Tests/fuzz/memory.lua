-- Peak memory of loops that create and drop objects, without collectgarbage():
--
--   qvlua Tests/fuzz/memory.lua                 every kind, each in its own process: a table
--   qvlua Tests/fuzz/memory.lua KIND [N]        one kind, N iterations (prints peak RSS in MB)
--
-- Each kind builds one object per iteration (the sizes the paper's models use)
-- and drops it. Lua's collector sees only its own allocations, so each Swift
-- object must report the memory it holds (LuaClass.extraBytes) for the loop
-- to stay bounded. Exit status 1 when a kind's peak exceeds --limit MB
-- (default 1500) over the baseline.

local kinds = {
  {"tensor", 400, "qv.zeros(256, 1024)"},                                       -- 1 MB
  {"graph", 400, "qv.graph.chimera(6, 6, 4)"},
  {"bm", 400, "qv.bm.random(G)"},
  {"prior", 400, "qv.prior.new(G)"},
  {"prior + negative phase", 100, "(function() local p = qv.prior.new(G, {sampler = qv.sampler.gibbs{sweeps = 1}}) return p:negative_phase() end)()"},
  {"sampler (gibbs, chains)", 400, "(function() local s = qv.sampler.gibbs{sweeps = 1} s:sample(BM, 1000) return s end)()"},
  {"samples", 400, "S:sample(BM, 1000)"},
  {"nn.linear 784x512", 400, "qv.nn.linear(784, 512)"},
  {"optimizer (adam)", 400, "qv.optim.adam(qv.nn.linear(784, 512):parameters())"},
  {"vae (dense)", 100, "qv.vae.dense{prior = P}"},
  {"generator", 20000, "qv.generator(1)"},
}

local function peak_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

if arg[1] and arg[1] ~= "--limit" then
  local k
  for _, e in ipairs(kinds) do if e[1] == arg[1] then k = e end end
  assert(k, "unknown kind " .. arg[1])
  local n = tonumber(arg[2]) or k[2]
  _G.G = qv.graph.chimera(6, 6, 4)
  _G.BM = qv.bm.random(G)
  _G.S = qv.sampler.gibbs{sweeps = 1, persistent = false}
  _G.P = qv.prior.new(G, {samples = 8})
  local make = assert(load("return " .. k[3]))
  local base = peak_mb()
  local t0 = qv.clock()
  for _ = 1, n do local _ = make() end
  io.write(string.format("%.0f %.0f %.1f %d\n", base, peak_mb(), qv.clock() - t0, collectgarbage("count") // 1024))
  os.exit(0)
end

local limit = tonumber(arg[2]) or 1500
local exe = arg[-1] or "qvlua"
io.write("| kind | iterations | baseline RSS (MB) | peak RSS (MB) | seconds |\n|---|---:|---:|---:|---:|\n")
local bad = false
for _, k in ipairs(kinds) do
  local p = io.popen(string.format("OPENBLAS_NUM_THREADS=1 %q %q %q 2>&1", exe, arg[0], k[1]))
  local out = p:read("a"); p:close()
  local base, peak, secs = out:match("^(%d+) (%d+) ([%d.]+)")
  if not base then io.write("| ", k[1], " | ", k[2], " | failed: ", (out:gsub("\n", " ")):sub(1, 120), " | | |\n"); bad = true
  else
    io.write(string.format("| %s | %d | %s | %s | %s |\n", k[1], k[2], base, peak, secs))
    if tonumber(peak) - tonumber(base) > limit then bad = true end
  end
  io.flush()
end
os.exit(bad and 1 or 0)
