-- qv.graph and qv.Graph: counts, 1-based numbering, independent sets, masks, files.

local function independent(g, set)
  local member = {}
  for _, l in ipairs(set) do member[l] = true end
  for _, e in ipairs(g:edge_list()) do
    if member[e[1]] and member[e[2]] then return false end
  end
  return true
end

local function partition_of(g, sets)
  local seen, total = {}, 0
  for _, s in ipairs(sets) do
    for _, l in ipairs(s) do
      if seen[l] or l < 1 or l > #g then return false end
      seen[l] = true
      total = total + 1
    end
  end
  return total == #g
end

test("chimera C(6,6,4) has dwave's counts", function()
  local g = qv.graph.chimera(6)
  expect.type(g, "qv.Graph")
  expect.eq(#g, 288)
  expect.eq(g.nodes, 288)
  expect.eq(g.edges, 816)
  expect.eq(#g:edge_list(), 816)
  expect.eq(g.name, "Chimera C(6,6,4)")
  expect.eq(tostring(g), "Chimera C(6,6,4): 288 nodes, 816 edges, 2 independent sets")
  expect.eq(g.family, "chimera")
  expect.eq(g.shape, {m = 6, n = 6, t = 4})
  expect.eq(qv.graph.chimera(2, 3, 2).shape, {m = 2, n = 3, t = 2})
  expect.eq(qv.graph.chimera(16).edges, 6016)
end)

test("pegasus P(4) has dwave's counts and four colours", function()
  local g = qv.graph.pegasus(4)
  expect.eq(#g, 288)
  expect.eq(g.edges, 1632)
  expect.eq(#g:independent_sets(), 4)
  expect.eq(tostring(g), "Pegasus P(4): 288 nodes, 1632 edges, 4 independent sets")
end)

test("other families", function()
  local k = qv.graph.full_bipartite(3, 4)
  expect.eq(#k, 7); expect.eq(k.edges, 12); expect.eq(k.name, "Bipartite K(3,4)")
  expect.eq(k:independent_sets(), {{1, 2, 3}, {4, 5, 6, 7}})
  local c = qv.graph.complete(5)
  expect.eq(c.edges, 10); expect.eq(#c:independent_sets(), 5)
  local b = qv.graph.bernoulli(9)
  expect.eq(b.edges, 0); expect.eq(#b:independent_sets(), 1); expect.eq(b:edge_list(), {})
  expect.eq(tostring(b), "Bernoulli(9): 9 nodes, 0 edges, 1 independent set")
end)

test("independent sets are independent and cover the nodes", function()
  for _, g in ipairs({qv.graph.chimera(3), qv.graph.pegasus(3), qv.graph.complete(6),
                      qv.graph.edges(5, {{1, 2}, {2, 3}, {3, 1}, {4, 5}})}) do
    local sets = g:independent_sets()
    expect.truthy(partition_of(g, sets), tostring(g))
    for _, s in ipairs(sets) do expect.truthy(independent(g, s), tostring(g)) end
  end
end)

test("edge lists are 1-based and round-trip", function()
  local pairs_ = {{1, 2}, {4, 2}, {3, 4}, {1, 5}}
  local g = qv.graph.edges(5, pairs_, "toy")
  expect.eq(g.name, "toy")
  expect.eq(g:edge_list(), {{1, 2}, {1, 5}, {2, 4}, {3, 4}})   -- sorted, u < v
  local h = qv.graph.edges(#g, g:edge_list())
  expect.eq(h:edge_list(), g:edge_list())
  expect.eq(g:neighbors(2), {1, 4})
  expect.eq(g:degree(1), 2)
  expect.eq(g:degree(5), 1)
  expect.eq(g:edge_index(4, 2), 3)
  expect.eq(g:edge_index(1, 3), nil)
  expect.truthy(g:has_edge(5, 1))
  expect.falsy(g:has_edge(3, 5))
end)

test("chimera node numbering matches dwave's linear index + 1", function()
  local g = qv.graph.chimera(2, 3, 4)
  -- node (i, j, u, k) has dwave index ((i*n + j)*2 + u)*t + k
  expect.eq(g:coordinates(1), {0, 0, 0, 0})
  expect.eq(g:coordinates(((1 * 3 + 2) * 2 + 1) * 4 + 3 + 1), {1, 2, 1, 3})
  expect.eq(g:node(1, 2, 1, 3), ((1 * 3 + 2) * 2 + 1) * 4 + 3 + 1)
  expect.eq(g:node{0, 0, 0, 0}, 1)
  expect.eq(g:node(5, 0, 0, 0), nil)
  -- in a cell, vertical qubits (u = 0) couple to all horizontal ones (u = 1)
  expect.eq(g:neighbors(1), {5, 6, 7, 8, 25})   -- + (1, 0, 0, 0), the next row's vertical qubit k = 0
  for i = 1, #g do
    local c = g:coordinates(i)
    expect.eq(g:node(c), i)
  end
  expect.eq(#g:grouping("chains"), 2)
  expect.eq(g.groupings, {"bipartite", "chains"})
  local chains = g:grouping("chains")
  for _, l in ipairs(chains[1]) do expect.eq(g:coordinates(l)[3], 0) end
  expect.error(function() qv.graph.complete(3):coordinates(1) end, "has no coordinates")
end)

test("working-graph mask keeps node numbers", function()
  local g = qv.graph.chimera(2)
  local dead_edge = g:edge_list()[1]
  local w = g:mask{dead_nodes = {1, 20}, dead_edges = {dead_edge}}
  expect.eq(#w, #g)
  expect.eq(w:degree(1), 0)
  expect.eq(w:degree(20), 0)
  expect.falsy(w:active(1))
  expect.truthy(w:active(2))
  expect.eq(w:dead_nodes(), {1, 20})
  expect.falsy(w:has_edge(dead_edge[1], dead_edge[2]))
  local removed = g:degree(1) + g:degree(20) - (g:has_edge(1, 20) and 1 or 0)
  if not (dead_edge[1] == 1 or dead_edge[2] == 1) then removed = removed + 1 end
  expect.eq(w.edges, g.edges - removed)
  expect.match(tostring(w), "^Chimera C%(2,2,4%) working graph %(2 dead nodes%): 32 nodes")
  expect.error(function() g:mask{dead_nodes = {0}} end, "bad option 'dead_nodes' to 'qv.Graph:mask'")
  expect.error(function() g:mask{dead_edges = {{1, 2}}} end, "is not an edge")
  expect.error(function() g:mask{dead = {1}} end, "unknown option 'dead'")
end)

test("edge-list files are 0-based; load and save round trip", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("# a triangle and a tail\nnodes 5\n0 1\n1 2\n2 0\n3 4\n")
  f:close()
  local g = qv.graph.load(path)
  expect.eq(#g, 5)
  expect.eq(g:edge_list(), {{1, 2}, {1, 3}, {2, 3}, {4, 5}})
  local c = qv.graph.chimera(2)
  c:save(path)
  local back = qv.graph.load(path)
  expect.eq(back:edge_list(), c:edge_list())
  os.remove(path)
  expect.eq(qv.graph.parse("0 1\n1 2\n"):edge_list(), {{1, 2}, {2, 3}})
  expect.error(function() qv.graph.load("/nonexistent/graph.txt") end, "cannot open graph file")
  expect.error(function() qv.graph.parse("0 1\n1 x\n") end, "edgelist:2: expected two node indices")
end)

test("bad arguments name the function and argument", function()
  expect.error(function() qv.graph.chimera(0) end, "bad argument #1 to 'qv.graph.chimera' (m: must be in 1..1000, got 0)")
  expect.error(function() qv.graph.chimera("6") end, "(m: expected integer, got string)")
  expect.error(function() qv.graph.pegasus(1) end, "bad argument #1 to 'qv.graph.pegasus'")
  expect.error(function() qv.graph.edges(3, {{1, 4}}) end, "edge 1 {1, 4}: node outside 1..3")
  expect.error(function() qv.graph.edges(3, {{0, 1}}) end, "node outside 1..3")
  expect.error(function() qv.graph.edges(3, {{1, 1}}) end, "self-loop")
  expect.error(function() qv.graph.edges(3, {{1, 2}, {2, 1}}) end, "appears twice")
  expect.error(function() qv.graph.edges(3, {1, 2}) end, "expected a table of {u, v} pairs")
  local g = qv.graph.complete(4)
  expect.error(function() g:neighbors(0) end, "bad argument #1 to 'qv.Graph:neighbors' (i: node 0 outside 1..4)")
  expect.error(function() g:neighbors(5) end, "node 5 outside 1..4")
  expect.error(function() g:grouping("rows") end, "expected one of 'bipartite'")
  expect.error(function() g.nodes = 3 end, "read-only")
end)

test("graph files as networkx reads them: '# nodes N', data columns, node-link JSON", function()
  local path = os.tmpname()
  local g = qv.graph.edges(6, {{1, 2}, {2, 3}}, "tail")    -- nodes 4, 5, 6 uncoupled
  g:save(path)
  local function read(p) local f = assert(io.open(p)); local t = f:read("a"); f:close(); return t end
  local text = read(path)
  expect.truthy(text:find("\n# nodes 6\n", 1, true), text)
  expect.falsy(text:find("\nnodes ", 1, true), "no bare header (networkx reads it as an edge)")
  local back = qv.graph.load(path)
  expect.eq(back.nodes, 6)
  expect.eq(back:edge_list(), g:edge_list())
  g:save(path, "json")
  local j = qv.graph.load(path)
  expect.eq(j.nodes, 6)
  expect.eq(j:edge_list(), g:edge_list())
  expect.match(read(path), '"links"')
  os.remove(path)
  -- networkx's edge-list variants and the node-link "edges" key
  local nx = qv.graph.parse("# networkx\n0 1 {'weight': 0.5}\n1 2 {}\n2,3,1.5\n")
  expect.eq(nx:edge_list(), {{1, 2}, {2, 3}, {3, 4}})
  local nl = qv.graph.parse('{"directed": false, "nodes": [{"id": 0}, {"id": 1}, {"id": 4}], "edges": [{"source": 1, "target": 0}]}')
  expect.eq(nl.nodes, 5)
  expect.eq(nl:edge_list(), {{1, 2}})
  expect.eq(qv.graph.parse("nodes 4\n0 1\n").nodes, 4)          -- older qvlua files
  expect.eq(qv.graph.parse("# nodes are numbered from 0\n0 1\n").nodes, 2)   -- a comment, not a header
  expect.error(function() g:save(path, "gml") end, "expected \"edgelist\" or \"json\"")
end)

test("hostile graph files give clear errors", function()
  local cases = {
    {"a b\n", "expected two node indices"},
    {"0 1 heavy\n", "numeric data columns"},
    {"0 1 {'w': 1\n", "unterminated"},
    {"# nodes 99999999999\n", "at most 16777216"},
    {"0 1\n# nodes 3\n", "before the edges"},
    {'{"nodes": [{"id": "a"}], "links": []}', "convert_node_labels_to_integers"},
    {'{"nodes": [{"id": 1.5}], "links": []}', "integers 0..N-1"},
    {'{"nodes": [{"id": 16777216}], "links": []}', "node ids must be in"},
    {'{"directed": true, "nodes": [], "links": []}', "directed"},
    {'{"nodes": [{"id": 0}], "links": [{"source": 0, "target": 0}]}', "self-loop"},
    {'{"nodes": [{"id": 0}, {"id": 1}], "links": [{"source": 0, "target": 1}, {"source": 1, "target": 0}]}', "duplicate edge"},
    {'{"nodes": [{"id": 0}]}', "needs a \"links\""},
    {'{"nodes": 3, "links": []}', "needs a \"nodes\" array"},
    {'[1, 2]', "expected two node indices"},
    {'{"nodes": [' .. ("["):rep(100000), "not valid JSON"},
    {"{", "not valid JSON"},
  }
  for _, c in ipairs(cases) do
    expect.error(function() qv.graph.parse(c[1], "bad") end, c[2])
  end
end)
