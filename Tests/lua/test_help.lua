-- help(x) documents every function a user can reach: the qv tables (Swift
-- docstrings) and the project's Lua libraries (their `---` doc comments).

local LIBRARIES = {"schedule", "trainer", "study", "vaekit", "runlog", "json", "args", "progress"}

--- Every function reachable from `root` through tables (depth-limited), as
--- {path, function}.
local function functions_in(root, name, depth, out, seen)
  out, seen = out or {}, seen or {}
  if seen[root] or depth < 0 then return out end
  seen[root] = true
  for k, v in pairs(root) do
    if type(k) == "string" and not k:match("^_") then
      local path = name .. "." .. k
      if type(v) == "function" then out[#out + 1] = {path, v}
      elseif type(v) == "table" and getmetatable(v) == nil then functions_in(v, path, depth - 1, out, seen) end
    end
  end
  return out
end

test("every function in qv and in the Lua libraries has help text", function()
  local missing = {}
  local all = functions_in(qv, "qv", 3)
  for _, lib in ipairs(LIBRARIES) do functions_in(require(lib), lib, 2, all) end
  for _, e in ipairs(all) do
    if not qv.doc(e[2]) then missing[#missing + 1] = e[1] end
  end
  table.sort(missing)
  expect.eq(missing, {}, "undocumented")
  expect.truthy(#all > 150, "functions walked: " .. #all)
end)

test("a library function's help is its doc comment; a module's its file's opening comment", function()
  local schedule = require "schedule"
  expect.match(qv.doc(schedule.linear), "^Linear ramp from `from`")
  expect.match(qv.doc(schedule), "^Schedules: values that change with the epoch")
  local old = io.stdout
  local buf = {}
  io.stdout = setmetatable({write = function(_, ...) for i = 1, select("#", ...) do buf[#buf + 1] = select(i, ...) end end},
                           {__index = old})
  local ok, err = pcall(help, schedule.linear)
  io.stdout = old
  expect.truthy(ok, err)
  expect.match(table.concat(buf), "^Linear ramp from `from`")
end)

test("a module's contents name each function, also where its doc starts with a sentence", function()
  local function help_of(x)
    local old, buf = io.stdout, {}
    io.stdout = setmetatable({write = function(_, ...) for i = 1, select("#", ...) do buf[#buf + 1] = select(i, ...) end end},
                             {__index = old})
    local ok, err = pcall(help, x)
    io.stdout = old
    expect.truthy(ok, err)
    return table.concat(buf)
  end
  local text = help_of(require "schedule")
  expect.truthy(text:find("\n  linear — Linear ramp from `from`", 1, true), text)
  expect.truthy(text:find("\n  after — ", 1, true), text)
  expect.truthy(text:find("\n  PAPER_KD (table)", 1, true), text)
  -- signatures are shown as they are
  local bm = help_of(qv.bm)
  expect.truthy(bm:find("\n  qv.bm.new(graph", 1, true), bm)
  expect.falsy(bm:find("new — ", 1, true), bm)
  local g = help_of(qv.generator(1))
  expect.truthy(g:find("\n  g:rand() -> number", 1, true), g)
end)

test("the methods of the objects the Lua libraries return have help text", function()
  local tmp = os.tmpname()
  local objects = {
    schedule = require("schedule").linear{from = 0, to = 1, over = 10},
    runlog = require("runlog").open(tmp .. ".csv", {fields = {"epoch"}}),
    progress = require("progress").new{total = 3, out = {write = function() end, flush = function() end}},
    parser = require("args").parser{name = "x"},
    run = require("trainer").new{train_n = 100, batch_size = 50, chains = 20, valid_n = 20, eval_n = 5,
                                 quiet = true, out = tmp .. "_run"},
  }
  local missing, count = {}, 0
  for label, obj in pairs(objects) do
    local mt = getmetatable(obj)
    local methods = type(mt) == "table" and type(mt.__index) == "table" and mt.__index or {}
    for name, f in pairs(methods) do
      if type(name) == "string" and not name:match("^__") and type(f) == "function" then
        count = count + 1
        if not qv.doc(f) then missing[#missing + 1] = label .. ":" .. name end
      end
    end
  end
  objects.runlog:close()
  objects.run:close()
  os.remove(tmp .. ".csv")
  os.execute("rm -rf '" .. tmp .. "_run'")
  table.sort(missing)
  expect.eq(missing, {}, "undocumented methods")
  expect.truthy(count > 15, "methods walked: " .. count)
end)
