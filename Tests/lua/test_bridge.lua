-- Bridge behaviour visible from Lua: docs, repr, help, paths, userdata.

test("package.path includes the project library", function()
  if os.getenv("QVLUA_PATH") then return end
  expect.match(package.path, "/scripts/lib/%?%.lua;")
  expect.match(package.path, "/scripts/lib/%?/init%.lua;")
  expect.type(qv.root, "string")
end)

test("require finds qv", function()
  expect.truthy(rawequal(require("qv"), qv))
end)

test("docstrings", function()
  expect.match(qv.doc(qv.seed), "^qv%.seed%(n%)")
  local function f() end
  expect.truthy(rawequal(qv.doc(f, "f() -> nil"), f))
  expect.eq(qv.doc(f), "f() -> nil")
  expect.match(qv.doc(qv.Generator), "random stream")
end)

test("repr", function()
  expect.eq(qv.repr({1, 2, x = {y = "z"}}), '{1, 2, x = {y = "z"}}')
  expect.eq(qv.repr({}), "{}")
  expect.eq(qv.repr("a\tb"), '"a\\tb"')
  expect.eq(qv.repr({["not an id"] = 1, [true] = 2}), '{["not an id"] = 1, [true] = 2}')
  local t = {}; t[1] = t
  expect.eq(qv.repr(t), "{<cycle>}")
  expect.eq(qv.repr({{{{1}}}}, {depth = 2}), "{{{...}}}")
  expect.eq(qv.repr(qv.generator(1)), "qv.Generator")
end)

test("help writes documentation", function()
  local out = {}
  local saved = io.stdout
  io.stdout = { write = function(self, ...) for _, s in ipairs({...}) do out[#out + 1] = s end return self end }
  local ok, err = pcall(function()
    help(qv.seed)
    help("qv.generator")
    help(qv.generator(3))
    help("no.such.thing")
  end)
  io.stdout = saved
  expect.truthy(ok, err)
  local text = table.concat(out)
  expect.match(text, "Reseeds the global random generator")
  expect.match(text, "qv%.generator%(%[seed%]%)")
  expect.match(text, "g:rand%(%) %-> number")
  expect.match(text, "no such name: no.such.thing")
end)

test("userdata fields cannot be assigned", function()
  local g = qv.generator(1)
  expect.error(function() g.foo = 1 end, "cannot set field 'foo' of qv.Generator")
  expect.eq(g.nothing, nil)
end)

test("dropped userdata are collected without collectgarbage", function()
  local before = collectgarbage("count")
  for i = 1, 200000 do local g = qv.generator(i) end
  expect.truthy(collectgarbage("count") - before < 32 * 1024, "Lua heap stays bounded")
end)

test("a Lua error inside pcall inside a binding-free loop keeps the state usable", function()
  for _ = 1, 1000 do
    local ok = pcall(qv.seed, "bad")
    expect.falsy(ok)
  end
  qv.seed(1)
end)

return {
  ["returned cases run too"] = function() expect.eq(1 + 1, 2) end,
}
