--- Schedules: values that change with the epoch (learning rate, KL weight,
--- K and D, temperature). A schedule is a callable object: `s(epoch)` gives
--- its value at `epoch`, counted from 0 and possibly fractional (epoch 2.5 is
--- half-way through the third epoch), so a schedule can move every batch.
---
---   local schedule = require "schedule"
---   local kl = schedule.linear{from = 0, to = 1, over = 200}
---   local lr = schedule.exponential{from = 3e-3, to = 1e-4, at = 1800}
---   local kd = schedule.steps{every = 200, values = schedule.PAPER_KD}
---   print(kl)             --> linear 0 -> 1 over 200 epochs, then values at a few epochs
---   kl(50)                --> 0.25
---
--- Schedules compose: `schedule.map(s, f)`, `s * 2`, `s + t`,
--- `schedule.clamp(s, lo, hi)`, `schedule.after(e, s, t)` (s before e, t from e on).

local M = {}

local Schedule = {}
Schedule.__index = Schedule
Schedule.__name = "schedule"

local function new(name, fn)
  return setmetatable({name = name, fn = fn}, Schedule)
end

local function is_schedule(x) return getmetatable(x) == Schedule end

--- Wraps a number (a constant schedule) or returns a schedule as it is.
local function lift(x, what)
  if is_schedule(x) then return x end
  if type(x) == "number" then return M.constant(x) end
  error(("schedule: %s must be a number or a schedule, got %s"):format(what or "value", type(x)), 3)
end

local function check_epoch(e)
  if type(e) ~= "number" or e ~= e then
    error("schedule: epoch must be a number, got " .. tostring(e), 3)
  end
  return e
end

function Schedule.__call(self, epoch)
  return self.fn(check_epoch(epoch))
end

