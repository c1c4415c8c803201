-- Data-parallel benchmark (BENCHMARKS.md, "Many processes"):
--   qvlua scripts/bench/dist.lua [steps]                       1 rank (all threads)
--   mpirun -np 2 qvlua scripts/bench/dist.lua [steps]          2 ranks (1 thread each on 2 cores)
-- Prints the mean training-step time of the dense model (batch 100, 1000
-- PCD chains, default schedules) split into compute and communication (the
-- fused gradient allreduce, waiting for the slowest rank included), then
-- allreduce latency and bandwidth for message sizes 4 B ... 16 MB.
local steps = tonumber(arg[1]) or 20
local d = qv.dist
local rank, size = d.rank(), d.size()
local trainer = require "trainer"
local out = os.tmpname(); os.remove(out)
local run = trainer.new{train_n = 5000, quiet = true, force = true, out = out .. "_distbench", epochs = 100,
                        eval_n = 10, valid_n = 10}
local comm = 0
local reduce = d.allreduce_grads
d.allreduce_grads = function(...)
  local t = qv.clock(); local r = reduce(...); comm = comm + qv.clock() - t; return r
end
for _ = 1, 3 do run:step() end            -- warm-up
d.barrier()
comm = 0
local t0 = qv.clock()
for _ = 1, steps do run:step() end
local total = (qv.clock() - t0) / steps
comm = comm / steps
d.allreduce_grads = reduce
local nparams = run.model:num_parameters()
if rank == 0 then
  print(("ranks %d  threads/rank %d  parameters %d (%.1f MB of float32 gradients)"):format(size, qv.threads(), nparams,
        nparams * 4 / 1e6))
  print(("step %.1f ms = compute %.1f ms + communication %.1f ms (%d steps)"):format(total * 1e3, (total - comm) * 1e3,
        comm * 1e3, steps))
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
