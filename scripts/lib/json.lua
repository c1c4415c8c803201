--- JSON (RFC 8259) for qvlua's Lua scripts: the one encoder and decoder
--- that run logs, summaries and studies share.
---
---   local json = require "json"
---   json.encode{epoch = 1, loss = 95.25, name = "run"}  --> {"epoch": 1, "loss": 95.25, "name": "run"}
---   json.decode('{"a": [1, 2.5, null]}')                --> {a = {1, 2.5, json.null}}
---
--- Encoding: a table whose keys are exactly 1..n (n >= 1) is an array, any
--- other table an object with string keys, written in sorted order (or in
--- `opts.keys` order for the top-level object); an empty table is `{}`.
--- Strings must be valid UTF-8; control characters are written as `\uXXXX`.
--- Integers are written as integers, floats in the shortest form that reads
--- back to the same value (integral floats keep a ".0"). NaN and ±inf are
--- not JSON: encoding one is an error (map them to `json.null` first if a
--- null is what you want). Cycles, functions and userdata are errors.
---
--- Decoding is strict: one value and nothing after it but white space;
--- `\uXXXX` escapes (surrogate pairs included) become UTF-8; `null` becomes
--- `json.null` (so arrays keep their length); integers that fit become Lua
--- integers. Errors name the byte offset.

local M = {}

--- The value that stands for JSON's null (in arrays and objects alike).
M.null = setmetatable({}, {__name = "json.null", __tostring = function() return "null" end})

--- The value that encodes as an empty array `[]` (an empty table is `{}`).
M.empty_array = setmetatable({}, {__name = "json.empty_array", __tostring = function() return "[]" end})

local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                 ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}

local function quote(s)
  if not utf8.len(s) then error("json.encode: string is not valid UTF-8: " .. string.format("%q", s), 0) end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function number(v, where)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then
    error("json.encode: " .. tostring(v) .. " is not a JSON number" .. where, 0)
  end
  local s
  for digits = 15, 17 do
    s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[%.eE]") then s = s .. ".0" end
  return s
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local encode_value

local function encode_table(t, seen, where, keys)
  if seen[t] then error("json.encode: cycle" .. where, 0) end
  seen[t] = true
  local parts = {}
  if keys == nil and is_array(t) then
    for i = 1, #t do parts[i] = encode_value(t[i], seen, where .. "[" .. i .. "]") end
    seen[t] = nil
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  if keys == nil then
    keys = {}
    for k in pairs(t) do
      if type(k) ~= "string" then
        error("json.encode: object key " .. tostring(k) .. " is not a string" .. where, 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys)
  end
  for i, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = M.null end
    parts[i] = quote(k) .. ": " .. encode_value(v, seen, where .. "." .. k)
  end
  seen[t] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

function encode_value(v, seen, where, keys)
  local t = type(v)
  if v == M.null then return "null"
  elseif v == M.empty_array then return "[]"
  elseif t == "table" then return encode_table(v, seen, where, keys)
  elseif t == "string" then return quote(v)
  elseif t == "number" then return number(v, where ~= "" and " (at " .. where:gsub("^%.", "") .. ")" or "")
  elseif t == "boolean" then return tostring(v)
  end
  error("json.encode: cannot encode a " .. t .. (where ~= "" and " (at " .. where:gsub("^%.", "") .. ")" or ""), 0)
end

--- The JSON text of `v` (one line). `opts.keys` lists the top-level
--- object's keys in the order to write them (missing values are null).
function M.encode(v, opts)
  return (encode_value(v, {}, "", opts and opts.keys))
end

-- Decoding ------------------------------------------------------------------

local max_depth = 512

local function decode_error(pos, what)
  error(("json.decode: %s at byte %d"):format(what, pos), 0)
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local unescape = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}

local function hex4(s, i)
  local h = s:match("^%x%x%x%x", i)
  if not h then decode_error(i, "invalid \\u escape") end
  return tonumber(h, 16)
end

