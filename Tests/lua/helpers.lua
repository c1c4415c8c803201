-- Helpers shared by the Lua test files: qvlua processes, scratch
-- directories and tiny training options. run.lua loads this file once and
-- gives every test file the table as `helpers`.

local M = {}

--- The absolute path of the qvlua running these tests (study.interpreter's
--- answer, made absolute), or its bare name when it was found on PATH.
function M.interpreter()
  local exe = require("study").interpreter(arg, qv.root)
  if exe:find("/") and exe:sub(1, 1) ~= "/" then
    local p = io.popen("pwd"); local cwd = p:read("l"); p:close()
    exe = cwd .. "/" .. exe
  end
  return exe
end

--- The largest |a[i] − b[i]| over the entries of list a.
function M.max_diff(a, b)
  local d = 0
  for i = 1, #a do d = math.max(d, math.abs(a[i] - b[i])) end
  return d
end

--- `s` quoted for sh.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- A new scratch directory <tmpname>_<name> (created).
function M.tmpdir(name)
  local dir = os.tmpname()
  os.remove(dir)
  dir = dir .. "_" .. name
  assert(os.execute("mkdir -p " .. M.q(dir)))
  return dir
end

--- Training options for seconds-long runs on MNIST (`data`): 200 images
--- in batches of 50, small chain and estimator counts, 2 epochs, seed 3,
--- quiet; each table in `...` overrides them in turn.
function M.tiny(data, ...)
  local o = {dataset = "mnist", data = data, train_n = 200, batch_size = 50, chains = 50, valid_n = 50,
             eval_n = 10, eval_k = 5, logz_chains = 20, logz_temperatures = 20, epochs = 2, seed = 3, quiet = true}
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do o[k] = v end
  end
  return o
end

return M
