--- qvlua scripts/studies/fig8.lua [options]      (alias: mapping.lua)
--- The paper's Fig. 8: how the two hierarchical groups of the posterior map
--- onto a Chimera prior's units. "bipartite": the groups are the two sides
--- of Chimera's bipartition, so p(z2|z1) factorizes; "chains": the groups
--- are the vertical and horizontal shores, coupled along their chains. The
--- paper finds Chains trains remarkably better and uses more active units.

local study = require "study"

local p = study.parser{name = "fig8", script = "scripts/studies/fig8.lua", out = "runs/fig8", epochs = 3, about =
  "Fig. 8: Bipartite vs Chains grouping of the hierarchical posterior on a Chimera prior.\n" ..
  "One run per grouping × seed (OUT/<grouping>-s<seed>); killed runs resume, finished ones are reused."}
p:option{"prior", default = "chimera", metavar = "chimera|pegasus|rbm|FILE", help = "prior connectivity"}
p:option{"groupings", default = "bipartite,chains", metavar = "LIST", help = "groupings to compare"}
local o = p:parse_or_exit(arg)

local s = study.new(o, {name = "fig8"})
for _, g in ipairs(study.list(o.groupings)) do
  s:condition(g, {prior = o.prior, grouping = g})
end
local rows = s:run()
local failed = s:report(rows, {title = "Mapping (Fig. 8), " .. o.prior .. " prior", column = "grouping",
                               expected = {"bipartite", "chains"}})
local labels, lls, acts = {}, {}, {}
for i, r in ipairs(rows) do labels[i], lls[i], acts[i] = r.condition, r.ll, r.active end
s:write_report(rows, {
  title = "Fig. 8 — mapping the posterior's groups onto a " .. o.prior .. " prior",
  intro = {"bipartite: the two hierarchical groups are the two sides of the bipartition (p(z2|z1) factorizes); " ..
           "chains: they are Chimera's vertical and horizontal shores, coupled along their chains. PCD negative phase."},
  figures = {{file = "curves", title = "Training curves (the paper's Fig. 8: LL left, active units right)",
              panels = {{title = "validation ELBO (nats)", column = "valid_elbo"},
                        {title = "test LL (nats)", column = "test_ll"},
                        {title = "active units", column = "active_units"}}}},
  reference = {"Fig. 8 (MNIST, Chimera, conv networks, 2000 epochs): Chains reaches a clearly better LL " ..
               "(about 1 nat) and many more active units than Bipartite, from early in training on."},
  notes = {"- by test LL (worst to best): " .. study.ordering(labels, lls),
           "- by active units (fewest to most): " .. study.ordering(labels, acts),
           ("- chains − bipartite, paired by seed: LL %s, active units %s"):format(
             study.pm_paired(s.results, "chains", "bipartite"), study.pm_paired(s.results, "chains", "bipartite", "active", "%.1f")),
           "- the paper's order for both: bipartite < chains"},
})
os.exit(failed == 0 and 0 or 1)