local function decode_string(s, i)
  local buf, j = {}, i + 1
  while true do
    local k = s:find('["\\%c]', j)
    if not k then decode_error(i, "unterminated string") end
    buf[#buf + 1] = s:sub(j, k - 1)
    local c = s:sub(k, k)
    if c == '"' then j = k + 1; break end
    if c ~= "\\" then decode_error(k, "control character in string") end
    local e = s:sub(k + 1, k + 1)
    if e == "u" then
      local cp = hex4(s, k + 2)
      j = k + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        if s:sub(j, j + 1) ~= "\\u" then decode_error(k, "unpaired surrogate") end
        local lo = hex4(s, j + 2)
        if lo < 0xDC00 or lo > 0xDFFF then decode_error(j, "invalid surrogate pair") end
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
        j = j + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        decode_error(k, "unpaired surrogate")
      end
      buf[#buf + 1] = utf8.char(cp)
    elseif unescape[e] then
      buf[#buf + 1] = unescape[e]
      j = k + 2
    else
      decode_error(k, "invalid escape")
    end
  end
  local str = table.concat(buf)
  if not utf8.len(str) then decode_error(i, "invalid UTF-8 in string") end
  return str, j
end

local function decode_number(s, i)
  local int = s:match("^-?0", i) or s:match("^-?[1-9]%d*", i)
  if not int then decode_error(i, "invalid number") end
  local j = i + #int
  local frac = s:match("^%.%d+", j) or ""
  if frac == "" and s:sub(j, j) == "." then decode_error(j, "invalid number") end
  j = j + #frac
  local exp = s:match("^[eE][-+]?%d+", j) or ""
  if exp == "" and s:find("^[eE]", j) then decode_error(j, "invalid number") end
  j = j + #exp
  if frac == "" and exp == "" then
    local n = math.tointeger(tonumber(int))
    if n and string.format("%d", n) == int:gsub("^%-0$", "0") then return n, j end
  end
  return tonumber(s:sub(i, j - 1)) + 0.0, j
end

local decode_value

local function decode_container(s, i, depth, close)
  if depth > max_depth then decode_error(i, "nesting too deep") end
  local out, n = {}, 0
  local j = skip(s, i + 1)
  if s:sub(j, j) == close then return out, j + 1 end
  while true do
    local key
    if close == "}" then
      if s:sub(j, j) ~= '"' then decode_error(j, "expected a string key") end
      key, j = decode_string(s, j)
      j = skip(s, j)
      if s:sub(j, j) ~= ":" then decode_error(j, "expected ':'") end
      j = skip(s, j + 1)
    end
    local v
    v, j = decode_value(s, j, depth + 1)
    if close == "}" then out[key] = v else n = n + 1; out[n] = v end
    j = skip(s, j)
    local c = s:sub(j, j)
    if c == close then return out, j + 1 end
    if c ~= "," then decode_error(j, "expected ',' or '" .. close .. "'") end
    j = skip(s, j + 1)
  end
end

local literals = {["true"] = true, ["false"] = false, null = M.null}

function decode_value(s, i, depth)
  local c = s:sub(i, i)
  if c == "{" then return decode_container(s, i, depth, "}")
  elseif c == "[" then return decode_container(s, i, depth, "]")
  elseif c == '"' then return decode_string(s, i)
  elseif c == "" then decode_error(i, "unexpected end")
  elseif c:match("[-%d]") then return decode_number(s, i)
  end
  local word = s:match("^%a+", i)
  if literals[word] == nil then decode_error(i, "unexpected character '" .. c .. "'") end
  return literals[word], i + #word
end

--- The value `text` holds (see the module comment for the mapping).
function M.decode(text)
  if type(text) ~= "string" then error("json.decode: expected a string, got " .. type(text), 2) end
  local v, i = decode_value(text, skip(text, 1), 1)
  i = skip(text, i)
  if i <= #text then decode_error(i, "trailing characters") end
  return v
end

return M