--- Values at epochs `first`..`last` (step `step`, default 1) as an array.
function Schedule:values(first, last, step)
  local out = {}
  for e = first, last, step or 1 do out[#out + 1] = self.fn(e) end
  return out
end

local function fmt(v)
  if type(v) == "number" then
    if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
    return string.format("%.6g", v)
  elseif type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. fmt(x) end
    table.sort(parts)
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

--- Shows the schedule's name and its values at a handful of epochs; the
--- span is `horizon` if set (see `M.show`), else chosen from the schedule.
function Schedule:show(horizon, points)
  local lines = {self.name}
  if self.marks and not horizon then
    for _, e in ipairs(self.marks) do
      lines[#lines + 1] = ("  epoch %6s  %s"):format(fmt(e), fmt(self.fn(e)))
    end
    return table.concat(lines, "\n")
  end
  horizon = horizon or self.horizon or 100
  points = points or 6
  local seen = {}
  for i = 0, points - 1 do
    local e = math.floor(horizon * i / (points - 1) + 0.5)
    if not seen[e] then
      seen[e] = true
      lines[#lines + 1] = ("  epoch %6d  %s"):format(e, fmt(self.fn(e)))
    end
  end
  return table.concat(lines, "\n")
end

function Schedule.__tostring(self) return self:show() end

local function binop(name, op)
  return function(a, b)
    local sa, sb = lift(a, "left operand"), lift(b, "right operand")
    local s = new(("(%s %s %s)"):format(sa.name, name, sb.name), function(e) return op(sa.fn(e), sb.fn(e)) end)
    s.horizon = math.max(sa.horizon or 0, sb.horizon or 0)
    if s.horizon == 0 then s.horizon = nil end
    return s
  end
end
Schedule.__add = binop("+", function(x, y) return x + y end)
Schedule.__sub = binop("-", function(x, y) return x - y end)
Schedule.__mul = binop("*", function(x, y) return x * y end)
Schedule.__div = binop("/", function(x, y) return x / y end)

--- Checks an options table: required numeric keys present, no unknown keys.
local function options(fname, opts, required, optional)
  if type(opts) ~= "table" then
    error(("schedule.%s: expected an options table, got %s"):format(fname, type(opts)), 3)
  end
  local allowed = {}
  for _, k in ipairs(required) do
    allowed[k] = true
    if type(opts[k]) ~= "number" then
      error(("schedule.%s: option '%s' must be a number, got %s"):format(fname, k, type(opts[k])), 3)
    end
  end
  for _, k in ipairs(optional or {}) do allowed[k] = true end
  for k in pairs(opts) do
    if not allowed[k] then error(("schedule.%s: unknown option '%s'"):format(fname, tostring(k)), 3) end
  end
  return opts
end

--- The same value at every epoch.
function M.constant(v)
  if type(v) ~= "number" then error("schedule.constant: expected a number, got " .. type(v), 2) end
  return new("constant " .. fmt(v), function() return v end)
end

--- Linear ramp from `from` (at epoch `start`, default 0) to `to` over
--- `over` epochs, constant outside. The paper's KL anneal is
--- `linear{from = 0, to = 1, over = 200}`.
function M.linear(o)
  options("linear", o, {"from", "to", "over"}, {"start"})
  local start = o.start or 0
  if o.over < 0 then error("schedule.linear: 'over' must be >= 0", 2) end
  local s = new(("linear %s -> %s over %s epochs%s"):format(fmt(o.from), fmt(o.to), fmt(o.over),
                 start ~= 0 and (" from epoch " .. fmt(start)) or ""),
    function(e)
      if e <= start then return o.from end
      if o.over == 0 or e >= start + o.over then return o.to end
      return o.from + (o.to - o.from) * (e - start) / o.over
    end)
  s.horizon = math.ceil((start + o.over) * 1.25)
  return s
end

--- Exponential decay from `from` at epoch 0 to `to` at epoch `at`, then held
--- at `to` (the floor). The paper's learning rate is
--- `exponential{from = 3e-3, to = 1e-4, at = 1800}`.
function M.exponential(o)
  options("exponential", o, {"from", "to", "at"})
  if o.from <= 0 or o.to <= 0 then error("schedule.exponential: 'from' and 'to' must be positive", 2) end
  if o.at <= 0 then error("schedule.exponential: 'at' must be positive", 2) end
  local rate = math.log(o.to / o.from) / o.at
  local s = new(("exponential %s -> %s at epoch %s, then %s"):format(fmt(o.from), fmt(o.to), fmt(o.at), fmt(o.to)),
    function(e)
      if e >= o.at then return o.to end
      if e <= 0 then return o.from end
      return o.from * math.exp(rate * e)
    end)
  s.horizon = math.ceil(o.at * 1.1)
  return s
end

--- Piecewise schedule through points `{{epoch, value}, ...}` (epochs
--- increasing): linear interpolation between them (`interpolate = "step"`
--- holds each value until the next point), constant beyond the ends.
function M.piecewise(points, interpolate)
  if type(points) ~= "table" or #points == 0 then
    error("schedule.piecewise: expected a non-empty array of {epoch, value} points", 2)
  end
  if interpolate ~= nil and interpolate ~= "linear" and interpolate ~= "step" then
    error("schedule.piecewise: interpolate must be 'linear' or 'step', got " .. tostring(interpolate), 2)
  end
  local step = interpolate == "step"
  for i, p in ipairs(points) do
    if type(p) ~= "table" or type(p[1]) ~= "number" or p[2] == nil then
      error(("schedule.piecewise: point %d must be {epoch, value}"):format(i), 2)
    end
    if i > 1 and p[1] <= points[i - 1][1] then
      error(("schedule.piecewise: epochs must increase (point %d)"):format(i), 2)
    end
    if not step and type(p[2]) ~= "number" then
      error(("schedule.piecewise: point %d has a non-numeric value; use interpolate = 'step'"):format(i), 2)
    end
  end
  local s = new(("piecewise (%s) through %d points"):format(step and "step" or "linear", #points), function(e)
    if e < points[1][1] then return points[1][2] end
    for i = #points, 1, -1 do
      local p = points[i]
      if e >= p[1] then
        local q = points[i + 1]
        if step or not q then return p[2] end
        return p[2] + (q[2] - p[2]) * (e - p[1]) / (q[1] - p[1])
      end
    end
  end)
  s.horizon = math.ceil(points[#points][1] * 1.25)
  if step then
    s.marks = {}
    for i, p in ipairs(points) do s.marks[i] = p[1] end
  end
  return s
end

--- Steps through `values` (any Lua values), changing every `every` epochs
--- and keeping the last one. The paper's K↔D anneal is
--- `steps{every = 200, values = schedule.PAPER_KD}`.
function M.steps(o)
  if type(o) ~= "table" or type(o.values) ~= "table" or #o.values == 0 then
    error("schedule.steps: expected {every = n, values = {...}} with a non-empty values array", 2)
  end
  if type(o.every) ~= "number" or o.every <= 0 then
    error("schedule.steps: 'every' must be a positive number", 2)
  end
  for k in pairs(o) do
    if k ~= "every" and k ~= "values" then error("schedule.steps: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local vals = o.values
  local s = new(("steps every %s epochs through %d values"):format(fmt(o.every), #vals), function(e)
    local i = math.floor(math.max(e, 0) / o.every) + 1
    return vals[math.min(i, #vals)]
  end)
  s.horizon = math.ceil(o.every * #vals)
  s.marks = {}
  for i = 0, #vals - 1 do s.marks[#s.marks + 1] = o.every * i end
  return s
end

--- The paper's K↔D table (Appendix A): K·D = 8, changed every 200 epochs.
M.PAPER_KD = {{k = 1, d = 8}, {k = 2, d = 4}, {k = 2, d = 4}, {k = 4, d = 2}, {k = 4, d = 2}, {k = 8, d = 1}}

--- Any function of the epoch, with a name for printing.
function M.fn(f, name)
  if type(f) ~= "function" then error("schedule.fn: expected a function, got " .. type(f), 2) end
  return new(name or "custom function", f)
end

--- `f(s(epoch))`.
function M.map(s, f, name)
  s = lift(s, "schedule")
  if type(f) ~= "function" then error("schedule.map: expected a function, got " .. type(f), 2) end
  local m = new(name or ("map(" .. s.name .. ")"), function(e) return f(s.fn(e)) end)
  m.horizon = s.horizon
  return m
end

--- `s` held constant through each epoch: its value at the epoch's start
--- (the learning rate and K, D of the paper's protocol change per epoch).
function M.per_epoch(s)
  s = lift(s, "schedule")
  local p = new(s.name .. ", per epoch", function(e) return s.fn(math.floor(e)) end)
  p.horizon, p.marks = s.horizon, s.marks
  return p
end

--- `s` limited to [lo, hi].
function M.clamp(s, lo, hi)
  s = lift(s, "schedule")
  local c = new(("clamp(%s, %s, %s)"):format(s.name, fmt(lo), fmt(hi)),
    function(e) return math.min(math.max(s.fn(e), lo), hi) end)
  c.horizon = s.horizon
  return c
end

--- `first` before epoch `e`, `second` (evaluated from epoch 0 at `e`) after.
function M.after(e, first, second)
  first, second = lift(first, "first"), lift(second, "second")
  local s = new(("%s, then from epoch %s: %s"):format(first.name, fmt(e), second.name),
    function(x) if x < e then return first.fn(x) end return second.fn(x - e) end)
  s.horizon = e + (second.horizon or e)
  return s
end

--- Sets the span `print` shows (returns the schedule, for chaining).
function M.show_until(s, horizon)
  s.horizon = horizon
  return s
end

--- Whether `x` is a schedule.
M.is_schedule = is_schedule

--- The paper's protocol (Appendix A) compressed into `epochs` epochs: KL
--- anneal over the first 10%, learning rate 3e-3 → 1e-4 at 90%, K↔D table
--- changing every 10%, τ fixed at 1/7. `scale = epochs / 2000`.
function M.paper(epochs)
  if type(epochs) ~= "number" or epochs <= 0 then error("schedule.paper: epochs must be a positive number", 2) end
  local f = epochs / 2000
  return {
    kl = M.linear{from = 0, to = 1, over = 200 * f},
    lr = M.exponential{from = 3e-3, to = 1e-4, at = 1800 * f},
    kd = M.steps{every = 200 * f, values = M.PAPER_KD},
    tau = M.constant(1 / 7),
  }
end

return M
