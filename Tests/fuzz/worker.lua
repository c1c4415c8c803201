-- One fuzz child (started by fuzz.lua through run.sh, in its own directory):
--
--   qvlua worker.lua discover SIG LOG SKIP          infer a call template per target -> SIG
--   qvlua worker.lua calls SIG LOG SKIP SEED BATCH N FROM   N seeded calls, executing those after FROM
--   qvlua worker.lua files LOG SKIP SEED BATCH N FROM FIXTURES   N mutated files fed to the readers
--   qvlua worker.lua one FILE                        run one reproducer (a file of Lua source)
--
-- Before each call it appends "C <index>\t<key>\t<source>" to LOG and
-- flushes, so when the process dies the parent knows the last call; at the
-- end it appends "END calls ok errors". Keys listed in SKIP (known crashes)
-- are generated but not executed. Generation depends only on SEED and
-- BATCH, never on what calls return, so FROM resumes a batch exactly.

local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local C = require "catalog"

local mode = arg[1]
-- FUZZ_PROFILE=file: seconds per call, for finding what makes a batch slow
local profile = os.getenv("FUZZ_PROFILE") and io.open(os.getenv("FUZZ_PROFILE"), "w")

local function readall(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end

local function load_skip(path)
  local skip = {}
  local f = path and io.open(path, "r")
  if f then for line in f:lines() do if line ~= "" then skip[line] = true end end f:close() end
  return skip
end

-- The environment calls run in: globals plus O (lazy instances).
local env = setmetatable({}, {__index = _G})
env.O = C.make_O(env)

local log
local function open_log(path) log = assert(io.open(path, "a")); log:setvbuf("full") end
local function note(line) log:write(line, "\n"); log:flush() end

local compiled = setmetatable({}, {__mode = "k"})
local function run(src)
  local f, err = load(src, "=call", "t", env)
  if not f then return false, "syntax: " .. err end
  local ok, e = pcall(f)
  if not ok and type(e) == "string" and e:find("interrupted", 1, true) then
    note("SLOW")             -- the watchdog's SIGINT: this call was too slow, but honoured Ctrl-C
    log:close(); os.exit(3)
  end
  return ok, e
end

-- fuzz.lua's --time ran out: it creates STOP in its output directory
-- (workers run in OUT/work/<batch>)
local function stopped()
  local f = io.open("../../STOP", "r")
  if f then f:close() return true end
  return false
end

-- The watchdog's Ctrl-C may land between calls (the slow call just ended):
-- that too is "slow", not a failure of the worker.
local function guard(loop)
  local ok, e = pcall(loop)
  if not ok then
    if tostring(e):find("interrupted", 1, true) then note("SLOW"); log:close(); os.exit(3) end
    error(e, 0)
  end
end

---------------------------------------------------------------------------
-- targets: every function of qv, every method/property/metamethod of every
-- instance kind

local function class_of(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end

local function targets()
  local out = {}
  local seen = {}
  local function walk(t, path)
    if seen[t] then return end
    seen[t] = true
    local keys = {}
    for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v, p = rawget(t, k), path .. "." .. k
      if type(v) == "function" then
        -- qv.dist.abort ends the process by design (MPI_Abort, or exit without MPI)
        if p ~= "qv.dist.abort" then out[#out + 1] = {id = p, call = p, kind = "function"} end
      elseif type(v) == "table" and p ~= "qv.data.classes" then walk(v, p) end
    end
  end
  walk(qv, "qv")
  -- methods, properties, metamethods per instance
  local rep = {}       -- class name -> first instance (templates are per class)
  for _, e in ipairs(C.instances) do
    local name = e[1]
    if log then note("I " .. name) end          -- heartbeat while building
    local ok, obj = pcall(function() return env.O[name] end)
    if not ok then error("cannot build instance " .. name .. ": " .. tostring(obj)) end
    local cls = class_of(obj) or name
    local mt = getmetatable(obj)
    local methods = rawget(mt, "__methods") or {}
    local mkeys = {}
    for k in pairs(methods) do mkeys[#mkeys + 1] = k end
    table.sort(mkeys)
    for _, m in ipairs(mkeys) do
      out[#out + 1] = {id = cls .. ":" .. m, call = "O." .. name .. ":" .. m, kind = "method", class = cls, inst = name}
    end
    local props = rawget(mt, "__properties") or {}
    local pkeys = {}
    for k in pairs(props) do pkeys[#pkeys + 1] = k end
    table.sort(pkeys)
    for _, p in ipairs(pkeys) do
      out[#out + 1] = {id = cls .. "." .. p .. "=", call = "O." .. name .. "." .. p, kind = "set", inst = name}
    end
    out[#out + 1] = {id = cls .. "#meta", call = "O." .. name, kind = "meta", inst = name}
  end
  return out
end

---------------------------------------------------------------------------
-- discovery: grow an argument list from the bridge's own error messages

local function parse_error(msg)
  msg = tostring(msg)
  local i, detail = msg:match("bad argument #(%d+) to '[^']*' %((.*)%)")
  if i then return tonumber(i), detail end
  return nil, msg
end

local function sample_for(detail)
  local exp = detail:match("expected (.-), got") or detail:match("expected (.*)$")
  if not exp then return nil end
  local choice = exp:match("^one of '([^']*)'")
  if choice then return C.quote(choice) end
  if C.sample_for[exp] then return C.sample_for[exp] end
  for k, v in pairs(C.sample_for) do if exp:find(k, 1, true) == 1 then return v end end
  if exp:find("table") then return "{}" end
  if exp:find("qv%.") then return "O.tensor" end
  return nil
end

local function call_src(t, args)
  if t.kind == "set" then return t.call .. " = " .. (args[1] or "nil") end
  return t.call .. "(" .. table.concat(args, ", ") .. ")"
end

local function discover(t, skip)
  local tpl = {args = {}, opts = {}}
  if t.kind == "meta" then return tpl end
  if t.kind == "set" then
    local ok, v = run("return " .. t.call)
    tpl.args[1] = "O." .. t.inst .. "." .. t.call:match("%.([%w_]+)$")
    return tpl
  end
  local args = tpl.args
  for _ = 1, 10 do
    local src = call_src(t, args)
    if skip[t.id .. " probe " .. src] then break end
    note("C 0\t" .. t.id .. " probe " .. src .. "\t" .. src)
    local ok, err = run(src)
    if ok then break end
    local i, detail = parse_error(err)
    if i then
      local s = sample_for(detail)
      local field = detail:match("([%w_]+) is required")
      if field and args[i] and args[i]:sub(1, 1) == "{" then
        args[i] = "{" .. field .. " = " .. (C.field_for[field] or "2") .. (args[i] == "{}" and "}" or ", " .. args[i]:sub(2))
      elseif s and args[i] ~= s then
        for k = #args + 1, i - 1 do args[k] = "nil" end
        args[i] = s
      else break end
    else
      local field = tostring(err):match("([%w_]+) is required")
      if field and args[1] and args[1]:sub(1, 1) == "{" and not args[1]:find(field .. " =", 1, true) then
        args[1] = "{" .. field .. " = " .. (C.field_for[field] or "2") .. (args[1] == "{}" and "}" or ", " .. args[1]:sub(2))
      else break end
    end
  end
  -- options: an unknown key makes the bridge list the known ones
  for j = 1, math.min(#args + 1, 5) do
    local a = {}
    for k = 1, math.max(#args, j) do a[k] = args[k] or "nil" end
    a[j] = "{zz_fuzz = 1}"
    local src = call_src(t, a)
    if not skip[t.id .. " probe " .. src] then
      note("C 0\t" .. t.id .. " probe " .. src .. "\t" .. src)
      local ok, err = run(src)
      local known = not ok and tostring(err):match("unknown option 'zz_fuzz' to '[^']*' %(.-known options: (.-)%)")
      if known then
        local keys = {}
        for k in known:gmatch("[%w_]+") do keys[#keys + 1] = k end
        if #keys > 0 then tpl.opts[j] = keys end
      end
    end
  end
  return tpl
end

---------------------------------------------------------------------------
-- generation: one argument, option or operand replaced by a bad value

local META = {
  "local _ = O.X + V", "local _ = V + O.X", "local _ = O.X - V", "local _ = O.X * V", "local _ = V / O.X",
  "local _ = -O.X", "local _ = #O.X", "local _ = O.X == V", "local _ = O.X < V", "local _ = V <= O.X",
  "local _ = O.X .. V", "local _ = O.X[V]", "O.X[V] = 1", "O.X[1] = V", "O.X[1][1] = V", "local _ = O.X(V)",
  "local _ = tostring(O.X)", "getmetatable(O.X).__gc(V)", "getmetatable(O.X).__index(V, 'x')",
  "getmetatable(O.X).__newindex(V, 'x', 1)", "getmetatable(O.X).__tostring(V)", "getmetatable(O.X).__len(V)",
  "getmetatable(O.X).__call(V)", "getmetatable(O.X).__add(V, V)", "getmetatable(O.X).__index(O.X, V)",
  "getmetatable(O.X).__newindex(O.X, V, V)", "getmetatable(O.X).__concat(V, O.X)", "getmetatable(O.X).__unm(V)",
  "local _ = O.X:size(V)", "local _ = O.X:W(V)",
}

local function with_option(tsrc, key, v)
  if tsrc and tsrc:sub(1, 1) == "{" then
    return "{" .. key .. " = " .. v .. (tsrc == "{}" and "}" or ", " .. tsrc:sub(2))
  end
  return "{" .. key .. " = " .. v .. "}"
end

-- A key is "<site> <mutation>": the site is the target on its receiver
-- (qv.Tensor:split@tensor_0d, qv.zeros); fuzz.lua skips a whole site once it
-- crashed repeatedly, and single keys once they crashed.
local function generate(targets_list, sig, values, rnd)
  local t = targets_list[rnd(#targets_list)]
  local tpl = sig[t.id] or {args = {}, opts = {}}
  local v = values[rnd(#values)]
  local site = t.inst and (t.id .. "@" .. t.inst) or t.id
  if t.kind == "meta" then
    local m = META[rnd(#META)]
    if m:find("__gc", 1, true) and v:find("O.", 1, true) then v = "io.stdout" end
    local src = m:gsub("O%.X", "O." .. t.inst):gsub("W", "contiguous"):gsub("V", function() return v end)
    return site .. " " .. m .. " V=" .. v, src
  end
  if t.kind == "set" then
    return site .. " V=" .. v, t.call .. " = " .. v
  end
  local args = {}
  for k, a in ipairs(tpl.args) do args[k] = a end
  local r = rnd(100)
  local key
  local opt_positions = {}
  for j in pairs(tpl.opts) do opt_positions[#opt_positions + 1] = j end
  table.sort(opt_positions)
  if r <= 5 then
    key = site .. " template"
  elseif r <= 45 and #opt_positions > 0 then
    local j = opt_positions[rnd(#opt_positions)]
    local keys = tpl.opts[j]
    local k = keys[rnd(#keys)]
    for q = #args + 1, j - 1 do args[q] = "nil" end
    args[j] = with_option(args[j], k, v)
    key = site .. " opt#" .. j .. "." .. k .. "=" .. v
  else
    local i = rnd(#args + 2)
    for q = #args + 1, i - 1 do args[q] = "nil" end
    args[i] = v
    key = site .. " arg#" .. i .. "=" .. v
    if rnd(10) == 1 then  -- now and then a second argument too
      local i2 = rnd(#args + 1)
      local v2 = values[rnd(#values)]
      for q = #args + 1, i2 - 1 do args[q] = "nil" end
      args[i2] = v2
      key = key .. " arg#" .. i2 .. "=" .. v2
    end
  end
  return key, call_src(t, args)
end

---------------------------------------------------------------------------
-- files: mutated safetensors, IDX (raw and gzip), edge lists, checkpoints

local function mutate(s, rnd)
  local n = #s
  local function put(p, rep) return s:sub(1, p - 1) .. rep .. s:sub(p + #rep) end
  local how = rnd(8)
  local desc
  if how == 1 then                                -- bit flips
    local k = rnd(4)
    for _ = 1, k do
      local p = rnd(math.max(1, #s))
      if p <= #s then s = put(p, string.char(s:byte(p) ~ (1 << (rnd(8) - 1)))) end
    end
    desc = k .. " bit flips"
  elseif how == 2 then                            -- truncation
    local k = rnd(n + 1) - 1
    s = s:sub(1, k)
    desc = "truncated to " .. k
  elseif how == 3 then                            -- a lying little-endian length field (safetensors header)
    local v = ({0, 1, 7, 0x7fffffff, 0xffffffff, 1 << 40, 1 << 53, math.maxinteger, -1})[rnd(9)]
    local p = rnd(math.max(1, n - 8))
    if rnd(2) == 1 then p = 1 end                 -- most often the header length itself
    s = put(p, string.pack("<i8", v)):sub(1, math.max(n, p + 7))
    desc = "i64le " .. v .. " at " .. p
  elseif how == 4 then                            -- a lying big-endian count (IDX dims)
    local v = ({0, 1, 255, 0x7fffffff, 0xffffffff, 60000, 65536})[rnd(7)]
    local p = ({5, 9, 13, rnd(math.max(1, n - 4))})[rnd(4)]
    s = put(p, string.pack(">I4", v)):sub(1, math.max(n, p + 3))
    desc = "u32be " .. v .. " at " .. p
  elseif how == 5 then                            -- random bytes
    local k = rnd(16)
    for _ = 1, k do local p = rnd(math.max(1, #s)); s = put(p, string.char(rnd(256) - 1)) end
    desc = k .. " random bytes"
  elseif how == 6 then                            -- numbers in text (JSON header, edge lists, options)
    local repl = ({"99999999999999999999", "-1", "2147483648", "1e309", "nan", "0", "-0", "4294967296", "9007199254740993"})[rnd(9)]
    local head = s:sub(1, 65536)
    head = head:gsub("%d+", function(d) if rnd(4) == 1 then return repl end end)
    s = head .. s:sub(65537)
    desc = "numbers -> " .. repl
  elseif how == 7 then                            -- duplicated region (repeated records, nested JSON)
    local p, k = rnd(math.max(1, n)), rnd(64)
    s = s:sub(1, p + k) .. s:sub(p, p + k) .. s:sub(p + k + 1)
    desc = "duplicated " .. k .. " at " .. p
  else                                            -- extension by junk
    local k = rnd(256)
    local junk = {}
    for q = 1, k do junk[q] = string.char(rnd(256) - 1) end
    s = s .. table.concat(junk)
    desc = "appended " .. k
  end
  return s, desc
end

local function writefile(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end

-- The readers, each given a path (or a directory) holding the mutated file.
local function file_kinds(fixtures)
  local kit_ok, kit = pcall(require, "vaekit")
  return {
    {"safetensors", fixtures .. "/tensors.safetensors", "m.safetensors", "qv.load(P)"},
    {"idx", fixtures .. "/idx/train-images-idx3-ubyte", "idx/train-images-idx3-ubyte", "qv.data.load('mnist', {dir = 'idx'})"},
    {"idx.gz", fixtures .. "/idx/train-images-idx3-ubyte.gz", "idxgz/train-images-idx3-ubyte.gz", "qv.data.load('mnist', {dir = 'idxgz'})"},
    {"edgelist", fixtures .. "/graph.txt", "g.txt", "qv.graph.load(P)"},
    {"checkpoint", fixtures .. "/checkpoint.safetensors", "ck.safetensors", "require('vaekit').load_checkpoint(P)"},
    {"checkpoint+restore", fixtures .. "/checkpoint.safetensors", "ckr.safetensors", "require('vaekit').restore(P)"},
    {"nodelink", fixtures .. "/graph.json", "g.json", "qv.graph.load(P)"},
  }
end

---------------------------------------------------------------------------

if mode == "one" then
  local src = readall(arg[2])
  local ok, e = pcall(load(src, "=repro", "t", _ENV))
  print(ok and "ok" or ("error: " .. tostring(e)))
  os.exit(0)
end

if mode == "discover" then
  local sigpath, logpath, skippath = arg[2], arg[3], arg[4]
  local skip = load_skip(skippath)
  open_log(logpath)
  local out = assert(io.open(sigpath .. ".part", "w"))
  out:write("return {\n")
  local done = {}
  local all = targets()
  out:write("[\"(targets)\"] = ", C.serialize(all), ",\n")  -- so call workers need not build every object
  for _, t in ipairs(all) do               -- one template per function, method or property
    if not done[t.id] then
      done[t.id] = true
      local tpl = discover(t, skip)
      out:write("[", C.quote(t.id), "] = ", C.serialize(tpl), ",\n")
      out:flush()
    end
  end
  out:write("}\n")
  out:close()
  os.rename(sigpath .. ".part", sigpath)
  note("END 0 0 0")
  log:close()
  os.exit(0)
end

if mode == "calls" then
  local sigpath, logpath, skippath = arg[2], arg[3], arg[4]
  local seed, batch, n, from = tonumber(arg[5]), tonumber(arg[6]), tonumber(arg[7]), tonumber(arg[8]) or 0
  local sig = dofile(sigpath)
  local skip = load_skip(skippath)
  open_log(logpath)
  math.randomseed(seed, batch)
  local rnd = math.random
  local ts = sig["(targets)"]
  local values = C.values()
  local calls, oks, errs = 0, 0, 0
  guard(function()
  for i = 1, n do
    if i % 200 == 0 and stopped() then break end
    local key, src = generate(ts, sig, values, rnd)
    local site = key:match("^%S+")
    if i > from and not skip[key] and not skip[site] and not skip[(site:gsub("@.*$", "@*"))] then
      note("C " .. i .. "\t" .. key .. "\t" .. src)
      local t0 = profile and qv.clock()
      local ok = run(src)
      if profile then profile:write(string.format("%.6f\t%s\n", qv.clock() - t0, key)) end
      calls = calls + 1
      if ok then oks = oks + 1 else errs = errs + 1 end
    end
  end
  end)
  note(string.format("END %d %d %d", calls, oks, errs))
  log:close()
  os.exit(0)
end

if mode == "find" then      -- worker.lua find SIG SEED BATCH N TEXT: indices of calls whose key contains TEXT
  local sig = dofile(arg[2])
  local seed, batch, n, text = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), arg[6]
  math.randomseed(seed, batch)
  local ts, values = sig["(targets)"], C.values()
  for i = 1, n do
    local key, src = generate(ts, sig, values, math.random)
    if key:find(text, 1, true) then print(i, key) end
  end
  os.exit(0)
end

if mode == "files" then
  local logpath, skippath = arg[2], arg[3]
  local seed, batch, n, from, fixtures = tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6]), tonumber(arg[7]) or 0, arg[8]
  local skip = load_skip(skippath)
  open_log(logpath)
  math.randomseed(seed, batch)
  local rnd = math.random
  local kinds = file_kinds(fixtures)
  local base = {}
  for _, k in ipairs(kinds) do base[k[1]] = readall(k[2]) end
  os.execute("mkdir -p idx idxgz")
  for _, d in ipairs{"idx", "idxgz"} do       -- the other three files, intact
    for _, f in ipairs{"train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} do
      local ext = d == "idxgz" and ".gz" or ""
      writefile(d .. "/" .. f .. ext, readall(fixtures .. "/idx/" .. f .. ext))
    end
  end
  local calls, oks, errs = 0, 0, 0
  guard(function()
  for i = 1, n do
    if i % 100 == 0 and stopped() then break end
    local k = kinds[rnd(#kinds)]
    if k[1] == "checkpoint+restore" and rnd(10) > 1 then k = kinds[5] end  -- restore builds a model: rarer (kinds[5]: checkpoint)
    local bytes, desc = mutate(base[k[1]], rnd)
    if rnd(4) == 1 then bytes, desc = mutate(bytes, rnd) end  -- now and then twice
    local key = k[1] .. " " .. desc
    if i > from and not skip[key] then       -- (file kinds are never skipped whole)
      writefile(k[3], bytes)
      local src = k[4]:gsub("P", C.quote(k[3]))
      note("C " .. i .. "\t" .. key .. "\t" .. src .. "\t" .. k[3])
      local ok = run(src)
      calls = calls + 1
      if ok then oks = oks + 1 else errs = errs + 1 end
    end
  end
  end)
  note(string.format("END %d %d %d", calls, oks, errs))
  log:close()
  os.exit(0)
end

io.stderr:write("usage: see the header of Tests/fuzz/worker.lua\n")
os.exit(2)
