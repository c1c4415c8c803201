--- qvlua scripts/studies/connectivity.lua [options]
--- The paper's Fig. 6 (ISSUE 5): the same dense VAE (P-dense) trained with
--- each prior connectivity — Bernoulli (no couplers), Chimera C(6,6,4),
--- Pegasus P(4), full bipartite RBM 144×144 — then test LL (K importance
--- samples), ELBO and active units for each. The paper finds both improve
--- Bernoulli < Chimera < Pegasus < RBM (2000 epochs, conv networks).

local study = require "study"

local p = study.parser{name = "connectivity", script = "scripts/studies/connectivity.lua",
  out = "runs/connectivity", epochs = 3, about =
  "Fig. 6: train the dense VAE with each prior connectivity and compare test LL, ELBO and active units.\n" ..
  "Each run is `qvlua scripts/train.lua ... --out OUT/<prior>-s<seed>`; finished runs are reused."}
p:option{"priors", default = "bernoulli,chimera,pegasus,rbm", metavar = "LIST",
         help = "priors to compare (bernoulli, chimera, pegasus, rbm or edge-list files)"}
local o = p:parse_or_exit(arg)

local s = study.new(o, {name = "connectivity"})
for _, prior in ipairs(study.list(o.priors)) do
  local label = prior:match("([^/]+)$"):gsub("%.[^.]*$", "")
  s:condition(label, {prior = prior})
end
local rows = s:run()
local failed = s:report(rows, {title = "Connectivity (Fig. 6)", column = "prior",
                               expected = {"bernoulli", "chimera", "pegasus", "rbm"},
                               reference = {"paper (Fig. 6, MNIST, conv networks, 2000 epochs): LL and active units improve " ..
                                            "Bernoulli < Chimera < Pegasus < RBM;",
                                            "Bernoulli and Chimera use well under 150 active units, Pegasus and RBM well over 150."}})
os.exit(failed == 0 and 0 or 1)
