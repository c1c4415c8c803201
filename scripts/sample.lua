--- qvlua scripts/sample.lua CHECKPOINT [options]
--- Pictures from a trained model's prior: a grid of generated images, the
--- same with the couplings zeroed (the paper's Fig. 4), or one block-Gibbs
--- chain decoded image by image (Fig. 10).

local args = require "args"
local kit = require "vaekit"

local p = args.parser{name = "scripts/sample.lua", about = "Generate images from a checkpoint written by scripts/train.lua."}
p:positional{"checkpoint", help = "a checkpoint.safetensors file"}
p:option{"out", default = "samples.png", metavar = "FILE", help = "PNG to write"}
p:option{"n", type = "int", default = 100, min = 1, help = "images"}
p:option{"columns", type = "int", default = 10, min = 1, help = "images per row"}
p:flag{"zero-couplings", help = "set the prior's couplings W to 0 first (Fig. 4)"}
p:option{"chain", type = "int", default = 0, min = 0, help = "decode one Gibbs chain: sweeps between frames (Fig. 10); 0 = independent samples"}
p:option{"seed", type = "int", default = 1, help = "random seed"}
local o = p:parse_or_exit(arg)

local ok, err = pcall(function()
  local model, prior = kit.restore(o.checkpoint)
  qv.seed(o.seed)
  if o.zero_couplings then qv.no_grad(function() prior.weights:zero_() end) end
  local images
  if o.chain > 0 then
    images = qv.no_grad(function() return model:decode_chain(o.n, {sweeps = o.chain}) end)
  else
    images = qv.no_grad(function() return model:generate(o.n) end)
  end
  qv.image.grid(o.out, images, {columns = o.columns, scale = 2})
  print(("wrote %s (%d images%s)"):format(o.out, o.n,
        o.zero_couplings and ", couplings zeroed" or (o.chain > 0 and (", one chain, " .. o.chain .. " sweeps apart") or "")))
end)
if not ok then io.stderr:write("scripts/sample.lua: ", tostring(err), "\n"); os.exit(1) end
