"""Writes docs/notebooks/boltzmann_and_training.ipynb (without outputs; make notebook-html runs it)."""
import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
cells = []
md = lambda s: cells.append(new_markdown_cell(s))
code = lambda s, **kw: cells.append(new_code_cell(s, **kw))
md("""# A Boltzmann machine and a small VAE, in a qvlua notebook

This notebook runs on the **qvlua** Jupyter kernel (`make kernel` installs it). Cells are Lua 5.4 with the
`qv` engine, exactly as at the `qvlua` prompt: the value of a cell's last expression is pretty-printed, a
trailing `;` silences it, `?x` or shift-tab shows help, Tab completes. `display(path)` shows a PNG inline.

It runs in well under a minute: a tiny Chimera graph, and a VAE trained for three epochs on the first
5000 MNIST images.""")
md("## Exploring a Boltzmann machine")
code("""qv.seed(1)
g = qv.graph.chimera(2)          -- C(2,2,4): 32 units
bm = qv.bm.random(g, {bias_scale = 0.5, weight_scale = 0.5})
print(g)
bm""")
code("""gibbs = qv.sampler.gibbs{sweeps = 20, burn_in = 100}
s = gibbs:sample(bm, 1000)
s, s:mean_energy()""")
code("""-- log Z: exact enumeration is out of reach at 32 units; AIS and population annealing agree
ais_logz, ais_err = bm:logz{method = "ais", chains = 200, temperatures = 300}
pa_logz, pa_err = bm:logz{method = "pa", replicas = 400, temperatures = 300}
{ais = ais_logz, ais_err = ais_err, pa = pa_logz, pa_err = pa_err}""")
code("""-- how fast does a Gibbs chain forget its start? mean energy after k sweeps, from all-zero states
xs, ys = {}, {}
for k = 1, 12 do
  xs[k] = k
  ys[k] = qv.sampler.gibbs{sweeps = 1, burn_in = k}:sample(bm, 4000):mean_energy()
end
display(qv.plot.lines(os.tmpname() .. ".png",
  {{title = "Gibbs burn-in", xlabel = "sweeps", series = {{name = "mean energy", x = xs, y = ys}}}}))""")
md("""## Training a small VAE with a Lua-function KL schedule

Every scheduled quantity of the `trainer` library takes a Lua function of (epoch, step); here the KL weight
warms up from 0 to 1 over the first epoch (5000 images, three epochs). Training progress streams into the cell while it runs.""")
code("""trainer = require "trainer"
warmup = function(epoch) return math.min(1, epoch) end     -- KL weight 0 -> 1 over one epoch
opts = {dataset = "mnist", data = qv.root .. "/../shared/data/mnist", train_n = 5000, valid_n = 200,
        batch_size = 100, epochs = 3, chains = 200, kl = warmup, kd = "1,1",
        eval_n = 50, eval_k = 20, logz_chains = 100, logz_temperatures = 100,
        out = qv.root .. "/runs/notebook", force = true,
        on_epoch = function(run, row) print(("  -> epoch %d: KL weight %.2f"):format(row.epoch, row.kl_weight)) end}
run = trainer.new(opts)
results = run:run();""")
code("""-- the per-epoch log rows, as a table
results.rows""")
code("""-- a mistake: the error comes back with its traceback, and the kernel (and `run`) survive
run.model:generate("many")""", metadata={"tags": ["raises-exception"]})
md("### Decoding samples from the trained prior (three epochs: still blurry), and reconstructions")
code("""qv.seed(7)
z = qv.no_grad(function() return run.model:generate(32) end)
display(qv.image.grid(os.tmpname() .. ".png", z, {columns = 8, scale = 2}))
display(results.paths.recon)     -- the run's picture: test images and their reconstructions, row by row""")
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "qvlua", "display_name": "qvlua", "language": "lua"},
    "language_info": {"name": "lua", "file_extension": ".lua", "mimetype": "text/x-lua"}})
import os
nbformat.write(nb, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "notebooks", "boltzmann_and_training.ipynb"))
