-- scripts/lib/runlog.lua and progress.lua.
local runlog = require "runlog"
local progress = require "progress"

test("CSV log: columns from the first row, resume keeps earlier epochs", function()
  local path = os.tmpname() .. ".csv"
  local log = runlog.open(path)
  for e = 1, 4 do log:write{epoch = e, loss = 10 / e, note = "a,b"} end
  log:close()
  log = runlog.open(path, {keep_until = 2})
  log:write{epoch = 3, loss = 1.5, note = "x"}
  log:close()
  local rows = runlog.read_csv(path)
  expect.eq(#rows, 3)
  expect.eq(rows[2].loss, 5); expect.eq(rows[3].loss, 1.5); expect.eq(rows[1].note, "a,b")
  os.remove(path)
end)

test("JSON lines log and unknown fields", function()
  local path = os.tmpname() .. ".jsonl"
  local log = runlog.open(path)
  log:write{epoch = 1, ll = -90.5, nan = 0 / 0}
  expect.error(function() log:write{epoch = 2, extra = 1} end, "field 'extra' is not a column")
  log:close()
  local text = assert(io.open(path)):read("a")
  expect.match(text, '{"epoch": 1, "ll": %-90.5, "nan": null}')
  os.remove(path)
end)

test("progress writes plain lines when not on a terminal", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  local p = progress.new{total = 8, label = "epoch 1/2", per_step = 100, tty = false, out = f}
  for i = 1, 8 do p:update(i, {loss = 1 / i}) end
  p:finish("done")
  f:close()
  local text = assert(io.open(path)):read("a")
  local lines = select(2, text:gsub("\n", ""))
  expect.eq(lines, 4)  -- at 25%, 50%, 75% and the summary
  expect.match(text, "epoch 1/2  2/8  loss 0.5")
  expect.match(text, "epoch 1/2  done")
  os.remove(path)
end)
