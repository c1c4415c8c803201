--- qvlua scripts/studies/fig9.lua [options]
--- The paper's Fig. 9: active units of each prior connectivity trained on
--- Fashion-MNIST and on MNIST. The paper finds every sparse connectivity
--- uses many more latent units on the more complex dataset.

local study = require "study"

local p = study.parser{name = "fig9", script = "scripts/studies/fig9.lua", out = "runs/fig9", epochs = 3, about =
  "Fig. 9: active units per prior connectivity on Fashion-MNIST vs MNIST.\n" ..
  "One run per prior × dataset × seed (OUT/<prior>-<dataset>-s<seed>)."}
p:option{"priors", default = "bernoulli,chimera,pegasus,rbm", metavar = "LIST", help = "priors to compare"}
p:option{"datasets", default = "fmnist,mnist", metavar = "LIST", help = "datasets to compare"}
p:option{"fmnist-data", metavar = "DIR", help = "Fashion-MNIST directory (default: Debian's dataset-fashion-mnist)"}
local o = p:parse_or_exit(arg)

local s = study.new(o, {name = "fig9"})
for _, prior in ipairs(study.list(o.priors)) do
  for _, ds in ipairs(study.list(o.datasets)) do
    local t = {prior = prior, dataset = ds}
    if ds == "fmnist" then t.data = o.fmnist_data end
    if ds == "mnist" then t.data = o.data or study.default_data("mnist") end
    s:condition(prior .. "-" .. ds, t)
  end
end
local rows = s:run()
local failed = s:report(rows, {title = "Fig. 9", column = "prior-dataset"})
local by = {}
for _, r in ipairs(rows) do by[r.condition] = r end
local tab = {}
local notes = {}
for _, prior in ipairs(study.list(o.priors)) do
  local f, m = by[prior .. "-fmnist"], by[prior .. "-mnist"]
  tab[#tab + 1] = {prior, f and study.pm(f.active, f.active_se, "%.1f") or "-", m and study.pm(m.active, m.active_se, "%.1f") or "-",
                   f and study.pm(f.ll, f.ll_se) or "-", m and study.pm(m.ll, m.ll_se) or "-"}
  if f and m and f.active and m.active then
    notes[#notes + 1] = ("- %s: %s active units on Fashion-MNIST than on MNIST (%.1f vs %.1f)"):format(prior,
      f.active > m.active and "more" or "not more", f.active, m.active)
  end
end
s:write_report(rows, {
  title = "Fig. 9 — active units on Fashion-MNIST vs MNIST",
  dataset = table.concat(study.list(o.datasets), " and "),
  tables = {{title = "Active units and test LL by prior and dataset",
             header = {"prior", "active (FMNIST)", "active (MNIST)", "LL (FMNIST)", "LL (MNIST)"}, rows = tab}},
  figures = {{file = "curves", title = "Over epochs",
              panels = {{title = "active units", column = "active_units"},
                        {title = "validation ELBO (nats)", column = "valid_elbo"}}}},
  reference = {"Fig. 9 (conv networks): every model with a sparse latent connectivity uses a much larger number of " ..
               "latent units on Fashion-MNIST than on MNIST."},
  notes = notes,
})
os.exit(failed == 0 and 0 or 1)
