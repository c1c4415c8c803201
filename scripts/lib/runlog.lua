--- Per-epoch run logs as CSV or JSON lines (by the file's extension), one
--- row per epoch, readable by pandas, jq or a spreadsheet. Columns are fixed
--- by the first row written; later rows must use the same fields.
---
---   local runlog = require "runlog"
---   local log = runlog.open("out/log.csv", {keep_until = resumed_epoch})
---   log:write{epoch = 1, loss = 95.3, lr = 3e-3}
---   log:close()
---
--- `keep_until = E` keeps the rows with epoch <= E already in the file and
--- drops the rest (a resumed run rewrites what came after its checkpoint);
--- without it the file is started afresh.

local M = {}
local Log = {}
Log.__index = Log

local json = require "json"

--- `row`'s values with NaN and ±inf as JSON null (a log keeps such rows).
local function finite_or_null(row)
  local out = {}
  for k, v in pairs(row) do
    out[k] = (type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge)) and json.null or v
  end
  return out
end

--- A flat table as one JSON object (keys sorted; NaN and inf as null).
function M.to_json(t)
  return json.encode(finite_or_null(t))
end

local function csv_value(v)
  if v == nil then return "" end
  if type(v) == "number" then
    if v ~= v then return "nan" end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.9g", v)
  end
  local s = tostring(v)
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function read_lines(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  return lines
end

--- Opens (creates) a log. Options: keep_until (epoch), fields (column order).
function M.open(path, opts)
  opts = opts or {}
  local format = path:match("%.jsonl?$") and "json" or "csv"
  local kept = {}
  local fields = opts.fields
  if opts.keep_until then
    local lines = read_lines(path) or {}
    if format == "csv" and #lines > 0 then
      fields = fields or {}
      if #fields == 0 then for name in lines[1]:gmatch("[^,]+") do fields[#fields + 1] = name end end
      for i = 2, #lines do
        local epoch = tonumber(lines[i]:match("^([^,]*)"))
        if epoch and epoch <= opts.keep_until then kept[#kept + 1] = lines[i] end
      end
    elseif format == "json" then
      for _, l in ipairs(lines) do
        local ok, row = pcall(json.decode, l)
        local epoch = ok and type(row) == "table" and tonumber(row.epoch)
        if epoch and epoch <= opts.keep_until then kept[#kept + 1] = l end
      end
    end
  end
  local f, err = io.open(path, "w")
  if not f then error("runlog: cannot open " .. path .. ": " .. tostring(err), 2) end
  local log = setmetatable({path = path, file = f, format = format, fields = fields}, Log)
  if format == "csv" and fields and #fields > 0 then f:write(table.concat(fields, ","), "\n") end
  for _, l in ipairs(kept) do f:write(l, "\n") end
  f:flush()
  return log
end

--- Appends one row (a table of field = value; `epoch` first by convention).
function Log:write(row)
  if not self.fields or #self.fields == 0 then
    local names = {}
    for k in pairs(row) do if k ~= "epoch" then names[#names + 1] = k end end
    table.sort(names)
    if row.epoch ~= nil then table.insert(names, 1, "epoch") end
    self.fields = names
    if self.format == "csv" then self.file:write(table.concat(names, ","), "\n") end
  end
  local known = {}
  for _, k in ipairs(self.fields) do known[k] = true end
  for k in pairs(row) do
    if not known[k] then error("runlog: field '" .. tostring(k) .. "' is not a column of " .. self.path, 2) end
  end
  local parts = {}
  if self.format == "csv" then
    for i, k in ipairs(self.fields) do parts[i] = csv_value(row[k]) end
    self.file:write(table.concat(parts, ","), "\n")
  else
    self.file:write(json.encode(finite_or_null(row), {keys = self.fields}), "\n")
  end
  self.file:flush()
end

--- Splits one CSV line into cells (RFC 4180 quoting).
local function csv_cells(line)
  local cells, i, n = {}, 1, #line
  while i <= n + 1 do
    if line:sub(i, i) == '"' then
      local buf, j = {}, i + 1
      while j <= n do
        local c = line:sub(j, j)
        if c == '"' then
          if line:sub(j + 1, j + 1) == '"' then buf[#buf + 1] = '"'; j = j + 2
          else break end
        else buf[#buf + 1] = c; j = j + 1 end
      end
      cells[#cells + 1] = table.concat(buf)
      i = j + 2  -- past the closing quote and the comma
    else
      local j = line:find(",", i, true) or (n + 1)
      cells[#cells + 1] = line:sub(i, j - 1)
      i = j + 1
    end
  end
  return cells
end
M.csv_cells = csv_cells

--- Reads a CSV log back as an array of rows (numbers converted).
function M.read_csv(path)
  local lines = read_lines(path)
  if not lines or #lines == 0 then return {} end
  local fields = csv_cells(lines[1])
  local rows = {}
  for i = 2, #lines do
    local row = {}
    for j, cell in ipairs(csv_cells(lines[i])) do
      if fields[j] then row[fields[j]] = tonumber(cell) or (cell ~= "" and cell or nil) end
    end
    rows[#rows + 1] = row
  end
  return rows
end

--- Closes the log file (idempotent); write no more rows to it after this.
function Log:close()
  if self.file then self.file:close(); self.file = nil end
end

return M
