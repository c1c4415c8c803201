-- scripts/lib/args.lua: parsing, defaults, errors, config files.
local args = require "args"

local function parser()
  local p = args.parser{name = "t.lua", about = "A test.", config = true}
  p:option{"epochs", type = "int", default = 20, min = 1, help = "epochs"}
  p:option{"lr", type = "number", default = 3e-3, help = "learning rate"}
  p:option{"prior", choices = {"bernoulli", "chimera"}, default = "chimera", help = "prior"}
  p:option{"batch-size", type = "int", default = 100, help = "batch"}
  p:flag{"resume", help = "resume"}
  return p
end

test("defaults, both value syntaxes, dashes to underscores", function()
  local o = parser():parse{"--epochs=3", "--lr", "0.01", "--batch-size", "50", "--resume"}
  expect.eq(o.epochs, 3); expect.eq(o.lr, 0.01); expect.eq(o.batch_size, 50)
  expect.eq(o.resume, true); expect.eq(o.prior, "chimera")
  expect.eq(parser():parse{"--no-resume"}.resume, false)
end)

test("errors name the option", function()
  local p = parser()
  local function err(argv) local o, e = p:parse(argv); expect.eq(o, nil); return e end
  expect.match(err{"--bogus"}, "unknown option %-%-bogus")
  expect.match(err{"--epochs", "x"}, "%-%-epochs: expected an integer, got 'x'")
  expect.match(err{"--epochs", "0"}, "below the minimum")
  expect.match(err{"--prior", "ising"}, "'ising' is not one of bernoulli, chimera")
  expect.match(err{"--lr"}, "needs a value")
  expect.match(err{"--resume=1"}, "takes no value")
  expect.eq(err{"--help"}, "help")
end)

test("usage lists every option with its default", function()
  local u = parser():usage()
  expect.match(u, "usage: qvlua t.lua")
  expect.match(u, "%-%-epochs INT%s+epochs %(default: 20%)")
  expect.match(u, "%-%-prior bernoulli|chimera")
  expect.match(u, "%-%-resume")
end)

test("config files supply options; the command line wins", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("return {epochs = 7, prior = 'bernoulli', lr = 1e-3}\n"); f:close()
  local o = parser():parse{"--config", path, "--epochs", "9"}
  expect.eq(o.epochs, 9); expect.eq(o.prior, "bernoulli"); expect.eq(o.lr, 1e-3)
  f = assert(io.open(path, "w")); f:write("return {speed = 1}\n"); f:close()
  local _, e = parser():parse{"--config", path}
  expect.match(e, "unknown option 'speed'")
  f = assert(io.open(path, "w")); f:write("return {epochs = 'many'}\n"); f:close()
  _, e = parser():parse{"--config", path}
  expect.match(e, "expected an integer")
  os.remove(path)
end)

test("a misspelled option gets a 'did you mean' (command lines, trainer options, bindings)", function()
  local args = require "args"
  expect.eq(args.closest("epoch", {"epochs", "eval-k", "seed"}), "epochs")
  expect.eq(args.closest("lrmin", {"lr-min", "lr"}), "lr-min")
  expect.eq(args.closest("zzzzzz", {"epochs", "seed"}), nil)
  local p = args.parser{name = "t"}
  p:option{"batch-size", type = "int", default = 1}
  local o, err = p:parse{"--bach-size", "3"}
  expect.eq(o, nil); expect.eq(err, "unknown option --bach-size (did you mean --batch-size?)")
  local ok, e = pcall(qv.optim.adam, {qv.zeros(2):requires_grad_()}, {lrr = 1})
  expect.falsy(ok); expect.match(e, "unknown option 'lrr' to 'qv.optim.adam' %(did you mean 'lr'%? known options:")
  ok, e = pcall(qv.sampler.command, {"x", timout = 3})
  expect.falsy(ok); expect.match(e, "did you mean 'timeout'%?")
  ok, e = pcall(require("trainer").options, {batchsize = 3})
  expect.falsy(ok); expect.match(tostring(e), "did you mean 'batch_size'%?")
end)
