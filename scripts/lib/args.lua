--- Command-line options for qvlua scripts, declared once and checked
--- strictly: unknown flags, missing values and bad values are errors that
--- name the option; `--help` lists every option with its default.
---
---   local args = require "args"
---   local p = args.parser{name = "train.lua", about = "Train a discrete VAE."}
---   p:option{"epochs", type = "int", default = 20, help = "training epochs"}
---   p:option{"prior", choices = {"bernoulli", "chimera"}, default = "chimera"}
---   p:flag{"resume", help = "continue from the last checkpoint"}
---   local opts = p:parse_or_exit(arg)     -- opts.epochs, opts.prior, opts.resume
---
--- Names use dashes on the command line (--batch-size) and underscores in
--- the result (opts.batch_size). `--name=value` and `--name value` both work.
--- A parser with `config = true` accepts `--config FILE.lua`: a Lua chunk
--- returning a table of the same options, which the command line overrides.
--- The chunk sees the whole environment (it may `require "schedule"`);
--- options declared `scheduled = true` also take a function or a callable
--- table there, and `type = "function"` options (hooks) a function only.

local M = {}

local Parser = {}
Parser.__index = Parser

local TYPES = {
  int = function(s)
    local n = math.tointeger(tonumber(s))
    if n == nil then return nil, "an integer" end
    return n
  end,
  number = function(s)
    local n = tonumber(s)
    if n == nil or n ~= n then return nil, "a number" end
    return n
  end,
  string = function(s) return s end,
}

--- A new parser. `spec.name` and `spec.about` head the usage text;
--- `spec.config = true` adds `--config FILE`.
function M.parser(spec)
  spec = spec or {}
  local p = setmetatable({name = spec.name or "script", about = spec.about,
                          options = {}, by_key = {}, positionals = {}, config = spec.config}, Parser)
  if spec.config then
    p:option{"config", type = "string", help = "Lua file returning a table of these options (the command line overrides it)"}
  end
  return p
end

local function key_of(name) return (name:gsub("-", "_")) end
local function flag_of(name) return "--" .. (name:gsub("_", "-")) end

