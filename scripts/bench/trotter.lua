-- Trotter error of the quantum prior's PIMC negative phase on a trained QBM
-- prior of any size (docs/results/README.md, "BM vs QBM priors"):
--   qvlua scripts/bench/trotter.lua RUN_DIR [chains]
-- Loads RUN_DIR/checkpoint.safetensors (a train.lua --gamma run), samples
-- its QBM with continuous-time PIMC (qv.sampler.ctpimc, no Trotter error)
-- and with PIMC at M = 4, 8, 16, 32 (independent chains, 300 sweeps of
-- burn-in each), and prints the mean |difference| of <z> and <z z> and the
-- difference of <σx> from the continuous-time values, then the noise
-- floor of those means (two independent M = 32 estimates).
local kit = require "vaekit"
local function usage(msg)
  io.stderr:write(msg, "\nusage: qvlua scripts/bench/trotter.lua RUN_DIR [chains]\n")
  os.exit(2)
end
local run = arg[1] or usage("no run directory")
local chains = math.tointeger(tonumber(arg[2] or "1000"))
if not chains or chains < 2 then usage("chains: an integer >= 2") end
local _, prior, c = kit.restore(run .. "/checkpoint.safetensors")
local bm, gamma = prior:machine(), c.options.gamma or 0
if gamma <= 0 then usage(run .. " is not a quantum prior run (train.lua --gamma G)") end
local function stats(s, seed)
  qv.seed(seed or 5)
  local t = qv.clock()
  local smp = s:sample(bm, chains)
  return smp:means(), smp:edge_means(), smp.stats.sigma_x, qv.clock() - t
end
local cm, ce, cx, ct = stats(qv.sampler.ctpimc{gamma = gamma, sweeps = 0, burn_in = 300, persistent = false})
print(("Γ = %g, %s: ctpimc <σx> %.4f  (%.0f s)"):format(gamma, run, cx, ct))
local function mean_abs(a, b) local s = 0 for i = 1, #a do s = s + math.abs(a[i] - b[i]) end return s / #a end
for _, m in ipairs{4, 8, 16, 32} do
  local pm, pe, px, pt = stats(qv.sampler.pimc{gamma = gamma, slices = m, sweeps = 0, burn_in = 300, persistent = false})
  print(("M = %2d: mean |Δ<z>| %.4f  mean |Δ<zz>| %.4f  <σx> %.4f (Δ %.4f)  (%.0f s)"):format(
    m, mean_abs(pm, cm), mean_abs(pe, ce), px, px - cx, pt))
end
-- the noise floor: two independent M = 32 estimates
local am, ae = stats(qv.sampler.pimc{gamma = gamma, slices = 32, sweeps = 0, burn_in = 300, persistent = false}, 5)
local bm2, be = stats(qv.sampler.pimc{gamma = gamma, slices = 32, sweeps = 0, burn_in = 300, persistent = false}, 6)
print(("noise floor (M = 32, two seeds): mean |Δ<z>| %.4f  mean |Δ<zz>| %.4f"):format(mean_abs(am, bm2), mean_abs(ae, be)))
