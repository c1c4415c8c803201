#!/usr/bin/env python3
"""Regenerates the reference graphs used by ModelTests (GraphTests).

Run once with dwave_networkx installed (pip install dwave-networkx); the
tests themselves only read the generated .txt files. Format: the qvlua
edge-list format ("# comment" lines, a "nodes N" header, then one "u v"
pair per line, u < v, sorted), labels are dwave_networkx's linear indices.
"""
import dwave_networkx as dnx

CASES = [
    ("chimera_6_6_4", "chimera_graph(6, 6, 4)", lambda: dnx.chimera_graph(6, 6, 4)),
    ("chimera_1_2_4", "chimera_graph(1, 2, 4)", lambda: dnx.chimera_graph(1, 2, 4)),
    ("chimera_3_2_3", "chimera_graph(3, 2, 3)", lambda: dnx.chimera_graph(3, 2, 3)),
    ("pegasus_4_full", "pegasus_graph(4, fabric_only=False)", lambda: dnx.pegasus_graph(4, fabric_only=False)),
    ("pegasus_2_full", "pegasus_graph(2, fabric_only=False)", lambda: dnx.pegasus_graph(2, fabric_only=False)),
    ("pegasus_3_full", "pegasus_graph(3, fabric_only=False)", lambda: dnx.pegasus_graph(3, fabric_only=False)),
]

for name, call, make in CASES:
    g = make()
    edges = sorted(tuple(sorted(e)) for e in g.edges())
    nodes = sorted(g.nodes())
    with open(name + ".txt", "w") as f:
        f.write(f"# dwave_networkx {dnx.__version__}: {call}\n")
        f.write(f"# {len(nodes)} nodes (labels 0..{max(nodes)}), {len(edges)} edges\n")
        f.write(f"nodes {max(nodes) + 1}\n")
        for u, v in edges:
            f.write(f"{u} {v}\n")
    print(name, len(nodes), len(edges), max(nodes) + 1)
