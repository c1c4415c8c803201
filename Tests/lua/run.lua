-- The Lua test runner: qvlua Tests/lua/run.lua [pattern ...]
--
-- Runs every Tests/lua/test_*.lua (or those whose name contains one of the
-- patterns). A test file registers cases with test(name, fn), or returns a
-- table {name = fn, ...}; both see `expect`:
--
--   expect.eq(actual, expected [, msg])      deep equality (tables by content)
--   expect.ne(actual, other [, msg])
--   expect.near(actual, expected [, tol])     numbers, default tol 1e-6 (relative+absolute)
--   expect.truthy(v [, msg]) / expect.falsy(v [, msg])
--   expect.type(v, "number")                  type() or __name of a userdata
--   expect.match(s, pattern)                  string.find with a Lua pattern
--   expect.error(fn, pattern) -> message      fn must raise; message must match pattern (plain text
--                                             first, then as a Lua pattern)
--
-- Each file runs in its own environment (globals it sets do not leak).
-- Prints one line per file, failures with their traceback, and a last line
-- "lua: N passed, M failed"; exits 1 if anything failed.

local dir = (arg and arg[0] or "Tests/lua/run.lua"):match("^(.*)/[^/]*$") or "."

local expect = {}
local helpers = dofile(dir .. "/helpers.lua")

local function fail(msg, level)
  error(msg, (level or 1) + 2)
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if qv and qv.repr then return qv.repr(v) end
  return tostring(v)
end

local function deep_eq(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then
    if type(a) == "number" and type(b) == "number" and a ~= a and b ~= b then return true end -- nan
    return false
  end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do if not deep_eq(v, b[k], seen) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

function expect.eq(actual, expected, msg)
  if not deep_eq(actual, expected) then
    fail((msg and (msg .. ": ") or "") .. "expected " .. show(expected) .. ", got " .. show(actual))
  end
end

function expect.ne(actual, other, msg)
  if deep_eq(actual, other) then
    fail((msg and (msg .. ": ") or "") .. "expected a value different from " .. show(other))
  end
end

function expect.near(actual, expected, tol, msg)
  tol = tol or 1e-6
  if type(actual) ~= "number" then fail("expected a number, got " .. show(actual)) end
  if math.abs(actual - expected) > tol * (1 + math.abs(expected)) then
    fail((msg and (msg .. ": ") or "") .. "expected " .. expected .. " ± " .. tol .. ", got " .. actual)
  end
end

function expect.truthy(v, msg) if not v then fail(msg or ("expected a true value, got " .. show(v))) end end
function expect.falsy(v, msg) if v then fail(msg or ("expected a false value, got " .. show(v))) end end

function expect.type(v, t)
  local actual = type(v)
  local mt = getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__name")) == "string" and actual == "userdata" then
    if rawget(mt, "__name") == t then return end
  end
  if actual ~= t then fail("expected a " .. t .. ", got " .. actual) end
end

function expect.match(s, pattern, msg)
  if type(s) ~= "string" or not s:find(pattern) then
    fail((msg and (msg .. ": ") or "") .. "expected a string matching " .. show(pattern) .. ", got " .. show(s))
  end
end

function expect.error(fn, pattern)
  local ok, err = pcall(fn)
  if ok then fail("expected an error" .. (pattern and (" matching " .. show(pattern)) or "")) end
  local msg = type(err) == "string" and err or tostring(err)
  if pattern and not msg:find(pattern, 1, true) and not msg:find(pattern) then
    fail("expected an error matching " .. show(pattern) .. ", got " .. show(msg))
  end
  return msg
end

-- Discover test files.
local patterns = { ... }
local files = {}
local p = io.popen('ls -1 "' .. dir .. '" 2>/dev/null')
for name in p:lines() do
  if name:match("^test_.*%.lua$") then
    local wanted = #patterns == 0
    for _, pat in ipairs(patterns) do
      if name:find(pat, 1, true) then wanted = true end
    end
    if wanted then files[#files + 1] = name end
  end
end
p:close()
table.sort(files)

local passed, failed = 0, 0
local function traceback_handler(e)
  local msg = type(e) == "string" and e or show(e)
  return debug.traceback(msg, 2)
end

for _, name in ipairs(files) do
  local cases = {}
  local env = setmetatable({}, { __index = _G })
  env.expect = expect
  env.helpers = helpers
  env.test = function(case_name, fn) cases[#cases + 1] = { case_name, fn } end
  env._ENV = env
  local chunk, err = loadfile(dir .. "/" .. name, "t", env)
  local file_passed, file_failed = 0, 0
  local failures = {}
  if not chunk then
    file_failed = 1
    failures[#failures + 1] = "  load error: " .. err
  else
    local ok, ret = xpcall(chunk, traceback_handler)
    if not ok then
      file_failed = 1
      failures[#failures + 1] = "  error while loading: " .. ret
    elseif type(ret) == "table" then
      local names = {}
      for k, v in pairs(ret) do if type(v) == "function" then names[#names + 1] = k end end
      table.sort(names)
      for _, k in ipairs(names) do cases[#cases + 1] = { k, ret[k] } end
    end
    for _, case in ipairs(cases) do
      local ok2, e = xpcall(case[2], traceback_handler)
      if ok2 then
        file_passed = file_passed + 1
      else
        file_failed = file_failed + 1
        failures[#failures + 1] = "  FAIL " .. case[1] .. ": " .. e:gsub("\n", "\n    ")
      end
    end
  end
  print(string.format("%-28s %d passed, %d failed", name, file_passed, file_failed))
  for _, f in ipairs(failures) do print(f) end
  passed, failed = passed + file_passed, failed + file_failed
end

if #files == 0 then
  print("no test files found in " .. dir)
  failed = failed + 1
end
print(string.format("lua: %d passed, %d failed", passed, failed))
io.stdout:flush()
os.exit(failed == 0 and 0 or 1)
