/// The Lua half of the bridge, run once in every state: the pretty printer
/// (`qv.repr`, `qv.pp`), `help` and `qv.doc`, and the REPL's helpers
/// (auto-print, completion, the `local` rewrite). It receives the docstring
/// table and returns its internal table, which Swift keeps in the registry.
enum Prelude {
    static let source = #"""
local docs = ...
local M = {}
local rawget, rawset, rawlen, next, type, tostring, pcall, select =
      rawget, rawset, rawlen, next, type, tostring, pcall, select
local getmetatable, sort, concat = getmetatable, table.sort, table.concat

local qv = rawget(_G, "qv")
if type(qv) ~= "table" then
  qv = {}
  rawset(_G, "qv", qv)
end
package.loaded.qv = qv

local keywords = {}
for w in ("and break do else elseif end false for function goto if in local nil not or " ..
          "repeat return then true until while"):gmatch("%a+") do keywords[w] = true end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not keywords[s]
end

-- Used by LuaClass: methods first, then the Swift getter.
function M.make_index(methods, getter)
  return function(self, key)
    local m = rawget(methods, key)
    if m ~= nil then return m end
    return getter(self, key)
  end
end

------------------------------------------------------------------ repr
local escapes = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\%03d", c:byte())
  end) .. '"'
end

local rank = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  local ra, rb = rank[ta] or 4, rank[tb] or 4
  if ra ~= rb then return ra < rb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "<" .. type(v) .. ">"
end

