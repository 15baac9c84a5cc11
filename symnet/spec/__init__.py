"""The network spec: what to build, from ``2-2-1`` plus options or from a TOML file (a layer list, or a graph
of named nodes), validated."""
from symnet.spec.errors import GraphError, SpecError
from symnet.spec.graph import GRAPH_KEYS, MAX_NODES, PREDICTION, Graph
from symnet.spec.network import BIAS_NOTATIONS, DEFAULTS, MAX_L2, MAX_WIDTH, TOML_KEYS, Network, load

#: what every stage takes: a layer list or a graph of nodes
Spec = Network | Graph

__all__ = ["BIAS_NOTATIONS", "DEFAULTS", "GRAPH_KEYS", "MAX_L2", "MAX_NODES", "MAX_WIDTH", "PREDICTION", "TOML_KEYS",
           "Graph", "GraphError", "Network", "Spec", "SpecError", "load"]
