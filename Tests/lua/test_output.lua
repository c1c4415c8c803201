-- qv.plot and qv.image: PNG files and argument errors.

local function png_size(path)
  local f = assert(io.open(path, "rb"))
  local head = f:read(24)
  f:close()
  expect.eq(head:sub(1, 8), "\137PNG\r\n\26\n")
  return string.unpack(">I4I4", head, 17)
end

test("plot.lines writes a PNG with one panel per table", function()
  local path = os.tmpname() .. ".png"
  local written = qv.plot.lines(path, {
    {title = "loss", series = {{name = "train", x = {1, 2, 3}, y = {3, 2, 1.5}}, {name = "valid", x = {1, 2, 3}, y = {3.1, 0 / 0, 2}}}},
    {title = "units", series = {{name = "active", x = {1, 2, 3}, y = {288, 200, 150}}}},
  })
  expect.eq(written, path)   -- the path, so that display(qv.plot.lines(...)) shows it in a notebook
  local w, h = png_size(path)
  expect.eq(w, 1040); expect.eq(h, 320)
  os.remove(path)
end)

test("image.grid returns the path it wrote", function()
  local path = os.tmpname() .. ".png"
  expect.eq(qv.image.grid(path, qv.zeros(2, 784)), path)
  expect.eq(png_size(path) > 0, true)
  os.remove(path)
end)

test("plot.lines errors name the panel, series and field", function()
  expect.error(function() qv.plot.lines("/tmp/x.png", {{series = {{x = {1}, y = {"a"}}}}}) end,
               "panel 1 series 1 y[1] is string, not a number")
  expect.error(function() qv.plot.lines("/tmp/x.png", {{title = "t"}}) end, "panel 1 needs a 'series' table")
  expect.error(function() qv.plot.lines("/tmp/x.png", {{series = {{x = {1, 2}, y = {1}}}}}) end, "has 2 x and 1 y values")
  expect.error(function() qv.plot.lines("/nonexistent-dir/x.png", {{series = {{x = {1}, y = {1}}}}}) end, "cannot")
end)

test("image.grid rejects what is not a tensor", function()
  expect.error(function() qv.image.grid("/tmp/x.png", {1, 2, 3}) end, "bad argument #2 to 'qv.image.grid'")
end)
