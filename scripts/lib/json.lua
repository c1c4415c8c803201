-- TEMPORARY (replaced by the libs branch's codec at merge)
local M = {}
local function enc(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      out[#out+1] = "["; for i, x in ipairs(v) do if i > 1 then out[#out+1] = "," end enc(x, out) end; out[#out+1] = "]"
    else
      local keys = {}; for k in pairs(v) do keys[#keys+1] = tostring(k) end; table.sort(keys)
      out[#out+1] = "{"
      for i, k in ipairs(keys) do if i > 1 then out[#out+1] = "," end enc(k, out); out[#out+1] = ":"; enc(v[k] == nil and v[tonumber(k)] or v[k], out) end
      out[#out+1] = "}"
    end
  elseif t == "string" then out[#out+1] = '"' .. v:gsub('[%c"\\]', function(c) return ({['"']='\\"',["\\"]="\\\\",["\n"]="\\n"})[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
  elseif t == "number" then out[#out+1] = math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v)
  elseif t == "boolean" then out[#out+1] = tostring(v) else out[#out+1] = "null" end
end
function M.encode(v) local out = {}; enc(v, out); return table.concat(out) end
function M.decode(s)
  local i = 1
  local function ws() i = s:find("[^ \t\r\n]", i) or #s + 1 end
  local val
  function val()
    ws(); local c = s:sub(i, i)
    if c == "{" then i = i + 1; local t = {}; ws(); if s:sub(i,i) == "}" then i = i + 1; return t end
      while true do ws(); local k = val(); ws(); i = i + 1; t[k] = val(); ws(); local d = s:sub(i,i); i = i + 1; if d == "}" then return t end end
    elseif c == "[" then i = i + 1; local t = {}; ws(); if s:sub(i,i) == "]" then i = i + 1; return t end
      while true do t[#t+1] = val(); ws(); local d = s:sub(i,i); i = i + 1; if d == "]" then return t end end
    elseif c == '"' then local j = i + 1; local buf = {}
      while true do local ch = s:sub(j, j)
        if ch == '"' then i = j + 1; return table.concat(buf) end
        if ch == "\\" then local e = s:sub(j+1, j+1)
          if e == "u" then buf[#buf+1] = utf8.char(tonumber(s:sub(j+2, j+5), 16)); j = j + 6
          else buf[#buf+1] = ({n="\n", t="\t", r="\r", b="\b", f="\f"})[e] or e; j = j + 2 end
        else buf[#buf+1] = ch; j = j + 1 end
      end
    elseif s:sub(i, i+3) == "true" then i = i + 4; return true
    elseif s:sub(i, i+4) == "false" then i = i + 5; return false
    elseif s:sub(i, i+3) == "null" then i = i + 4; return nil
    else local num = s:match("^-?[%d.eE+-]+", i); i = i + #num; return math.tointeger(tonumber(num)) or tonumber(num) end
  end
  return val()
end
return M
