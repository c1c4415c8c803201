-- qv.dist and data-parallel training under mpirun (ISSUE 11), with 2 and 3
-- ranks on this machine (--oversubscribe). Skipped without Open MPI's
-- mpirun. As root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM); the
-- commands below set them.

local root = qv.root or ((arg and arg[0] or ""):match("^(.*)/Tests/lua/[^/]*$") or ".")
local FMNIST = "/usr/share/datasets/fashion-mnist"

local QVLUA = helpers.interpreter()
local q = helpers.q

local tmp = helpers.tmpdir("qvdist")
local read = require("study").read_file

local have_mpi = os.execute("command -v mpirun > /dev/null 2>&1") == true
local MPIRUN = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 " ..
               "mpirun --oversubscribe -np %d "

--- Runs `qvlua script args` under mpirun with n ranks (plainly for n = 0).
local function run(n, script, args)
  local out, err = tmp .. "/stdout", tmp .. "/stderr"
  local launcher = n > 0 and MPIRUN:format(n) or ""
  local cmd = ("cd %s && %s%s %s %s > %s 2> %s"):format(q(root), launcher, q(QVLUA), q(script), args or "", q(out), q(err))
  local _, _, code = os.execute(cmd)
  return code, read(out) or "", read(err) or ""
end

local function skip(why) print("    (skipped: " .. why .. ")") end

test("a plain run is a world of size 1; collectives return their argument", function()
  expect.eq(qv.dist.size(), 1)
  expect.eq(qv.dist.rank(), 0)
  local t = qv.tensor({1, 2, 3})
  expect.eq(qv.dist.allreduce(t):totable(), {1, 2, 3})
  expect.eq(qv.dist.allreduce(2.5, "max"), 2.5)
  expect.eq(qv.dist.broadcast("x"), "x")
  expect.eq(qv.dist.gather("s"), {"s"})
  expect.eq(qv.dist.gather(t):size(), {1, 3})
  qv.dist.barrier()
  expect.falsy(qv.dist.initialized())
  expect.error(function() qv.dist.allreduce(t, "avg") end, "op")
  expect.error(function() qv.dist.broadcast(t, 1) end, "root")
  -- a world of one holds every chain; clear errors where there is nothing to split
  local p = qv.prior.new(qv.graph.chimera(1), {samples = 40})
  expect.eq({p:shard_chains()}, {1, 40})
  expect.eq({p:shard_chains()}, {1, 40})         -- the same shard again: nothing changes
  expect.eq(p:gather_chains(), nil)               -- no chains before the first negative phase
  p:negative_phase()
  expect.eq(p:gather_chains():size(), {40, 8})
  expect.error(function() p:shard_chains(2) end, "argument")
  expect.error(function() qv.prior.exact(qv.graph.chimera(1)):shard_chains() end, "only a Boltzmann prior")
end)

