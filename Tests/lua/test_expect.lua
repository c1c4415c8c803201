-- The runner's own assertions.

test("eq compares tables deeply", function()
  expect.eq({1, {a = 2}}, {1, {a = 2}})
  expect.error(function() expect.eq({1}, {2}) end, "expected {2}, got {1}")
end)

test("near", function()
  expect.near(0.1 + 0.2, 0.3)
  expect.error(function() expect.near(1, 2, 1e-3) end, "expected 2")
end)

test("error returns the message", function()
  local m = expect.error(function() error("abc", 0) end, "abc")
  expect.eq(m, "abc")
  expect.error(function() expect.error(function() end) end, "expected an error")
  expect.error(function() expect.error(function() error("x") end, "y") end, "expected an error matching")
end)

test("globals of a test file stay in the file", function()
  leaked_global = 1
  expect.eq(rawget(_G, "leaked_global"), nil)
end)
