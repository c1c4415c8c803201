-- Helpers shared by the Lua test files that start qvlua processes
-- (test_train.lua, test_dist.lua). run.lua loads this file once and gives
-- every test file the table as `helpers`.

local M = {}

--- The absolute path of the qvlua running these tests (the interpreter is
--- arg's most negative entry), or "qvlua" when it was found on PATH.
function M.interpreter()
  local lo = 0
  while arg and arg[lo - 1] do lo = lo - 1 end
  local exe = arg and arg[lo] or "qvlua"
  if not exe:find("/") then return exe end
  if exe:sub(1, 1) ~= "/" then
    local p = io.popen("pwd"); local cwd = p:read("l"); p:close()
    exe = cwd .. "/" .. exe
  end
  return exe
end

--- `s` quoted for sh.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

return M