local COLLECTIVES = [[
local d = qv.dist
local r, n = d.rank(), d.size()
local out = {}
local function put(k, v) out[#out + 1] = k .. "=" .. tostring(v) end
local t = qv.tensor({r + 1, (r + 1) ^ 2, -r})
d.allreduce(t)
put("sum", ("%g,%g,%g"):format(t[1], t[2], t[3]))
local m = qv.tensor({r, -r}); d.allreduce(m, "max"); put("max", ("%g,%g"):format(m[1], m[2]))
m = qv.tensor({r, -r}); d.allreduce(m, "min"); put("min", ("%g,%g"):format(m[1], m[2]))
m = qv.tensor({r + 1}); d.allreduce(m, "mean"); put("mean", ("%g"):format(m[1]))
put("nsum", d.allreduce(r + 0.25))
put("bstr", d.broadcast("from" .. r, n - 1))
put("bnum", d.broadcast(10 * r + 1))
local b = qv.tensor({r, r}); d.broadcast(b, 1); put("bten", ("%g,%g"):format(b[1], b[2]))
local g = d.gather(qv.tensor({r, 2 * r}))
if r == 0 then
  local xs = {}
  for _, v in ipairs(g:view(-1):totable()) do xs[#xs + 1] = ("%g"):format(v) end
  put("gather", table.concat(xs, ","))
end
local s = d.gather(("x"):rep(r))
if r == 0 then put("gstr", table.concat(s, "|")) end
local ag = {}
for _, v in ipairs(d.allgather(r * r)) do ag[#ag + 1] = ("%g"):format(v) end
put("allg", table.concat(ag, ","))
-- the fused gradient allreduce: grads scaled by w and summed, values too
local p = qv.tensor({1, 1}); p.requires_grad = true
p.grad = qv.tensor({r + 1, 1})
local v = d.allreduce_grads({p}, {scale = 0.5, values = {r}})
put("grad", ("%g,%g"):format(p.grad[1], p.grad[2])); put("vals", v[1])
d.barrier()
print("rank" .. r .. " " .. table.concat(out, " "))
]]

test("collectives against closed forms, 2 and 3 ranks", function()
  if not have_mpi then return skip("no mpirun") end
  local script = tmp .. "/collectives.lua"
  local f = assert(io.open(script, "w")); f:write(COLLECTIVES); f:close()
  for _, n in ipairs{2, 3} do
    local code, out, err = run(n, script)
    expect.eq(code, 0, err)
    local S = n * (n + 1) / 2
    for r = 0, n - 1 do
      local line = out:match("rank" .. r .. " ([^\n]+)")
      expect.truthy(line, out)
      local kv = {}
      for k, v in line:gmatch("(%w+)=(%S*)") do kv[k] = v end
      local sq = 0; for i = 1, n do sq = sq + i * i end
      local neg = 0; for i = 0, n - 1 do neg = neg - i end
      expect.eq(kv.sum, ("%g,%g,%g"):format(S, sq, neg))
      expect.eq(kv.max, ("%g,%g"):format(n - 1, 0))
      expect.eq(kv.min, ("%g,%g"):format(0, -(n - 1)))
      expect.eq(kv.mean, ("%g"):format(S / n))
      expect.near(tonumber(kv.nsum), (n - 1) * n / 2 + 0.25 * n)
      expect.eq(kv.bstr, "from" .. (n - 1))
      expect.eq(kv.bnum, "1")
      expect.eq(kv.bten, "1,1")
      local sq2 = {}; for i = 0, n - 1 do sq2[#sq2 + 1] = ("%g"):format(i * i) end
      expect.eq(kv.allg, table.concat(sq2, ","))
      expect.eq(kv.grad, ("%g,%g"):format(0.5 * S, 0.5 * n))
      expect.near(tonumber(kv.vals), 0.5 * (n - 1) * n / 2)
      if r == 0 then
        local gs, ss = {}, {}
        for i = 0, n - 1 do gs[#gs + 1] = ("%g,%g"):format(i, 2 * i); ss[#ss + 1] = ("x"):rep(i) end
        expect.eq(kv.gather, table.concat(gs, ","))
        expect.eq(kv.gstr, table.concat(ss, "|"))
      end
    end
  end
end)

-- Sharded PCD chains (prior:shard_chains): per chain count C, each rank
-- prints its block, its phases' moments against the closed form computed
-- from all C gathered chains, and a fingerprint of the chains; an unsharded
-- twin prior (same seed) gives the one-process chains and moments.
local SHARDS = [==[
local d = qv.dist
local r = d.rank()
local g = qv.graph.chimera(1, 2, 4)
local edges = g:edge_list()
local function fingerprint(z)
  local h = 0
  for _, row in ipairs(z:totable()) do for _, v in ipairs(row) do h = (h * 1000003 + math.floor(v) + 1) % 2147483647 end end
  return h
end
--- <z_l>, <z_u z_v> and <H> of all chains z [C, N]: plain averages over the C chains.
local function closed_form(p, z)
  local rows, C = z:totable(), z:size(1)
  local m, e = {}, {}
  for l = 1, #rows[1] do m[l] = 0 end
  for k = 1, #edges do e[k] = 0 end
  for _, row in ipairs(rows) do
    for l, v in ipairs(row) do m[l] = m[l] + v / C end
    for k, uv in ipairs(edges) do e[k] = e[k] + row[uv[1]] * row[uv[2]] / C end
  end
  return m, e, p:energy(z):mean():item()
end
local function worst(a, b)
  local w = 0
  for i = 1, #a do w = math.max(w, math.abs(a[i] - b[i])) end
  return w
end
for _, C in ipairs{70, 40} do
  local rate = C == 70 and 0.01 or 0    -- with and without the Eq. C3 update of beta_eff
  qv.seed(7)
  local p = qv.prior.new(g, {samples = C, weight_scale = 0.5, bias = 0.3})
  qv.seed(7)
  local twin = qv.prior.new(g, {samples = C, weight_scale = 0.5, bias = 0.3})
  local first, last = p:shard_chains()
  local dm, dw, de, dt = 0, 0, 0, 0
  local z
  for _ = 1, 3 do
    local ph, tw = p:negative_phase{beta_eff_rate = rate}, twin:negative_phase{beta_eff_rate = rate}
    z = p:gather_chains()
    local m, e, h = closed_form(p, z)
    dm = math.max(dm, worst(ph.means:totable(), m))
    dw = math.max(dw, worst(ph.edge_means:totable(), e))
    de = math.max(de, math.abs(ph.mean_energy - h))
    dt = math.max(dt, worst(ph.means:totable(), tw.means:totable()), worst(ph.edge_means:totable(), tw.edge_means:totable()),
                  math.abs(ph.mean_energy - tw.mean_energy), math.abs(ph.beta_eff - tw.beta_eff),
                  math.abs((ph.stats.hw_energy or 0) - (tw.stats.hw_energy or 0)))
  end
  local same = fingerprint(z) == fingerprint(twin:gather_chains())
  -- Checkpoint round trips: p's state (chains gathered above) loads into a prior holding all
  -- chains, and the twin's into a sharded prior (each rank takes its block); the next phase
  -- of both is the twin's.
  local function fresh() qv.seed(7); return qv.prior.new(g, {samples = C, weight_scale = 0.5, bias = 0.3}) end
  local whole, split = fresh(), fresh()
  whole:load_state(p:state())
  split:shard_chains()
  split:load_state(twin:state())
  local a, b, c = whole:negative_phase(), split:negative_phase(), twin:negative_phase()
  local want = fingerprint(twin:gather_chains())
  local trip = fingerprint(whole:gather_chains()) == want and fingerprint(split:gather_chains()) == want
               and worst(a.means:totable(), c.means:totable()) < 1e-6 and worst(b.means:totable(), c.means:totable()) < 1e-6
  print(("rank%d C%d block=%d-%d dmean=%.3g dedge=%.3g denergy=%.3g dtwin=%.3g same=%s trip=%s chains=%d"):format(
    r, C, first, last, dm, dw, de, dt, tostring(same), tostring(trip), fingerprint(z)))
end
]==]

test("sharded PCD chains: whole-tile blocks, one process's chains, moments of all chains (closed form)", function()
  if not have_mpi then return skip("no mpirun") end
  local script = tmp .. "/shards.lua"
  local f = assert(io.open(script, "w")); f:write(SHARDS); f:close()
  -- C = 70: tiles of 32, 32 and 6 chains; C = 40: 32 and 8 (rank 2 of 3 holds none).
  local blocks = {[1] = {[70] = {"1-70"}, [40] = {"1-40"}},
                  [2] = {[70] = {"1-64", "65-70"}, [40] = {"1-32", "33-40"}},
                  [3] = {[70] = {"1-32", "33-64", "65-70"}, [40] = {"1-32", "33-40", "41-40"}}}
  local chains = {}
  for _, n in ipairs{1, 2, 3} do
    local code, out, err = run(n == 1 and 0 or n, script)
    expect.eq(code, 0, err)
    for r = 0, n - 1 do
      for _, C in ipairs{70, 40} do
        local line = out:match("rank" .. r .. " C" .. C .. " ([^\n]+)")
        expect.truthy(line, out)
        local kv = {}
        for k, v in line:gmatch("(%w+)=(%S*)") do kv[k] = v end
        local what = ("N = %d rank %d C = %d"):format(n, r, C)
        expect.eq(kv.block, blocks[n][C][r + 1], what)
        -- the moments are those of all C chains (a block-count average would differ: blocks are uneven)
        expect.truthy(tonumber(kv.dmean) < 1e-6 and tonumber(kv.dedge) < 1e-6, what .. ": " .. line)
        expect.truthy(tonumber(kv.denergy) < 1e-4, what .. ": " .. line)
        -- the same chains and moments as one process with all chains
        expect.eq(kv.same, "true", what)
        expect.eq(kv.trip, "true", what .. ": checkpoint round trip (gather, scatter)")
        expect.truthy(tonumber(kv.dtwin) < 1e-6, what .. ": " .. line)
        chains[C] = chains[C] or kv.chains
        expect.eq(kv.chains, chains[C], what .. ": chains")
      end
    end
  end
end)

test("an error on one rank ends the job, naming the rank; no rank hangs", function()
  if not have_mpi then return skip("no mpirun") end
  local script = tmp .. "/fail.lua"
  local f = assert(io.open(script, "w"))
  f:write([[if qv.dist.rank() == 1 then error("boom on purpose") end qv.dist.barrier() qv.sleep(60)]])
  f:close()
  local t0 = qv.clock()
  local code, _, err = run(2, script)
  expect.ne(code, 0)
  expect.truthy(qv.clock() - t0 < 30, "took " .. (qv.clock() - t0) .. " s")
  expect.match(err, "rank 1 of 2: .*boom on purpose")
end)

-- Tiny settings: 600 training images, batch 50 (split 25/25 or 16/17/17).
local SMALL = "--train-n 600 --batch-size 50 --chains 100 --valid-n 100 --eval-n 20 --eval-k 10 " ..
              "--logz-chains 50 --logz-temperatures 50"

--- log.csv as rows of numbers (wall-clock "seconds" dropped).
local function log_numbers(dir)
  local rows, header = {}, nil
  for line in (read(dir .. "/log.csv") or ""):gmatch("[^\n]+") do
    local cells = {}
    for cell in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = cell end
    if not header then header = cells else
      local row = {}
      for i, name in ipairs(header) do if name ~= "seconds" then row[name] = tonumber(cells[i]) or cells[i] end end
      rows[#rows + 1] = row
    end
  end
  return rows
end

local function expect_same_log(a, b, what)
  expect.eq(#a, #b, what .. ": rows")
  local worst = 0
  for i = 1, #a do
    for k, v in pairs(a[i]) do
      local w = b[i][k]
      if type(v) == "number" then
        local rel = math.abs(v - w) / math.max(math.abs(v), 1e-12)
        if v ~= w then worst = math.max(worst, rel) end
        expect.truthy(rel <= 1e-4, ("%s: epoch %d %s: %.9g vs %.9g (relative %.2g)"):format(what, i, k, v, w, rel))
      else
        expect.eq(w, v, what .. ": " .. k)
      end
    end
  end
  return worst
end

local have_data = qv.exists(FMNIST)

test("dense training: N = 2 and N = 3 match N = 1 in every logged number (1e-4)", function()
  if not have_mpi then return skip("no mpirun") end
  if not have_data then return skip("no Fashion-MNIST") end
  local code, _, err = run(0, "scripts/train.lua", SMALL .. " --epochs 2 --eval-every 1 --quiet --out " .. q(tmp .. "/n1"))
  expect.eq(code, 0, err)
  local ref = log_numbers(tmp .. "/n1")
  expect.eq(#ref, 2)
  for _, n in ipairs{2, 3} do
    local out = tmp .. "/n" .. n
    code, _, err = run(n, "scripts/train.lua", SMALL .. " --epochs 2 --eval-every 1 --quiet --out " .. q(out))
    expect.eq(code, 0, err)
    local worst = expect_same_log(ref, log_numbers(out), "N = " .. n)
    print(("    N = %d: largest relative difference from N = 1: %.2g"):format(n, worst))
    expect.truthy(qv.exists(out .. "/summary.json") and qv.exists(out .. "/samples.png"))
  end
end)

test("a killed rank ends the job within seconds; the checkpoint resumes with another N", function()
  if not have_mpi then return skip("no mpirun") end
  if not have_data then return skip("no Fashion-MNIST") end
  -- Reference: 3 epochs in one process.
  local code, _, err = run(0, "scripts/train.lua", SMALL .. " --epochs 3 --quiet --out " .. q(tmp .. "/k1"))
  expect.eq(code, 0, err)
  local ref = log_numbers(tmp .. "/k1")
  -- N = 2; once the first checkpoint exists, SIGKILL rank 1.
  local out = tmp .. "/k2"
  local sh = tmp .. "/kill.sh"
  local f = assert(io.open(sh, "w"))
  f:write(([[
cd %s
%s %s scripts/train.lua %s --epochs 3 --quiet --out %s > %s/kill.out 2> %s/kill.err &
job=$!
for i in $(seq 1 600); do [ -f %s/checkpoint.safetensors ] && break; sleep 0.1; done
victim=""
for p in $(pgrep -P $job) $(pgrep -P $(pgrep -d, -P $job) 2>/dev/null); do
  if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$p; fi
done
start=$(date +%%s.%%N)
[ -n "$victim" ] && kill -9 $victim
wait $job; code=$?
end=$(date +%%s.%%N)
echo "victim=$victim code=$code seconds=$(awk "BEGIN{print $end - $start}")"
]]):format(q(root), MPIRUN:format(2), q(QVLUA), SMALL, q(out), q(tmp), q(tmp), q(out)))
  f:close()
  local p = io.popen("sh " .. q(sh)); local report = p:read("a"); p:close()
  local victim, jcode, secs = report:match("victim=(%d*) code=(%d+) seconds=([%d.]+)")
  expect.truthy(victim and victim ~= "", "no rank 1 found: " .. report)
  expect.ne(tonumber(jcode), 0, report)
  expect.truthy(tonumber(secs) < 10, "the job took " .. tostring(secs) .. " s to end")
  local kerr = read(tmp .. "/kill.err") or ""
  expect.match(kerr, "rank 1")
  print(("    killed rank 1 (pid %s): job ended in %.2f s, exit %s"):format(victim, tonumber(secs), jcode))
  -- The checkpoint is intact and resumes with N = 3; the finished run matches N = 1.
  code, _, err = run(3, "scripts/train.lua", SMALL .. " --epochs 3 --quiet --resume --out " .. q(out))
  expect.eq(code, 0, err)
  local worst = expect_same_log(ref, log_numbers(out), "N = 2 killed, resumed with N = 3")
  print(("    resumed with N = 3: largest relative difference from N = 1: %.2g"):format(worst))
  -- Saved by N = 3 (its chains gathered from three blocks, one of them partial) after
  -- epoch 1, resumed in one process: the chains scatter back whole.
  local stop = tmp .. "/stop1.lua"
  f = assert(io.open(stop, "w"))
  f:write("return {on_epoch = function(run, row) if row.epoch == 1 then run:stop() end end}\n")
  f:close()
  out = tmp .. "/k3"
  code, _, err = run(3, "scripts/train.lua", SMALL .. " --epochs 3 --quiet --config " .. q(stop) .. " --out " .. q(out))
  expect.eq(code, 0, err)
  expect.eq(#log_numbers(out), 1)
  code, _, err = run(0, "scripts/train.lua", SMALL .. " --epochs 3 --quiet --resume --out " .. q(out))
  expect.eq(code, 0, err)
  worst = expect_same_log(ref, log_numbers(out), "N = 3 for epoch 1, resumed with N = 1")
  print(("    N = 3, resumed with N = 1: largest relative difference from N = 1: %.2g"):format(worst))
end)

test("study slices: --task I/N, SLURM's job-array variables, round robin over tasks × ranks", function()
  local study = require "study"
  local none = function() return nil end
  expect.eq({study.task(nil, none)}, {1, 1})
  expect.eq({study.task("2/5", none)}, {2, 5})
  local _, err = study.task("6/5", none)
  expect.match(err, "%-%-task")
  local env = {SLURM_ARRAY_TASK_ID = "7", SLURM_ARRAY_TASK_COUNT = "4", SLURM_ARRAY_TASK_MIN = "5"}
  expect.eq({study.task(nil, function(k) return env[k] end)}, {3, 4})
  -- 10 runs over 2 tasks × 3 ranks: every run in exactly one slot
  local seen = {}
  for slot = 0, 5 do
    for k = 1, 10 do if study.mine(k, slot, 6) then seen[k] = (seen[k] or 0) + 1 end end
  end
  for k = 1, 10 do expect.eq(seen[k], 1, "run " .. k) end
end)

test("cleanup", function() os.execute("rm -rf " .. q(tmp)) end)
