-- The ```lua examples of docs/TENSORS.md run, in order, as one chunk.

local function root()
  return qv.root or ((arg and arg[0] or ""):match("^(.*)/Tests/lua/[^/]*$") or ".")
end

test("docs/TENSORS.md examples run", function()
  local f = assert(io.open(root() .. "/docs/TENSORS.md"))
  local text = f:read("a")
  f:close()
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end
  expect.truthy(#blocks >= 8, "found " .. #blocks .. " examples")
  if not qv.exists("/usr/share/datasets/fashion-mnist") then
    for i = #blocks, 1, -1 do if blocks[i]:find("qv.data.load", 1, true) then table.remove(blocks, i) end end
  end
  local printed = {}
  local env = setmetatable({print = function(...) printed[#printed + 1] = table.concat({...}, "\t") end},
                           {__index = _G})
  local chunk = assert(load(table.concat(blocks, "\n"), "=docs/TENSORS.md", "t", env))
  chunk()
  expect.eq(printed[1], "sum")
end)
