--- qvlua scripts/studies/fig5.lua [options]
--- The paper's Fig. 5: active units during training, annealer (DW) vs
--- population annealing (PA) on Chimera and Bernoulli priors. These are
--- Table I's runs: by default this study shares runs/table1 (finished runs
--- are reused, so running table1.lua first costs nothing here).

local study = require "study"

local p = study.parser{name = "fig5", script = "scripts/studies/fig5.lua", out = "runs/table1", epochs = 3, about =
  "Fig. 5: active units over epochs for DW/PA × Chimera/Bernoulli (the runs of table1.lua, shared by default)."}
study.annealer_options(p)
local o = p:parse_or_exit(arg)

local s = study.new(o, {name = "fig5"})
for _, c in ipairs(study.table1_cells(o)) do s:condition(c[1], c[2]) end
local rows = s:run()
local failed = s:report(rows, {title = "Fig. 5", column = "cell"})
local labels, acts = {}, {}
for i, r in ipairs(rows) do labels[i], acts[i] = r.condition, r.active end
s:write_report(rows, {
  title = "Fig. 5 — active units during training, DW vs PA",
  intro = {"The four cells of Table I (every prior trained with its sampler's samples); active units are counted " ..
           "on the validation images after each epoch (posterior-mean variance above 0.01)."},
  figures = {{file = "active", title = "Active units over epochs (Fig. 5)",
              panels = {{title = "active units", column = "active_units"}}}},
  reference = {"Fig. 5 (MNIST, conv networks): the annealer-trained models use fewer active units than the " ..
               "PA-trained ones, on both priors; Chimera uses more than Bernoulli."},
  notes = {"- final active units (fewest to most): " .. study.ordering(labels, acts)},
})
os.exit(failed == 0 and 0 or 1)
