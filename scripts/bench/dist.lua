-- Data-parallel benchmark (BENCHMARKS.md, "Many processes"):
--   qvlua scripts/bench/dist.lua [steps]                       1 rank (all threads)
--   mpirun -np 2 qvlua scripts/bench/dist.lua [steps]          2 ranks (1 thread each on 2 cores)
-- Prints the mean training-step time of the dense model (batch 100, 1000
-- PCD chains split over the ranks, default schedules) split into compute
-- and communication (the fused gradient allreduce, waiting for the slowest
-- rank included), in wall-clock and process CPU time (os.clock: all of
-- this rank's threads; Open MPI busy-polls while it waits, so waiting
-- costs CPU too); then the negative phase alone (this rank's block of the
-- chains and the allreduce of its sums) and allreduce latency and
-- bandwidth for message sizes 4 B ... 16 MB.
local steps = tonumber(arg[1]) or 20
local d = qv.dist
local rank, size = d.rank(), d.size()
local trainer = require "trainer"
local out = os.tmpname(); os.remove(out)
local run = trainer.new{train_n = 5000, quiet = true, force = true, out = out .. "_distbench", epochs = 100,
                        eval_n = 10, valid_n = 10}
local comm, comm_cpu = 0, 0
local reduce = d.allreduce_grads
d.allreduce_grads = function(...)
  local t, c = qv.clock(), os.clock()
  local r = reduce(...)
  comm, comm_cpu = comm + qv.clock() - t, comm_cpu + os.clock() - c
  return r
end
for _ = 1, 3 do run:step() end            -- warm-up
d.barrier()
comm, comm_cpu = 0, 0
local t0, c0 = qv.clock(), os.clock()
for _ = 1, steps do run:step() end
local total, cpu = (qv.clock() - t0) / steps, (os.clock() - c0) / steps
comm, comm_cpu = comm / steps, comm_cpu / steps
d.allreduce_grads = reduce
local all_cpu = d.allreduce(cpu)
local nparams = run.model:num_parameters()
-- The negative phase alone: this rank's block of the chains plus one allreduce of its sums.
local prior = run.prior
local phases = 20
d.barrier()
local tp, cp = qv.clock(), os.clock()
for _ = 1, phases do prior:negative_phase() end
local phase, phase_cpu = (qv.clock() - tp) / phases, (os.clock() - cp) / phases
local msg = 2 + prior.units + prior.graph.edges
local sums = qv.zeros(msg)
d.barrier()
local ta = qv.clock()
for _ = 1, 200 do d.allreduce(sums) end
local phase_comm = (qv.clock() - ta) / 200
local function loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local l = f:read("l"); f:close()
  return l:match("^(%S+ %S+ %S+)") or l
end
if rank == 0 then
  print(("ranks %d  threads/rank %d  parameters %d (%.1f MB of float32 gradients)  load average %s"):format(size,
        qv.threads(), nparams, nparams * 4 / 1e6, loadavg()))
  print(("step %.1f ms wall = compute %.1f ms + gradient allreduce %.1f ms (%d steps)"):format(total * 1e3,
        (total - comm) * 1e3, comm * 1e3, steps))
  print(("step CPU (rank 0, all its threads) %.1f ms = compute %.1f ms + gradient allreduce %.1f ms; all ranks %.1f ms"):format(
        cpu * 1e3, (cpu - comm_cpu) * 1e3, comm_cpu * 1e3, all_cpu * 1e3))
  print(("negative phase (chains %s of %d): %.2f ms wall, %.2f ms CPU; its allreduce (%d numbers) %.1f us"):format(
        run.chain_block and ("%d-%d"):format(run.chain_block[1], run.chain_block[2]) or "all", prior.samples,
        phase * 1e3, phase_cpu * 1e3, msg, phase_comm * 1e6))
end
if size > 1 then
  for _, n in ipairs{1, 256, 16384, 262144, 1048576, 4194304} do
    local t = qv.zeros(n)
    local reps = n >= 1048576 and 10 or 100
    d.allreduce(t); d.barrier()
    local t1 = qv.clock()
    for _ = 1, reps do d.allreduce(t) end
    local dt = (qv.clock() - t1) / reps
    if rank == 0 then
      print(("allreduce %9d floats (%8.3f MB): %8.1f us  %7.2f GB/s (algorithm bandwidth)"):format(n, n * 4 / 1e6,
            dt * 1e6, n * 4 / dt / 1e9))
    end
  end
end
run:close()
os.execute("rm -rf " .. out .. "_distbench")
