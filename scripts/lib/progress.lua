--- Progress display for training loops. On a terminal: one line redrawn in
--- place (epoch, batch, running values, images/s, ETA), at most ten times a
--- second. Elsewhere (a log file, CI): a plain line every `every` fraction of
--- the work, so logs stay readable.
---
---   local progress = require "progress"
---   local p = progress.new{total = 600, label = "epoch 3/20", unit = "img", per_step = 100}
---   for i = 1, 600 do ... p:update(i, {loss = 91.2}) end
---   p:finish("loss 90.8")

local M = {}
local Progress = {}
Progress.__index = Progress

local function now()
  if qv and qv.clock then return qv.clock() end
  return os.clock()
end

--- Whether stdout is a terminal (asks qvlua; plain Lua cannot tell).
function M.is_terminal()
  if qv and qv.isatty then return qv.isatty("stdout") end
  return false
end

--- Seconds as "mm:ss" (or "h:mm:ss"; "--:--" when unknown).
local function duration(s)
  if s ~= s or s == math.huge then return "--:--" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s % 3600 // 60, s % 60) end
  return ("%02d:%02d"):format(s // 60, s % 60)
end
M.duration = duration

local function values_text(values)
  if not values then return "" end
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = values[k]
    parts[#parts + 1] = type(v) == "number" and ("%s %.4g"):format(k, v) or (k .. " " .. tostring(v))
  end
  return table.concat(parts, "  ")
end

--- A new display. Fields: total (steps), label, unit ("img"), per_step
--- (units per step, for the rate), tty (default: detect), every (fraction
--- of total between plain lines, default 0.25), out (file, default io.stdout).
function M.new(o)
  assert(type(o) == "table" and type(o.total) == "number" and o.total > 0, "progress.new: needs a positive 'total'")
  local tty = o.tty
  if tty == nil then tty = M.is_terminal() end
  return setmetatable({total = o.total, label = o.label or "", unit = o.unit or "img", per_step = o.per_step or 1,
                       tty = tty, every = o.every or 0.25, out = o.out or io.stdout,
                       start = now(), last_draw = -1, next_plain = o.every or 0.25, step = 0}, Progress)
end

--- The progress line for `step` done with `values`: label, step/total,
--- the values, rate and ETA.
function Progress:line(step, values)
  local elapsed = now() - self.start
  local rate = elapsed > 0 and step * self.per_step / elapsed or 0
  local eta = step > 0 and elapsed * (self.total - step) / step or math.huge
  return ("%s  %d/%d  %s  %.0f %s/s  ETA %s"):format(self.label, step, self.total, values_text(values),
                                                     rate, self.unit, duration(eta))
end

--- Reports that `step` of `total` steps are done, with current values.
function Progress:update(step, values)
  self.step = step
  if self.tty then
    local t = now()
    if t - self.last_draw < 0.1 and step < self.total then return end
    self.last_draw = t
    self.out:write("\r", self:line(step, values), "\27[K")
    self.out:flush()
  elseif step / self.total >= self.next_plain - 1e-12 and step < self.total then
    while self.next_plain <= step / self.total + 1e-12 do self.next_plain = self.next_plain + self.every end
    self.out:write(self:line(step, values), "\n")
    self.out:flush()
  end
end

--- Ends the display with a summary line (elapsed time and rate appended).
function Progress:finish(summary)
  local elapsed = now() - self.start
  local rate = elapsed > 0 and self.step * self.per_step / elapsed or 0
  local text = ("%s  %s  %s  %.0f %s/s"):format(self.label, summary or "", duration(elapsed), rate, self.unit)
  if self.tty then self.out:write("\r", text, "\27[K\n") else self.out:write(text, "\n") end
  self.out:flush()
  return elapsed
end

return M