--- qv.repr(value [, {depth=3, items=40, width=80}]) -> string
function M.repr(value, opts)
  opts = opts or {}
  local maxdepth = opts.depth or 3
  local maxitems = opts.items or 40
  local width = opts.width or 80
  local onpath = {}
  local function r(v, depth, indent)
    local t = type(v)
    if t == "string" then return quote(v) end
    if t == "userdata" and depth > 0 then
      -- Inside a table, objects with a one-line summary (tensors) use it.
      local umt = getmetatable(v)
      local summary = type(umt) == "table" and rawget(umt, "__summary")
      if summary then
        local ok, s = pcall(summary, v)
        if ok and type(s) == "string" then return s end
      end
    end
    if t ~= "table" then return safe_tostring(v) end
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then return safe_tostring(v) end
    if onpath[v] then return "<cycle>" end
    local n = rawlen(v)
    local keys = {}
    for k in next, v do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    local total = n + #keys
    if total == 0 then return "{}" end
    if depth >= maxdepth then return "{...}" end
    onpath[v] = true
    sort(keys, key_less)
    local parts, shown = {}, 0
    for i = 1, n do
      if shown >= maxitems then break end
      shown = shown + 1
      parts[#parts + 1] = r(rawget(v, i), depth + 1, indent .. "  ")
    end
    for _, k in ipairs(keys) do
      if shown >= maxitems then break end
      shown = shown + 1
      local ks = is_identifier(k) and k or ("[" .. (type(k) == "string" and quote(k) or safe_tostring(k)) .. "]")
      parts[#parts + 1] = ks .. " = " .. r(rawget(v, k), depth + 1, indent .. "  ")
    end
    if total > shown then parts[#parts + 1] = "... (" .. (total - shown) .. " more)" end
    onpath[v] = nil
    local one = "{" .. concat(parts, ", ") .. "}"
    if #one + #indent <= width and not one:find("\n", 1, true) then return one end
    local pad = indent .. "  "
    return "{\n" .. pad .. concat(parts, ",\n" .. pad) .. "\n" .. indent .. "}"
  end
  return r(value, 0, "")
end
qv.repr = M.repr

--- qv.pp(...) prints its arguments with qv.repr.
function qv.pp(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = M.repr((select(i, ...))) end
  io.stdout:write(concat(parts, "\t"), "\n")
end

------------------------------------------------------------------ docs and help
-- Lua code documents itself with `---` comments: the block just above a
-- function's definition is its help text, and the block that opens a
-- module's file is the module's (read from the file on first use).
local source_lines = {}
local function file_lines(path)
  local c = source_lines[path]
  if c ~= nil then return c end
  local f = io.open(path, "r")
  if not f then source_lines[path] = false; return false end
  local t = {}
  for l in f:lines() do
    t[#t + 1] = l
    if #t >= 100000 then break end
  end
  f:close()
  source_lines[path] = t
  return t
end

local function comment_block(lines, first, step)
  local out = {}
  local i = first
  while lines[i] do
    local c = lines[i]:match("^%s*%-%-%- ?(.*)$")
    if not c then break end
    if step < 0 then table.insert(out, 1, c) else out[#out + 1] = c end
    i = i + step
  end
  if #out == 0 then return nil end
  return concat(out, "\n")
end

local function source_doc(f)
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" or info.source:sub(1, 1) ~= "@" or info.linedefined < 2 then return nil end
  local lines = file_lines(info.source:sub(2))
  return lines and comment_block(lines, info.linedefined - 1, -1) or nil
end

local function module_doc(t)
  for name, v in next, package.loaded do
    if v == t and type(name) == "string" then
      local path = package.searchpath(name, package.path)
      local lines = path and file_lines(path)
      if lines then return comment_block(lines, 1, 1) end
    end
  end
  return nil
end

--- The documentation of a value: its docstring, else its doc comment.
local function doc_of(v)
  local d = docs[v]
  if d then return d end
  local t = type(v)
  if t == "function" then d = source_doc(v) elseif t == "table" then d = module_doc(v) end
  return d
end

--- qv.doc(value, text) attaches a docstring (shown by help) and returns value.
function qv.doc(value, text)
  if text == nil then return doc_of(value) end
  docs[value] = text
  return value
end

local function first_line(s) return (s:match("^[^\n]*")) end

-- Looks up a dotted/colon path ("qv.zeros", "string.format", "t:sum") without
-- calling __index functions of tables; userdata fields go through pcall.
local function lookup(path)
  local first, rest = path:match("^([%a_][%w_]*)(.*)$")
  if not first then return nil, false end
  local v = rawget(_G, first)
  if v == nil then
    local ok, g = pcall(function() return _G[first] end)
    if ok then v = g end
  end
  for sep, name in rest:gmatch("([%.:])([%a_][%w_]*)") do
    if v == nil then return nil, false end
    local tv = type(v)
    local nv
    if tv == "table" then
      nv = rawget(v, name)
      local mt = getmetatable(v)
      local depth = 0
      while nv == nil and type(mt) == "table" and type(rawget(mt, "__index")) == "table" and depth < 8 do
        local idx = rawget(mt, "__index")
        nv = rawget(idx, name)
        mt = getmetatable(idx)
        depth = depth + 1
      end
    elseif tv == "userdata" or tv == "string" then
      local ok, x = pcall(function() return v[name] end)
      if ok then nv = x end
    end
    v = nv
  end
  if rest ~= "" and not rest:match("^[%.:%w_]*$") then return nil, false end
  return v, v ~= nil
end
M.lookup = lookup

-- Whether a doc's first line names `name` itself: a signature such as
-- "qv.bm.new(graph)" or "t:sum([dim])", or a title "qv.Tensor — ...".
-- (A Lua library's doc comment starts with a sentence instead.)
local function names_itself(line, name)
  local head = line:match("^[%w_%.:]+") or ""
  return head == name or head:sub(-#name - 1) == "." .. name or head:sub(-#name - 1) == ":" .. name
    or line:find("%f[%w_]" .. name .. "%f[^%w_]%s*[%(%{]") ~= nil
end

local function describe_member(name, v)
  local d = doc_of(v)
  local t = type(v)
  if d then
    local line = first_line(d)
    return names_itself(line, name) and line or (name .. " — " .. line)
  end
  if t == "function" then return name .. "(...)" end
  if t == "table" then return name .. " (table)" end
  return name .. " = " .. M.repr(v, { depth = 1, width = 60 })
end

local function list_members(t, title, out)
  local names = {}
  for k in next, t do if type(k) == "string" then names[#names + 1] = k end end
  sort(names)
  if #names == 0 then return end
  out[#out + 1] = title
  for _, k in ipairs(names) do
    out[#out + 1] = "  " .. describe_member(k, rawget(t, k))
  end
end

local general_help = [[
qvlua — Lua 5.4 with the qv engine.
  help(x), ?x        documentation of a function, module, class or object (?qv.seed)
  help(qv)           everything in the qv module
  qv.pp(x)           pretty-print; qv.repr(x) returns the string
  _                  the last result printed at the prompt
  expr;              a trailing ';' silences the auto-print
  local x = 1        at the start of a prompt line this sets a global (so x survives)
  Tab                completes globals, fields and methods (qv.<Tab>, t:<Tab>)
  Ctrl-C             interrupts a running chunk, or clears the line
  Ctrl-D             exits (on an empty line)
See REPL.md for everything.]]

--- The text help(x) prints (the Jupyter kernel's inspect_request uses it too).
local function help_text(...)
  local out = {}
  if select("#", ...) == 0 then return general_help end
  local x = ...
  local label
  if type(x) == "string" and x:match("^[%a_][%w_%.:]*$") then
    local v, found = lookup(x)
    if found then label = x; x = v end
  end
  local t = type(x)
  local d = doc_of(x)
  local mt = getmetatable(x)
  if t == "userdata" and type(mt) == "table" and rawget(mt, "__qvclass") then
    local methods = rawget(mt, "__methods")
    out[#out + 1] = (label and (label .. ": ") or "") .. safe_tostring(x)
    local cdoc = doc_of(methods) or doc_of(mt)
    if cdoc then out[#out + 1] = cdoc end
    if type(methods) == "table" then list_members(methods, "Methods:", out) end
    local props = rawget(mt, "__properties")
    if type(props) == "table" and next(props) then
      out[#out + 1] = "Fields:"
      local names = {}
      for k in next, props do names[#names + 1] = k end
      sort(names)
      for _, k in ipairs(names) do
        local pd = props[k]
        out[#out + 1] = "  " .. k .. ((pd ~= "" and (" — " .. first_line(pd))) or "")
      end
    end
  elseif d then
    if label then out[#out + 1] = label end
    out[#out + 1] = d
    if t == "table" then list_members(x, "Contents:", out) end
  elseif t == "function" then
    local info = debug.getinfo(x, "S")
    if info.what == "C" then
      out[#out + 1] = (label or "function") .. ": no documentation (a built-in function)"
    else
      out[#out + 1] = (label or "function") .. ": no documentation (defined at " ..
        info.short_src .. ":" .. info.linedefined .. ")"
    end
  elseif t == "table" then
    out[#out + 1] = (label and (label .. ": ") or "") .. "table"
    list_members(x, "Contents:", out)
  elseif label == nil and type(...) == "string" then
    out[#out + 1] = "no such name: " .. (...)
  else
    out[#out + 1] = (label and (label .. " = ") or "") .. M.repr(x) .. " (" .. t .. ")"
  end
  return concat(out, "\n")
end
M.help_text = help_text

--- help([x]): documentation of x (a value or a name such as "qv.seed").
function help(...)
  io.stdout:write(help_text(...), "\n")
end

------------------------------------------------------------------ REPL helpers
--- Called by the REPL with a chunk's results: sets _ and prints them.
function M.show(silent, n, ...)
  local text = M.show_text(silent, n, ...)
  if text then
    io.stdout:write(text, "\n")
    io.stdout:flush()
  end
end

--- The same, returning the text instead of printing it (nil when silent
--- or there are no results): a Jupyter cell's execute_result.
function M.show_text(silent, n, ...)
  if n > 0 then rawset(_G, "_", (...)) end
  if silent or n == 0 then return nil end
  local parts = {}
  for i = 1, n do parts[i] = M.repr((select(i, ...))) end
  return concat(parts, "\t")
end

--- "local x, y = e" at the start of a chunk -> "x, y = e" (so values
--- survive between prompt lines); "local function f" -> "function f".
--- Returns nil when the chunk does not start with such a local.
function M.rewrite_local(code)
  local lead, rest = code:match("^(%s*)local%s+(.*)$")
  if not lead then return nil end
  if rest:match("^function[%s(]") then return lead .. rest end
  local names, pos = {}, 1
  while true do
    local name, p = rest:match("^([%a_][%w_]*)%s*()", pos)
    if not name or keywords[name] then return nil end
    names[#names + 1] = name
    pos = p
    local c = rest:match("^,%s*()", pos)
    if not c then break end
    pos = c
  end
  local after = rest:sub(pos)
  if after:match("^<") then return nil end
  local list = concat(names, ", ")
  if after:match("^=") and not after:match("^==") then return lead .. list .. " " .. after end
  return lead .. list .. " = nil " .. after
end

-- Collects completion names of a value: its own string keys, then those
-- of __index tables and of the bridge's __methods/__properties.
local function collect(obj, names, methods_only)
  local visited = {}
  local function walk(t, depth)
    if t == nil or depth > 8 or visited[t] then return end
    visited[t] = true
    if type(t) == "table" then
      for k, v in next, t do
        if is_identifier(k) and (not methods_only or type(v) == "function") then names[k] = true end
      end
    end
    local mt = getmetatable(t)
    if type(mt) == "table" then
      local idx = rawget(mt, "__index")
      if type(idx) == "table" then walk(idx, depth + 1) end
      local methods = rawget(mt, "__methods")
      if type(methods) == "table" then walk(methods, depth + 1) end
      local props = rawget(mt, "__properties")
      if not methods_only and type(props) == "table" then
        for k in next, props do names[k] = true end
      end
    end
  end
  walk(obj, 0)
end

--- Completion candidates for the word before the cursor ("qv.se", "t:s", "pri").
function M.complete(text)
  local out, seen = {}, {}
  local function add(s) if not seen[s] then seen[s] = true; out[#out + 1] = s end end
  local prefix, sep, partial = text:match("^(.*)([%.:])([%w_]*)$")
  if not prefix then
    if not text:match("^[%w_]*$") then return out end
    local names = {}
    collect(_G, names, false)
    for k in next, names do if k:sub(1, #text) == text then add(k) end end
    for k in next, keywords do if k:sub(1, #text) == text then add(k) end end
  else
    if not prefix:match("^[%a_][%w_%.]*$") then return out end
    local obj, found = lookup(prefix)
    if not found then return out end
    local names = {}
    collect(obj, names, sep == ":")
    for k in next, names do
      if k:sub(1, #partial) == partial then add(prefix .. sep .. k) end
    end
  end
  sort(out)
  return out
end

qv.doc(qv.repr, [[
qv.repr(value [, opts]) -> string
Pretty representation: tables with sorted keys, nested to opts.depth (3),
at most opts.items (40) entries each, one line when it fits opts.width (80),
"<cycle>" for cycles; userdata and tables with __tostring via tostring.]])
qv.doc(qv.pp, [[
qv.pp(...)
Prints each argument with qv.repr, tab-separated.]])
qv.doc(qv.doc, [[
qv.doc(value, text) -> value
Attaches a docstring to a function or table (shown by help); qv.doc(value) returns it, or
the `---` doc comment above a Lua function's definition (a module: its file's opening comment).]])
qv.doc(help, [[
help([x])
Documentation of x: a function, module, class, object or a name such as "qv.seed".
At the prompt, ?x is the same as help(x). help() gives an overview.]])

return M
"""#
}
