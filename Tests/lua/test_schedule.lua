-- scripts/lib/schedule.lua: values, the paper's tables, composition, errors.
local schedule = require "schedule"

test("linear KL anneal 0 -> 1 over 200 epochs", function()
  local kl = schedule.linear{from = 0, to = 1, over = 200}
  expect.eq(kl(0), 0)
  expect.near(kl(50), 0.25)
  expect.near(kl(199.5), 199.5 / 200)
  expect.eq(kl(200), 1)
  expect.eq(kl(5000), 1)
  expect.eq(kl(-3), 0)
end)

test("linear with a start epoch", function()
  local s = schedule.linear{from = 1, to = 3, over = 10, start = 5}
  expect.eq(s(0), 1); expect.eq(s(5), 1); expect.near(s(10), 2); expect.eq(s(15), 3)
end)

test("exponential learning rate 3e-3 -> 1e-4 at epoch 1800, then floor", function()
  local lr = schedule.exponential{from = 3e-3, to = 1e-4, at = 1800}
  expect.near(lr(0), 3e-3, 1e-12)
  expect.near(lr(900), math.sqrt(3e-3 * 1e-4), 1e-9)   -- geometric midpoint
  expect.near(lr(1800), 1e-4, 1e-12)
  expect.eq(lr(2000), 1e-4)
  for e = 1, 1800, 37 do expect.truthy(lr(e) < lr(e - 1), "decreasing at " .. e) end
end)

test("the paper's K<->D table changes every 200 epochs and keeps K*D = 8", function()
  local kd = schedule.steps{every = 200, values = schedule.PAPER_KD}
  local expected = {{1, 8}, {2, 4}, {2, 4}, {4, 2}, {4, 2}, {8, 1}}
  for i, want in ipairs(expected) do
    for _, e in ipairs{(i - 1) * 200, (i - 1) * 200 + 199.9} do
      local v = kd(e)
      expect.eq({v.k, v.d}, want, "epoch " .. e)
      expect.eq(v.k * v.d, 8)
    end
  end
  expect.eq(kd(1200).k, 8); expect.eq(kd(1e6).k, 8)
end)

test("paper(epochs) compresses the whole protocol", function()
  local p = schedule.paper(20)
  expect.near(p.kl(1), 0.5)          -- KL anneal over 10% = 2 epochs
  expect.eq(p.kd(0).k, 1); expect.eq(p.kd(2).k, 2); expect.eq(p.kd(10).k, 8)
  expect.near(p.lr(18), 1e-4, 1e-12) -- floor reached at 90%
  expect.near(p.tau(7), 1 / 7)
  local full = schedule.paper(2000)
  expect.near(full.kl(100), 0.5); expect.eq(full.kd(600).k, 4)
end)

test("piecewise linear and step", function()
  local s = schedule.piecewise{{0, 1}, {10, 0}, {20, 0.5}}
  expect.eq(s(-1), 1); expect.near(s(5), 0.5); expect.near(s(15), 0.25); expect.eq(s(99), 0.5)
  local st = schedule.piecewise({{0, "a"}, {3, "b"}}, "step")
  expect.eq(st(2.9), "a"); expect.eq(st(3), "b")
end)

test("composition: arithmetic, map, clamp, after, fn", function()
  local a = schedule.linear{from = 0, to = 1, over = 10}
  expect.near((a * 2)(5), 1); expect.near((1 - a)(5), 0.5); expect.near((a + a)(10), 2)
  expect.near(schedule.map(a, function(v) return v * v end)(5), 0.25)
  expect.eq(schedule.clamp(a * 3, 0, 2)(10), 2)
  local warm = schedule.after(5, schedule.constant(0), schedule.constant(7))
  expect.eq(warm(4.9), 0); expect.eq(warm(5), 7)
  local f = schedule.fn(function(e) return e % 2 end, "parity")
  expect.eq(f(3), 1)
  expect.truthy(schedule.is_schedule(f))
end)

test("printing shows the name and values", function()
  local s = tostring(schedule.linear{from = 0, to = 1, over = 200})
  expect.match(s, "linear 0 %-> 1 over 200 epochs")
  expect.match(s, "epoch%s+100%s+0.5")
  local kd = tostring(schedule.steps{every = 200, values = schedule.PAPER_KD})
  expect.match(kd, "epoch%s+1000%s+{d=1, k=8}")
  expect.eq(#schedule.constant(3):values(0, 4), 5)
end)

test("bad options are errors that name the problem", function()
  expect.error(function() schedule.linear{from = 0, to = 1} end, "option 'over' must be a number")
  expect.error(function() schedule.linear{from = 0, to = 1, over = 5, speed = 2} end, "unknown option 'speed'")
  expect.error(function() schedule.exponential{from = 0, to = 1, at = 5} end, "must be positive")
  expect.error(function() schedule.steps{every = 0, values = {1}} end, "'every' must be a positive number")
  expect.error(function() schedule.piecewise{{5, 1}, {3, 2}} end, "epochs must increase")
  expect.error(function() schedule.constant(1)("x") end, "epoch must be a number")
  expect.error(function() return schedule.constant(1) + "a" end, "must be a number or a schedule")
end)
