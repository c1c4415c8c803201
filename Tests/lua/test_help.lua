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
