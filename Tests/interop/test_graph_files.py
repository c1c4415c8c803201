"""qvlua's graph files and networkx's, both ways (make test-interop).

g:save's edge lists must read back in networkx.read_edgelist and its
node-link JSON in networkx.node_link_graph; qv.graph.load must read what
networkx writes (edge lists with and without data, node-link JSON under
"links" and "edges"), keep isolated nodes where the format can hold them,
and give D-Wave's Chimera and Pegasus graphs (dwave_networkx) exactly.

Run: .venv-torch/bin/python Tests/interop/test_graph_files.py [-v]
"""

import json
import os
import subprocess
import tempfile
import unittest
import warnings

import networkx as nx

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # "to be replaced by dwave-graphs"
        import dwave_networkx as dnx
except ImportError:  # the chimera/pegasus comparisons then say so
    dnx = None

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QVLUA = os.environ.get("QVLUA", os.path.join(ROOT, ".build", "release", "qvlua"))


def qvlua_graphs(*args):
    r = subprocess.run([QVLUA, "Tests/interop/graphs.lua", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"graphs.lua {args[0]} failed:\n{r.stdout}\n{r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines()]


def edge_set(edges):
    return {tuple(sorted(e)) for e in edges}


def node_link(g, key):
    try:
        return nx.node_link_data(g, edges=key)
    except TypeError:  # networkx before 3.4: always "links"
        if key != "links":
            raise unittest.SkipTest("this networkx writes node-link data under 'links' only")
        return nx.node_link_data(g)


def read_node_link(path):
    with open(path) as f:
        data = json.load(f)
    try:
        return nx.node_link_graph(data, edges="links")
    except TypeError:
        return nx.node_link_graph(data)


class QvluaWritesNetworkxReads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="qvlua_graphs_")
        qvlua_graphs("write", cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_edge_lists_read_in_networkx(self):
        g = nx.read_edgelist(self.path("chimera.txt"), nodetype=int)
        self.assertEqual(g.number_of_nodes(), 32)
        self.assertEqual(g.number_of_edges(), 80)
        with open(self.path("chimera.txt")) as f:
            self.assertIn("# nodes 32\n", f.read())

    def test_node_link_json_reads_in_networkx_with_isolated_nodes(self):
        g = read_node_link(self.path("isolated.json"))
        self.assertEqual(sorted(g.nodes), list(range(6)))
        self.assertEqual(edge_set(g.edges), {(0, 1), (1, 2)})
        # the edge list holds the isolated nodes in its '# nodes' count only
        e = nx.read_edgelist(self.path("isolated.txt"), nodetype=int)
        self.assertEqual(edge_set(e.edges), {(0, 1), (1, 2)})

    @unittest.skipIf(dnx is None, "dwave_networkx is not installed")
    def test_chimera_and_pegasus_equal_dwave_networkx(self):
        for name, want in [("chimera", dnx.chimera_graph(2, 2, 4)), ("pegasus", dnx.pegasus_graph(3, fabric_only=False))]:
            for ext in ("txt", "json"):
                with self.subTest(graph=name, format=ext):
                    path = self.path(f"{name}.{ext}")
                    g = read_node_link(path) if ext == "json" else nx.read_edgelist(path, nodetype=int)
                    self.assertEqual(edge_set(g.edges), edge_set(want.edges))
                    if ext == "json":
                        self.assertEqual(sorted(g.nodes), sorted(want.nodes))


class NetworkxWritesQvluaReads(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="qvlua_graphs_")
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def read(self, *paths):
        return qvlua_graphs("read", *paths)

    def sample_graph(self):
        g = nx.Graph()
        g.add_nodes_from(range(7))          # 5 and 6 isolated
        g.add_weighted_edges_from([(0, 1, 0.5), (1, 2, -1.25), (2, 3, 2.0), (3, 0, 1.0), (1, 4, 0.125)])
        return g

    def test_edge_lists_with_and_without_data(self):
        g = self.sample_graph()
        paths = []
        for name, data in [("plain.txt", False), ("dict.txt", True), ("columns.txt", ["weight"])]:
            path = os.path.join(self.tmp.name, name)
            nx.write_edgelist(g, path, data=data)
            paths.append(path)
        path = os.path.join(self.tmp.name, "commas.csv")
        nx.write_edgelist(g, path, delimiter=",", data=["weight"])
        paths.append(path)
        for path, got in zip(paths, self.read(*paths)):
            with self.subTest(file=os.path.basename(path)):
                self.assertNotIn("error", got)
                self.assertEqual(edge_set(got["edges"]), edge_set(g.edges))
                self.assertEqual(got["nodes"], 5)   # networkx's edge lists drop isolated nodes

    def test_node_link_json_under_links_and_edges_keeps_isolated_nodes(self):
        g = self.sample_graph()
        for key in ("links", "edges"):
            with self.subTest(key=key):
                path = self.write(f"g_{key}.json", json.dumps(node_link(g, key)))
                (got,) = self.read(path)
                self.assertNotIn("error", got)
                self.assertEqual(got["nodes"], 7)
                self.assertEqual(edge_set(got["edges"]), edge_set(g.edges))

    @unittest.skipIf(dnx is None, "dwave_networkx is not installed")
    def test_dwave_graphs_read_as_qvluas_own(self):
        for name, g in [("chimera", dnx.chimera_graph(2, 2, 4)), ("pegasus", dnx.pegasus_graph(3, fabric_only=False))]:
            with self.subTest(graph=name):
                jpath = self.write(f"{name}.json", json.dumps(node_link(g, "links")))
                epath = os.path.join(self.tmp.name, f"{name}.txt")
                nx.write_edgelist(g, epath, data=False)
                for got in self.read(jpath, epath):
                    self.assertNotIn("error", got)
                    self.assertEqual(edge_set(got["edges"]), edge_set(g.edges))
                self.assertEqual(self.read(jpath)[0]["nodes"], g.number_of_nodes())

    def test_untrusted_files_give_clear_errors(self):
        labelled = nx.relabel_nodes(nx.path_graph(3), {0: "a", 1: "b", 2: "c"})
        cases = {
            "labels.txt": ("a b\nb c\n", "expected two node indices"),
            "labels.json": (json.dumps(node_link(labelled, "links")), "convert_node_labels_to_integers"),
            "directed.json": (json.dumps(node_link(nx.DiGraph([(0, 1)]), "links")), "directed"),
            "broken.json": ('{"nodes": [{"id": 0}', "not valid JSON"),
            "huge.json": ('{"nodes": [{"id": 99999999999}], "links": []}', "node ids must be in"),
            "unlisted.json": ('{"nodes": [{"id": 0}], "links": [{"source": 0, "target": 3}]}', "does not list"),
            "both.json": ('{"nodes": [], "links": [], "edges": []}', "both"),
            "huge.txt": ("# nodes 99999999999\n0 1\n", "at most"),
            "words.txt": ("0 1 heavy\n", "numeric data columns"),
            "open.txt": ("0 1 {'weight': 1\n", "unterminated"),
        }
        paths = {name: self.write(name, text) for name, (text, _) in cases.items()}
        for (name, (_, message)), got in zip(cases.items(), self.read(*paths.values())):
            with self.subTest(file=name):
                self.assertIn("error", got)
                self.assertIn(message, got["error"])


if __name__ == "__main__":
    unittest.main()
