"""The network as a graph of named nodes (DESIGN.md, "Graph specs"): what every stage reads.

A spec file states it as ``inputs = 4`` and a ``[nodes]`` table, each node one expression over ``x`` (the
input) and earlier nodes, the last one the loss over ``y`` (the target)::

    inputs = 4
    [nodes]
    a1   = "relu(dense(x, 8))"
    a2   = "relu(dense(a1, 8) + a1)"     # a residual connection
    yhat = "softmax(dense(a2, 3))"
    loss = "cce(yhat, y)"

Every call inside an expression is a node of its own.  Names, as claims, values files, saved models and
kernels use them: dense layers are numbered 1, 2, … in the order they are computed and own ``W{k}`` and
``b{k}``; a dense layer's output is ``h{k}`` (a spec that names one, ``z = "dense(x, 8)"``, may call it
``z`` too); any other node is named by its key, or, inside another expression, by its kind and a count of
that kind's unnamed nodes (``add1``, ``concat1``, ``relu1``).  The node the loss reads is the prediction,
``yhat`` whatever its name; the loss's value is E.  ``N0-N1-…-NL`` and the layer-list keys expand to this
graph with today's names (:meth:`symnet.spec.network.Network.graph`).
"""
from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from symnet.files import read_toml, shell_word
from symnet.functions import formula
from symnet.functions.activations import SOFTMAX, unit_interval
from symnet.functions.layers import DENSE, MAX_UNITS, Layer, LayerError, Node, Param, Tie, kind, names
from symnet.functions.losses import LOSSES
from symnet.spec.errors import GraphError, SpecError
from symnet.spec.nodes import Apply, Ref, parse_node

#: nodes a graph may have (every call in every expression counts)
MAX_NODES = 256
#: λ at or above this makes the decay the whole cost
MAX_L2 = 1e3
GRAPH_KEYS = ("inputs", "nodes", "penalty", "define")
PENALTY_KEYS = ("l2",)
INPUT, TARGET, ERROR = "x", "y", "E"
#: the prediction's name in claims and matrices, whatever its node is called
PREDICTION = "yhat"
#: the loss node's name where symnet names it (a layer list's graph, an estimator's)
LOSS_NODE = "loss"
#: a node's name: letters (and _), then its number if it has one (h2, add1, enc) — what quantities' names parse
NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z_]*?([1-9][0-9]*)?$")
#: names a node may not take: the input, the target, the error, the batch size, and the parameters', deltas'
#: and batch matrices' families (W2, b1, delta3, D1, dW1, …)
_RESERVED = re.compile(r"^(x|y|E|m|lam|reg|pi|[WbDHAZ][0-9]+|delta[0-9]+|d[WbAHZ][0-9]+|Yhat|X|Y|AL|ZL|dAL|dZL)$")
#: names the generated kernel module holds for its own — a node of such a name would shadow one there: Python's
#: words and built-ins, the modules it imports, its constants (in capitals), loop indices and a batch's scalars
#: (the loss node may be called loss: it has no array there)
_CODE_NAMES = frozenset({*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "np", "numba", "os", "sys", "ctypes",
                         "importlib", "llvmlite", "cgutils", "intrinsic", "i", "j", "l", "p", "q", "r", "B",
                         "start", "stop", "total", "batches", "batch_size", "lr", "momentum", "inv_m", "penalty",
                         "use_velocity", "steps_before", "step", "beta1", "beta2", "eps", "mhat", "shat",
                         "forward", "gradients", "init_params", "init_state", "train_epoch"})
_CODE_PATTERN = re.compile(r"^([A-Z][A-Z0-9_]*|acc[0-9]+|prod[0-9]+|(S|hmax|lse)_\w+)$")


