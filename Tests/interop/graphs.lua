--- qvlua Tests/interop/graphs.lua write DIR | read FILE...
--- For Tests/interop/test_graph_files.py: `write` saves qvlua's graphs in
--- both formats (g:save); `read` loads each file with qv.graph.load and
--- prints one JSON line per file, {"nodes": N, "edges": [[u, v], ...]}
--- (0-based) or {"error": message}.

local json = require "json"

local mode = arg[1]
if mode == "write" then
  local dir = arg[2]
  local graphs = {
    chimera = qv.graph.chimera(2, 2, 4),
    pegasus = qv.graph.pegasus(3),
    isolated = qv.graph.edges(6, {{1, 2}, {2, 3}}, "isolated"),
  }
  for name, g in pairs(graphs) do
    g:save(dir .. "/" .. name .. ".txt")
    g:save(dir .. "/" .. name .. ".json")
  end
elseif mode == "read" then
  for i = 2, #arg do
    local ok, g = pcall(qv.graph.load, arg[i])
    if ok then
      local edges = {}
      for k, e in ipairs(g:edge_list()) do edges[k] = {e[1] - 1, e[2] - 1} end
      print(json.encode{nodes = g.nodes, edges = #edges > 0 and edges or json.empty_array})
    else
      print(json.encode{error = tostring(g)})
    end
  end
else
  io.stderr:write("usage: qvlua Tests/interop/graphs.lua write DIR | read FILE...\n")
  os.exit(2)
end
