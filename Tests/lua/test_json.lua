-- scripts/lib/json.lua: the one JSON codec of the Lua scripts.
local json = require "json"

test("scalars, arrays and objects", function()
  expect.eq(json.encode{epoch = 1, ll = -90.5, name = "x"}, '{"epoch": 1, "ll": -90.5, "name": "x"}')
  expect.eq(json.encode{1, 2, 3}, "[1, 2, 3]")
  expect.eq(json.encode{}, "{}")
  expect.eq(json.encode{a = {1, {b = json.null}}, t = true, f = false},
            '{"a": [1, {"b": null}], "f": false, "t": true}')
  expect.eq(json.encode({z = 1, a = 2}, {keys = {"z", "a", "m"}}), '{"z": 1, "a": 2, "m": null}')
  expect.eq(json.decode(' {"a": [1, 2.5, null, true, false, "s"], "b": {}} '),
            {a = {1, 2.5, json.null, true, false, "s"}, b = {}})
  expect.eq(json.decode("[]"), {})
  expect.eq(tostring(json.null), "null")
end)

test("numbers keep their value and kind", function()
  for _, v in ipairs{0, -7, math.maxinteger, math.mininteger, 0.1, -2.5e-300, 1 / 3, 2.0, 1e300, 123456.789} do
    local back = json.decode(json.encode(v))
    expect.eq(back, v, tostring(v))
    expect.eq(math.type(back), math.type(v), tostring(v))
  end
  expect.eq(json.encode(2.0), "2.0")
  expect.eq(json.encode(0.1), "0.1")
  expect.eq(json.decode("1e2"), 100.0)
  expect.eq(math.type(json.decode("1e2")), "float")
  expect.eq(math.type(json.decode("12345678901234567890")), "float")
  for _, bad in ipairs{"01", "1.", ".5", "+1", "1e", "-", "0x10", "NaN", "Infinity"} do
    expect.error(function() json.decode(bad) end, "json.decode")
  end
end)

test("NaN and infinities are refused", function()
  expect.error(function() json.encode(0 / 0) end, "not a JSON number")
  expect.error(function() json.encode{loss = math.huge} end, "not a JSON number (at loss)")
  expect.error(function() json.encode{1, -math.huge} end, "(at [2])")
end)

test("string escapes: \\u00XX, surrogate pairs, UTF-8", function()
  local s = 'quote " backslash \\ tab \t nl \n cr \r bell \a nul \0 del? é 😀'
  local text = json.encode(s)
  expect.match(text, "\\u0007", "control characters as \\u00XX")
  expect.match(text, "\\u0000")
  expect.eq(json.decode(text), s)
  expect.eq(json.decode('"\\u00e9\\u00E9"'), "éé")
  expect.eq(json.decode('"\\u0041\\/\\b\\f"'), "A/\b\f")
  expect.eq(json.decode('"\\ud83d\\ude00"'), "😀")
  expect.error(function() json.decode('"\\ud83d"') end, "unpaired surrogate")
  expect.error(function() json.decode('"\\ude00x"') end, "unpaired surrogate")
  expect.error(function() json.decode('"\\ud83d\\u0041"') end, "invalid surrogate pair")
  expect.error(function() json.decode('"\\u12"') end, "invalid \\u escape")
  expect.error(function() json.decode('"\\x"') end, "invalid escape")
  expect.error(function() json.decode('"a\nb"') end, "control character")
  expect.error(function() json.encode("\255") end, "not valid UTF-8")
end)

test("malformed documents and unencodable values", function()
  for _, bad in ipairs{"", "{", "[1,]", '{"a" 1}', '{"a": 1,}', "{1: 2}", "[1] x", '"abc', "tru", "nul"} do
    expect.error(function() json.decode(bad) end, "json.decode")
  end
  expect.error(function() json.decode(string.rep("[", 1000) .. string.rep("]", 1000)) end, "nesting too deep")
  expect.error(function() json.decode(nil) end, "expected a string")
  local cyc = {}; cyc.self = cyc
  expect.error(function() json.encode(cyc) end, "cycle")
  expect.error(function() json.encode{1, 2, x = 3} end, "is not a string")
  expect.error(function() json.encode{f = print} end, "cannot encode a function (at f)")
end)

test("runlog writes what json reads back (the \\u00XX disagreement is gone)", function()
  local runlog = require "runlog"
  local row = {note = "tab\tbell\a é \"q\" \\", ll = -90.5, n = 3, bad = 0 / 0}
  local text = runlog.to_json(row)
  expect.match(text, '"bad": null')
  expect.match(text, "\\u0007")
  expect.eq(json.decode(text), {note = row.note, ll = -90.5, n = 3, bad = json.null})
end)

test("json.empty_array encodes as [] (an empty table is {})", function()
  expect.eq(json.encode{edges = json.empty_array, none = {}}, '{"edges": [], "none": {}}')
  expect.eq(json.decode(json.encode{edges = json.empty_array}).edges, {})
end)