@dataclass(frozen=True)
class Graph:
    """A network as named nodes in the order they are computed (the last one the loss), ``inputs`` units of
    input, and the cost's L2 decay λ (0: none)."""

    inputs: int
    nodes: tuple[Node, ...]
    l2: float = 0.0
    #: names a spec gave to dense layers' outputs (``z`` for h1), and the loss's key, as node names
    aliases: tuple[tuple[str, str], ...] = ()
    #: what the graph is called in messages (the spec file's stem)
    title: str = "graph"
    bias: str = "separate"
    #: the spec's [define] formulas it uses, as the file gave them
    defines: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: the command-line words that give it where no spec file does (``3-4-3 … --reduction sum``)
    words: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, inputs: object, entries: object, l2: object = 0.0, *, title: str = "graph") -> "Graph":
        """A graph from ``inputs`` and the ``[nodes]`` table's entries (key → expression), in order."""
        if isinstance(inputs, bool) or not isinstance(inputs, int):
            shape = " (image and sequence shapes [C, H, W], [T, n] come with convolution and recurrence)" if isinstance(
                inputs, list) else ""
            raise GraphError(f"inputs must be the number of input units, e.g. inputs = 4, not {inputs!r}{shape}")
        if not 1 <= inputs <= MAX_UNITS:
            raise GraphError(f"inputs = {inputs}: a network takes from 1 to {MAX_UNITS:,} inputs")
        if not isinstance(entries, dict) or not entries:
            raise GraphError("[nodes] must be a table of at least one node and the loss, e.g. "
                             "[nodes] yhat = \"sigmoid(dense(x, 1))\" then loss = \"mse(yhat, y)\"")
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 <= l2 < MAX_L2:
            raise GraphError(f"l2 (the weight decay λ) must be a number in [0, {MAX_L2:g}), got {l2!r}; typical "
                             f"values are 1e-4 to 1e-2")
        builder = _Builder(inputs, list(entries))
        for key, text in entries.items():
            builder.entry(key, parse_node(text, key))
        return cls(inputs, tuple(builder.nodes), float(l2), tuple(builder.aliases.items()), title)

    @classmethod
    def headed(cls, inputs: int, hidden: object, outputs: int, output: str, loss: str, l2: float = 0.0, *,
               title: str = "graph") -> "Graph":
        """The ``hidden`` nodes (key → expression over x and each other), then ŷ = ``output`` of a dense layer
        of ``outputs`` units over the last of them, then ``loss`` of ŷ and y: the graph an estimator trains,
        whose inputs and outputs come from the data and whose output and loss from the task."""
        if not isinstance(hidden, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hidden.items()):
            raise GraphError(f"the hidden nodes must be a dict of node names and expressions over x, e.g. "
                             f"{{'a1': 'relu(dense(x, 32))'}}, got {hidden!r}")
        taken = [key for key in hidden if key in (PREDICTION, LOSS_NODE)]
        if taken:
            raise GraphError(f"node {taken[0]}: the output layer ({PREDICTION}) and the loss are added after the "
                             f"hidden nodes; name the hidden nodes otherwise (a1, a2, …)")
        last = list(hidden)[-1] if hidden else INPUT
        head = {PREDICTION: f"{output}({DENSE.name}({last}, {outputs}))", LOSS_NODE: f"{loss}({PREDICTION}, {TARGET})"}
        return cls.build(inputs, {**hidden, **head}, l2, title=title)

    @classmethod
    def from_toml(cls, path: str | Path, data: dict | None = None) -> "Graph":
        """Read ``inputs``, ``[nodes]``, ``[penalty]`` and ``[define]`` from a TOML file."""
        path = Path(path)
        data = read_toml(path, "spec file", SpecError) if data is None else data
        unknown = sorted(set(data) - set(GRAPH_KEYS))
        if unknown:
            hint = " (a graph spec states the layers as [nodes]; hidden, output and loss are its kinds)" if set(
                unknown) & {"layers", "hidden", "output", "loss", "bias", "l2"} else ""
            raise GraphError(f"unknown key {unknown[0]!r} in the graph spec {path}{hint}; allowed keys: "
                             f"{', '.join(GRAPH_KEYS)}")
        if "inputs" not in data:
            raise GraphError(f"the graph spec {path} has no 'inputs' key (the number of input units, e.g. inputs = 4)")
        defines: tuple[tuple[str, str], ...] = ()
        if "define" in data:
            if not isinstance(data["define"], dict):
                raise GraphError(f"'define' in spec file {path} must be a table: [define] then name = \"formula\"")
            formula.define(data["define"])
            defines = tuple((str(k), str(v)) for k, v in data["define"].items())
        penalty = data.get("penalty", {})
        if not isinstance(penalty, dict):
            raise GraphError(f"'penalty' in spec file {path} must be a table: [penalty] then l2 = 0.0001")
        bad = sorted(set(penalty) - set(PENALTY_KEYS))
        if bad:
            raise GraphError(f"unknown key {bad[0]!r} in [penalty] of {path}; allowed: {', '.join(PENALTY_KEYS)} "
                             f"(λ of (λ/2)·Σ W² in each sample's error)")
        graph = cls.build(data["inputs"], data.get("nodes"), penalty.get("l2", 0.0), title=path.stem)
        return graph if not defines else _with_defines(graph, defines)

    # -- what it is --------------------------------------------------------------------------------------
    @cached_property
    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def node(self, name: str) -> Node:
        return self.by_name[self.resolve(name)]

    def resolve(self, name: str) -> str:
        """A node's own name for any name it goes by (an alias, ``yhat`` for the prediction)."""
        if name == PREDICTION and name not in self.by_name:
            return self.prediction
        return dict(self.aliases).get(name, name)

    @cached_property
    def dense_nodes(self) -> tuple[Node, ...]:
        """The dense layers, in order: dense layer k is ``dense_nodes[k - 1]``."""
        return tuple(n for n in self.nodes if n.kind == DENSE.name)

    def dense(self, k: int) -> Node | None:
        """Dense layer k (the owner of W{k}, b{k} and δ⁽ᵏ⁾), or None."""
        return self.dense_nodes[k - 1] if 1 <= k <= len(self.dense_nodes) else None

    def owner(self, param: str) -> Node:
        """The node that owns a parameter array (W1: dense layer 1)."""
        return next(n for n in self.nodes if any(p.name == param for p in kind(n.kind).parameters(
            n, [self.widths[i] for i in n.inputs])))

    def kind_of(self, node: Node | str) -> Layer:
        return kind((self.node(node) if isinstance(node, str) else node).kind)

    @cached_property
    def loss_node(self) -> Node:
        return self.nodes[-1]

    @property
    def loss(self) -> str:
        """The loss's name (as a layer list's ``loss``)."""
        return self.nodes[-1].kind

    @property
    def reduction(self) -> str:
        """How the batch's cost gathers the samples' errors: "mean" or "sum" (the loss's ``reduction=``)."""
        return dict(self.loss_node.options).get("reduction", "mean")

    @property
    def labels(self) -> str:
        """How people's code reads a one-hot loss's targets: "onehot" rows, or "int" class indices."""
        return dict(self.loss_node.options).get("labels", "onehot")

    @cached_property
    def prediction(self) -> str:
        """The node the loss reads: ŷ."""
        return self.loss_node.inputs[0]

    @cached_property
    def widths(self) -> dict[str, int]:
        """Every node's number of units, and the input's and the target's."""
        out = {INPUT: self.inputs}
        for node in self.nodes:
            if node is self.loss_node:
                out[TARGET] = out[node.inputs[0]]
            out[node.name] = kind(node.kind).width(node, [out[i] for i in node.inputs])
        return out

    @property
    def outputs(self) -> int:
        return self.widths[self.prediction]

    @property
    def output(self) -> str:
        """The prediction's kind (as a layer list's output activation): softmax, sigmoid, dense, …"""
        return self.by_name[self.prediction].kind

    @cached_property
    def params(self) -> tuple[Param, ...]:
        """Every parameter array, in the kernels' order (W1, b1, W2, b2, … as the nodes own them)."""
        return tuple(p for n in self.nodes for p in kind(n.kind).parameters(n, [self.widths[i] for i in n.inputs]))

    @cached_property
    def param(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    @property
    def n_params(self) -> int:
        total = 0
        for p in self.params:
            size = 1
            for d in p.shape:
                size *= d
            total += size
        return total

    def consumers(self, name: str) -> list[Node]:
        """The nodes that read ``name``, in order."""
        return [n for n in self.nodes if name in n.inputs]

    def reads(self, node: Node) -> dict[str, str | Tie]:
        return kind(node.kind).reads(node)

    @property
    def depth(self) -> int:
        """The number of dense layers."""
        return len(self.dense_nodes)

    @cached_property
    def activations(self) -> tuple[str, ...]:
        """The element-wise activations and softmaxes of the graph, in order (what kernels and write-ups name)."""
        return tuple(dict.fromkeys(n.kind for n in self.nodes if kind(n.kind).elementwise or n.kind == SOFTMAX))


    @property
    def compact(self) -> str:
        return self.title

    @property
    def n_in(self) -> int:
        """The number of inputs."""
        return self.inputs

    @property
    def n_out(self) -> int:
        """The number of outputs (the prediction's units)."""
        return self.outputs

    @property
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """Each parameter array's name and shape, in the kernels' order."""
        return [(p.name, p.shape) for p in self.params]

    def describe(self) -> str:
        """A short line: ``residual (64 inputs → 10 outputs, 3 dense layers, cce)``, a loss's options after it
        (``cce smoothing=0.1``)."""
        layers = f"{self.depth} dense layer{'s' if self.depth != 1 else ''}"
        l2 = f", l2 {self.l2!r}" if self.l2 else ""
        ins, outs = (f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((self.inputs, "input"), (self.outputs, "output")))
        defaults = kind(self.loss).defaults()
        options = "".join(f" {k}={v!r}" for k, v in self.loss_node.options if defaults.get(k) != v)
        return f"{self.title} ({ins} → {outs}, {layers}, {self.loss}{options}{l2})"

    def arguments(self) -> str:
        """The command-line words that give this graph: its spec file, named after its title (or the layer list's
        words and options it came from)."""
        return self.words or shell_word(f"{self.title}.toml")

    def nodes_text(self) -> str:
        """One line: the nodes as they compute (``h1 = dense(x, 8); a1 = relu(h1); …``)."""
        parts = [f"inputs {self.inputs}"]
        for n in self.nodes:
            parts.append(f"{n.name if n is not self.loss_node else ERROR} = {kind(n.kind).describe(n)}")
        return "; ".join(parts) + (f"; l2 {self.l2!r}" if self.l2 else "")

    def to_toml(self) -> str:
        """The graph as a spec file, one node a line (the unnamed ones too: the same graph, the same names)."""
        lines = [f"inputs = {self.inputs}", "", "[nodes]"]
        own = {v: k for k, v in self.aliases}
        for n in self.nodes:
            lines.append(f"{own.get(n.name, n.name)} = \"{kind(n.kind).describe(n)}\"")
        if self.l2:
            lines += ["", "[penalty]", f"l2 = {self.l2!r}"]
        defined = formula.sources(dict.fromkeys(n.kind for n in self.nodes))
        if defined:
            lines += ["", "[define]"] + [f"{_toml_string(k)} = {_toml_string(v)}" for k, v in defined.items()]
        return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_defines(graph: Graph, defines: tuple[tuple[str, str], ...]) -> Graph:
    object.__setattr__(graph, "defines", defines)
    return graph


class _Builder:
    """Turns the entries' trees into nodes: numbers the dense layers, names the unnamed nodes, checks each."""

    def __init__(self, inputs: int, keys: list[str]):
        self.nodes: list[Node] = []
        self.widths: dict[str, int] = {INPUT: inputs}
        self.aliases: dict[str, str] = {}
        self.keys = keys
        self.counts: dict[str, int] = {}
        self.unnamed: dict[str, int] = {}
        self.own_weights: dict[str, tuple[int, ...]] = {}
        self.key = ""

    def entry(self, key: str, tree: Ref | Apply) -> None:
        if not isinstance(key, str) or not key.isidentifier() or key in names() or _RESERVED.match(key) and not (
                isinstance(tree, Apply) and tree.kind == DENSE.name):
            raise GraphError(f"{key!r} cannot name a node: a node's name is an identifier that is not x, y, E, m, a "
                             f"kind or function ({', '.join(names()[:6])}, …) or a parameter's or delta's name "
                             f"(W1, b2, delta1, D1, …)")
        if not NODE_NAME.match(key):
            raise GraphError(f"{key!r} cannot name a node: a node's name is letters (and _), then a number that does "
                             f"not start with 0 if it has one (a1, add2, enc, hidden_out)")
        if key in _CODE_NAMES or _CODE_PATTERN.match(key):
            raise GraphError(f"{key!r} cannot name a node: the generated kernel uses it for its own (Python's words "
                             f"and built-ins, np, loop indices, a batch's sums, constants in capitals); call the node "
                             f"e.g. a1, enc or hidden")
        if self.nodes and kind(self.nodes[-1].kind).is_loss:
            raise GraphError(f"node {key} comes after the loss (node {self.nodes[-1].name}); the loss is the last node")
        if isinstance(tree, Apply) and kind(tree.kind) is not None and kind(tree.kind).is_loss and key != self.keys[-1]:
            later = self.keys[self.keys.index(key) + 1:]
            raise GraphError(f"node {key} is a loss, and {', '.join(later)} {'comes' if len(later) == 1 else 'come'} "
                             f"after the loss; the loss is the last node (move it to the end)")
        if len(self.nodes) >= MAX_NODES:
            raise GraphError(f"the graph has more than {MAX_NODES} nodes (every call counts); symnet takes at most "
                             f"{MAX_NODES}")
        if isinstance(tree, Ref):
            raise GraphError(f"node {key} = {tree.name!r} only names another node; a node computes something, "
                             f"e.g. relu({tree.name}) (use {tree.name} itself where you would use {key})")
        self.key = key
        self.build(tree, key)

    def resolve(self, ref: Ref, where: str, reader: Layer, position: int) -> str:
        name = self.aliases.get(ref.name, ref.name)
        if name == TARGET:
            if not (reader.is_loss and position == 1):
                raise GraphError(f"{where}: a loss reads the prediction first, then the target y (loss = \"mse(yhat, "
                                 f"y)\")" if reader.is_loss else
                                 f"{where}: y is the target, which only a loss reads (loss = \"mse(yhat, y)\")")
            return name
        if name in self.widths:
            return name
        if ref.name == self.key:
            raise GraphError(f"{where} reads itself; a node reads x and earlier nodes (a graph has no cycles)")
        if ref.name in self.keys:
            raise GraphError(f"{where} reads {ref.name}, which is defined after it; a node reads x and earlier nodes "
                             f"(a graph has no cycles)")
        known = ", ".join(["x", *self.aliases, *(n.name for n in self.nodes if not kind(n.kind).is_loss)][:12])
        raise GraphError(f"{where} reads {ref.name!r}, which is no node; it can read {known}")

    def build(self, tree: Apply, key: str | None) -> str:
        where = f"node {key}" if key else f"node {self.key}: {tree.kind}(...)"
        layer = kind(tree.kind)
        if layer is None:
            hint = (f" ({tree.kind} is an option of dense: dense(a1, 8, {tree.kind}=...))"
                    if tree.kind in ("bias", "W") else "")
            raise GraphError(f"{where}: unknown kind {tree.kind!r}{hint}; kinds: {', '.join(names())}")
        nodes = [a for a in tree.args if isinstance(a, (Ref, Apply))]
        values = [a for a in tree.args if not isinstance(a, (Ref, Apply))]
        first_value = next((k for k, a in enumerate(tree.args) if not isinstance(a, (Ref, Apply))), len(tree.args))
        if any(isinstance(a, (Ref, Apply)) for a in tree.args[first_value:]):
            raise GraphError(f"{where}: {tree.kind}'s inputs come first, then its options")
        inputs = [self.resolve(a, where, layer, k) if isinstance(a, Ref) else self.build(a, None)
                  for k, a in enumerate(nodes)]
        self._check_arity(layer, tree, inputs, where)
        options = self._options(layer, tree, values, where)
        number = None
        if layer.numbered:
            self.counts[layer.numbered] = number = self.counts.get(layer.numbered, 0) + 1
            name = f"{layer.stem}{number}"
            if key is not None and key != name:
                if _RESERVED.match(key) or key in self.widths:
                    raise GraphError(f"node {key}: this {layer.title} is number {number}, so its output is {name}; "
                                     f"name it {name} or a name of your own")
                self.aliases[key] = name
        elif key is not None:
            name = key
        else:
            self.unnamed[layer.stem] = self.unnamed.get(layer.stem, 0) + 1
            name = f"{layer.stem}{self.unnamed[layer.stem]}"
            if name in self.keys:
                raise GraphError(f"node {name}: {name} is the name symnet gives to the unnamed {layer.title} number "
                                 f"{self.unnamed[layer.stem]}; give your node another name")
        if name in self.widths or name in self.aliases:
            taken = next((n for n in self.nodes if n.name == name and n.number is not None), None)
            if taken is not None and key is not None:
                raise GraphError(f"node {key}: {name} is the name symnet gives to the output of "
                                 f"{kind(taken.kind).title} {taken.number}; name this node otherwise (e.g. a{taken.number})")
            raise GraphError(f"node {name} is defined twice; give each node its own name")
        node = Node(name, tree.kind, tuple(inputs), options, number)
        if layer.is_loss:
            self._check_loss(node, where)
            self.widths[TARGET] = self.widths[inputs[0]]
            self.widths[name] = 1
        else:
            try:
                self.widths[name] = layer.width(node, [self.widths[i] for i in inputs])
            except LayerError as e:
                raise GraphError(str(e)) from None
        self._check_tie(node, layer)
        self.nodes.append(node)
        return name

    def _check_arity(self, layer: Layer, tree: Apply, inputs: list[str], where: str) -> None:
        if layer.arity is None:
            if len(inputs) < 2:
                raise GraphError(f"{where}: {tree.kind} joins two or more nodes, e.g. {tree.kind}(a1, a2); got "
                                 f"{len(inputs)}")
        elif len(inputs) != layer.arity:
            example = {1: f"{tree.kind}(a1)", 2: f"{tree.kind}(yhat, y)" if layer.is_loss else "a1 + a2"}[layer.arity]
            if layer.numbered:
                example = f"{tree.kind}(a1, 8)"
            raise GraphError(f"{where}: {tree.kind} takes {layer.arity} input{'s' if layer.arity > 1 else ''}, got "
                             f"{len(inputs)} (e.g. {example})")
        if layer.is_loss and inputs[1] != TARGET:
            raise GraphError(f"{where}: a loss compares the prediction with the target: {tree.kind}({inputs[0]}, y)")
        if layer.is_loss and inputs[0] in (INPUT, TARGET):
            raise GraphError(f"{where}: the loss's first argument is the prediction, a node such as yhat")

    def _options(self, layer: Layer, tree: Apply, values: list, where: str) -> tuple[tuple[str, object], ...]:
        allowed = {o.name: o for o in layer.options}
        if len(values) > len(layer.positional):
            raise GraphError(f"{where}: {tree.kind} takes {len(layer.positional) or 'no'} value"
                             f"{'s' if len(layer.positional) != 1 else ''} after its inputs"
                             f"{' (' + ', '.join(layer.positional) + ')' if layer.positional else ''}, got {len(values)}")
        given = dict(zip(layer.positional, values))
        for name, value in tree.keywords:
            if name not in allowed:
                takes = ", ".join(allowed) or "no options"
                raise GraphError(f"{where}: {tree.kind} has no option {name!r}; it takes {takes}")
            if name in given:
                raise GraphError(f"{where}: {name} is given twice")
            given[name] = value
        out = []
        for o in layer.options:
            value = given.get(o.name, o.default)
            if value is None and o.kind is not Tie:
                raise GraphError(f"{where}: {tree.kind} needs {o.help or o.name}, e.g. {tree.kind}(a1, 8)")
            if value is not None:
                value = self._typed(o.name, o.kind, value, tree.kind, where)
                problem = o.check(value)
                if problem:
                    raise GraphError(f"{where}: {o.name}={value!r} {problem}")
            out.append((o.name, value))
        return tuple(out)

    @staticmethod
    def _typed(name: str, kind_: type, value: object, kind_name: str, where: str) -> object:
        if kind_ is bool and isinstance(value, bool):
            return value
        if kind_ is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind_ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind_ is Tie and isinstance(value, Tie):
            return value
        if kind_ is str and isinstance(value, str):
            return value
        word = {bool: "true or false", int: "a whole number", float: "a number", Tie: "a weight such as W1.T",
                str: "a word in quotes"}[kind_]
        raise GraphError(f"{where}: {kind_name}'s {name} is {word}, not {value if isinstance(value, Tie) else repr(value)}")

    def _check_tie(self, node: Node, layer: Layer) -> None:
        for p in layer.parameters(node, [self.widths[i] for i in node.inputs]):
            self.own_weights[p.name] = p.shape
        tie = dict(node.options).get("W") if layer is DENSE else None
        if not isinstance(tie, Tie):
            return
        if tie.param == f"W{node.number}":
            raise GraphError(f"node {node.name}: W={tie} ties the layer to itself; name another dense layer's weight")
        if tie.param not in self.own_weights or not tie.param.startswith("W"):
            known = ", ".join(p for p in self.own_weights if p.startswith("W")) or "none yet"
            raise GraphError(f"node {node.name}: W={tie} names no weight of an earlier dense layer (weights: {known})")
        try:
            DENSE.check_tie(node, self.widths[node.inputs[0]], self.own_weights[tie.param])
        except LayerError as e:
            raise GraphError(str(e)) from None

    def _spelled(self, name: str) -> str:
        """A node's name as the spec wrote it (``scores`` for the h2 it names)."""
        return next((alias for alias, target in self.aliases.items() if target == name), name)

    def _check_loss(self, node: Node, where: str) -> None:
        loss = LOSSES[node.kind]
        prediction = next(n for n in self.nodes if n.name == node.inputs[0])
        if loss.output is not None and prediction.kind != loss.output:
            raise GraphError(f"{where}: {node.kind} needs a {loss.output} prediction ({node.inputs[0]} is "
                             f"{prediction.kind}); write {node.inputs[0]} = \"{loss.output}(...)\"")
        if loss.one_hot and self.widths[prediction.name] < 2:
            raise GraphError(f"{where}: {node.kind} needs at least two outputs, one per class ({self._spelled(node.inputs[0])} has "
                             f"{self.widths[prediction.name]}); for one output use bce")
        if loss.unit_interval and not unit_interval(prediction.kind):
            raise GraphError(f"{where}: {node.kind} needs predictions in (0, 1) (a sigmoid or softmax node); "
                             f"{node.inputs[0]} is {prediction.kind}")


def _validate(graph: Graph) -> None:
    """What a graph built by hand (not by ``build``) must still be: every node's inputs known and
    earlier, the loss last, nothing computed and left unused."""
    seen = {INPUT}
    for k, node in enumerate(graph.nodes):
        layer = kind(node.kind)
        if layer is None:
            raise GraphError(f"node {node.name}: unknown kind {node.kind!r}; kinds: {', '.join(names())}")
        for name in node.inputs:
            if name not in seen and not (layer.is_loss and name == TARGET):
                raise GraphError(f"node {node.name} reads {name}, which is not computed before it")
        if layer.is_loss != (k == len(graph.nodes) - 1):
            raise GraphError(f"node {node.name}: the loss is the last node, and only it" if layer.is_loss else
                             f"the graph's last node {node.name} is not a loss; end it with e.g. loss = \"mse(yhat, y)\"")
        seen.add(node.name)
    read = {name for node in graph.nodes for name in node.inputs}
    unused = [n.name for n in graph.nodes[:-1] if n.name not in read]
    if INPUT not in read:
        raise GraphError("no node reads the input x; the first layer is e.g. dense(x, 8)")
    states = {f"{prefix}{p.name}": p.name for p in graph.params for prefix in "gvms"}
    for name in [n.name for n in graph.nodes] + [key for key, _ in graph.aliases]:
        if name in states:
            raise GraphError(f"{name!r} cannot name a node: the generated kernel calls {states[name]}'s gradient or "
                             f"optimiser state so; call the node e.g. a1, enc or hidden")
    if not graph.params:
        raise GraphError("the graph has no parameters to learn; give it a dense layer, e.g. "
                         "yhat = \"softmax(dense(x, 3))\"")
    if unused:
        own = {v: k for k, v in graph.aliases}
        name = own.get(unused[0], unused[0])
        raise GraphError(f"node {name} is computed but never used; remove it or feed it to a later node")
    for node in graph.nodes:
        if node.kind == SOFTMAX and graph.widths[node.inputs[0]] < 2:
            raise GraphError(f"node {node.name}: a softmax of one unit is always 1; give {node.inputs[0]} two or more "
                             f"units, or use sigmoid for one output")