--- Declares `--NAME VALUE`. Fields: [1] name, type ("int" | "number" |
--- "string", default "string"), choices, default, help, min, max, check
--- (function(value) -> ok, message), metavar.
function Parser:option(o)
  local name = assert(o[1], "option needs a name")
  local opt = {name = name, key = key_of(name), type = o.type or (o.choices and "string") or "string",
               choices = o.choices, default = o.default, help = o.help or "", min = o.min, max = o.max,
               check = o.check, metavar = o.metavar, kind = "option", scheduled = o.scheduled,
               accepts = o.accepts}
  assert(TYPES[opt.type] or opt.type == "function", "unknown option type " .. tostring(opt.type))
  self.options[#self.options + 1] = opt
  self.by_key[opt.key] = opt
  return self
end

--- Declares a boolean `--NAME` (and `--no-NAME`).
function Parser:flag(o)
  local name = assert(o[1], "flag needs a name")
  local opt = {name = name, key = key_of(name), help = o.help or "", default = o.default or false, kind = "flag"}
  self.options[#self.options + 1] = opt
  self.by_key[opt.key] = opt
  return self
end

--- Declares a positional argument (in order). Fields: [1] name, help, optional.
function Parser:positional(o)
  self.positionals[#self.positionals + 1] = {name = o[1], key = key_of(o[1]), help = o.help or "", optional = o.optional}
  return self
end

local function show(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then return string.format("%.6g", v) end
  return tostring(v)
end

--- The usage text, with each option's default.
function Parser:usage()
  local lines = {}
  local head = "usage: qvlua " .. self.name .. " [options]"
  for _, a in ipairs(self.positionals) do head = head .. (a.optional and (" [" .. a.name .. "]") or (" " .. a.name)) end
  lines[#lines + 1] = head
  if self.about then lines[#lines + 1] = ""; lines[#lines + 1] = self.about end
  if #self.positionals > 0 then
    lines[#lines + 1] = ""; lines[#lines + 1] = "arguments:"
    for _, a in ipairs(self.positionals) do lines[#lines + 1] = ("  %-24s %s"):format(a.name, a.help) end
  end
  lines[#lines + 1] = ""; lines[#lines + 1] = "options:"
  for _, o in ipairs(self.options) do
    local left = flag_of(o.name)
    if o.kind == "option" then
      left = left .. " " .. (o.metavar or (o.choices and table.concat(o.choices, "|")) or o.type:upper())
    end
    local help = o.help
    if o.kind == "option" and o.default ~= nil then help = help .. " (default: " .. show(o.default) .. ")" end
    if #left > 24 then
      lines[#lines + 1] = "  " .. left
      lines[#lines + 1] = ("  %-24s %s"):format("", help)
    else
      lines[#lines + 1] = ("  %-24s %s"):format(left, help)
    end
  end
  lines[#lines + 1] = ("  %-24s %s"):format("--help", "show this help and exit")
  return table.concat(lines, "\n")
end

--- Converts and checks one value for `opt`; returns value or nil, message.
local function callable(x)
  if type(x) == "function" then return true end
  local mt = getmetatable(x)
  return type(mt) == "table" and mt.__call ~= nil
end

local function convert(opt, raw, from)
  local v = raw
  if opt.type == "function" then
    if type(raw) == "function" then return raw end
    if type(raw) == "string" then return nil, ("%s %s: a function, given in a --config file"):format(from, flag_of(opt.name)) end
    return nil, ("%s %s: expected a function, got %s"):format(from, flag_of(opt.name), type(raw))
  end
  if opt.scheduled and type(raw) ~= "string" and type(raw) ~= "number" and (callable(raw) or type(raw) == "table") then
    return raw
  end
  if opt.accepts and opt.accepts(raw) then return raw end
  if opt.kind == "flag" then
    if type(raw) ~= "boolean" then return nil, ("%s: '%s' expects true or false"):format(from, opt.name) end
    return raw
  end
  if type(raw) == "string" then
    local what
    v, what = TYPES[opt.type](raw)
    if v == nil then return nil, ("%s %s: expected %s, got '%s'"):format(from, flag_of(opt.name), what, raw) end
  elseif type(raw) == "number" then
    if opt.type == "string" then v = tostring(raw)
    elseif opt.type == "int" then
      v = math.tointeger(raw)
      if v == nil then return nil, ("%s %s: expected an integer, got %s"):format(from, flag_of(opt.name), show(raw)) end
    end
  else
    return nil, ("%s %s: expected a %s, got %s"):format(from, flag_of(opt.name), opt.type, type(raw))
  end
  if opt.choices then
    local ok = false
    for _, c in ipairs(opt.choices) do if c == v then ok = true end end
    if not ok then
      return nil, ("%s %s: '%s' is not one of %s"):format(from, flag_of(opt.name), show(v), table.concat(opt.choices, ", "))
    end
  end
  if opt.min and v < opt.min then return nil, ("%s %s: %s is below the minimum %s"):format(from, flag_of(opt.name), show(v), show(opt.min)) end
  if opt.max and v > opt.max then return nil, ("%s %s: %s is above the maximum %s"):format(from, flag_of(opt.name), show(v), show(opt.max)) end
  if opt.check then
    local ok, msg = opt.check(v)
    if not ok then return nil, ("%s %s: %s"):format(from, flag_of(opt.name), msg or "invalid value") end
  end
  return v
end

--- Loads a config file: a Lua chunk returning a table of options.
local function load_config(path)
  local chunk, err = loadfile(path, "t", setmetatable({}, {__index = _G}))
  if not chunk then return nil, "cannot load config " .. tostring(err) end
  local ok, t = pcall(chunk)
  if not ok then return nil, "error in config " .. path .. ": " .. tostring(t) end
  if type(t) ~= "table" then return nil, "config " .. path .. " must return a table, got " .. type(t) end
  return t
end

--- Parses `argv` (a Lua array of strings). Returns the options table, or
--- nil and an error message; `nil, "help"` when --help was asked for.
function Parser:parse(argv)
  local given, positional = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--help" or a == "-h" then return nil, "help" end
    if a:sub(1, 2) == "--" and #a > 2 then
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      local negated = false
      local opt = self.by_key[key_of(name)]
      if not opt and name:sub(1, 3) == "no-" then
        opt = self.by_key[key_of(name:sub(4))]
        negated = opt ~= nil and opt.kind == "flag"
        if not negated then opt = nil end
      end
      if not opt then return nil, "unknown option --" .. name end
      if opt.kind == "flag" then
        if value then return nil, ("option --%s takes no value"):format(name) end
        given[opt.key] = not negated
      else
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, ("option --%s needs a value"):format(name) end
        end
        local v, err = convert(opt, value, "option")
        if v == nil then return nil, err end
        given[opt.key] = v
      end
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end

  local result = {}
  if self.config and given.config then
    local t, err = load_config(given.config)
    if not t then return nil, err end
    for k, raw in pairs(t) do
      local opt = type(k) == "string" and self.by_key[key_of(k)]
      if not opt or opt.key == "config" then return nil, ("config %s: unknown option '%s'"):format(given.config, tostring(k)) end
      local v, err = convert(opt, raw, "config " .. given.config .. ":")
      if v == nil then return nil, err end
      result[opt.key] = v
    end
  end
  for k, v in pairs(given) do result[k] = v end
  for _, o in ipairs(self.options) do
    if result[o.key] == nil then result[o.key] = o.default end
  end
  for n, a in ipairs(self.positionals) do
    if positional[n] == nil and not a.optional then return nil, "missing argument " .. a.name end
    result[a.key] = positional[n]
  end
  if #positional > #self.positionals then
    return nil, "unexpected argument '" .. positional[#self.positionals + 1] .. "'"
  end
  return result
end

--- Like `parse`, but on --help prints the usage and exits 0, and on an
--- error prints the message and the usage to stderr and exits 2.
function Parser:parse_or_exit(argv)
  local opts, err = self:parse(argv or {})
  if opts then return opts end
  if err == "help" then
    io.stdout:write(self:usage(), "\n")
    os.exit(0)
  end
  io.stderr:write(self.name, ": ", err, "\n\n", self:usage(), "\n")
  os.exit(2)
end

return M
