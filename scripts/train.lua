--- qvlua scripts/train.lua [options]
--- Trains a discrete VAE with a Boltzmann-machine prior (Vinci et al.,
--- Appendix A) and ends with an evaluation summary. `--help` lists options.
--- A thin command line over the training library (scripts/lib/trainer.lua):
--- every option is a trainer option, and a --config file may set the
--- scheduled ones (lr, kl, kd, tau, beta_eff_rate, sweeps) to schedules or
--- Lua functions, and the hooks (on_step, on_epoch, ...).

local trainer = require "trainer"

local p = trainer.parser{name = "scripts/train.lua", config = true, about =
  "Train a discrete VAE with a Boltzmann-machine prior. Defaults follow the paper's Appendix A,\n" ..
  "compressed into a few epochs of the dense model; --paper runs the full protocol."}
local o = p:parse_or_exit(arg)
for k, v in pairs(o) do if v == false then o[k] = nil end end
o.config = nil

local function fail(code, msg, usage)
  io.stderr:write("scripts/train.lua: ", msg, "\n")
  if usage then io.stderr:write("\n", p:usage(), "\n") end
  os.exit(code)
end

local ok, run = pcall(trainer.new, o)
if not ok then
  if trainer.is_option_error(run) then fail(2, tostring(run), true) end
  fail(1, tostring(run))
end
local done, err = pcall(run.run, run)
if not done then
  local msg = tostring(err)
  if qv.exists(run.paths.checkpoint) then msg = msg .. "\nthe last checkpoint is " .. run.paths.checkpoint end
  fail(1, "\n" .. msg)
end
