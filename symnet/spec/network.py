"""The network spec: what to build, from ``2-2-1`` plus options or from a TOML file, validated."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from symnet.files import read_toml, shell_word
from symnet.functions import formula
from symnet.functions.activations import SOFTMAX, Sigmoid, names, unit_interval
from symnet.functions.layers import DENSE, MAX_UNITS, Node, kind
from symnet.functions.losses import LOSSES
from symnet.spec.errors import SpecError
from symnet.spec.graph import GRAPH_KEYS, INPUT, LOSS_NODE, PREDICTION, TARGET, Graph

BIAS_NOTATIONS = ("separate", "augmented")
TOML_KEYS = ("layers", "hidden", "output", "loss", "bias", "l2", "define")
#: the widest layer a spec may have: a weight matrix between two such layers is already 8 TB
MAX_WIDTH = MAX_UNITS
#: λ at or above this makes the decay the whole cost (and no finite λ is a typo's remedy)
MAX_L2 = 1e3
#: the first article's network
DEFAULTS = {"hidden": Sigmoid.name, "output": Sigmoid.name, "loss": "mse", "bias": "separate", "l2": 0.0}


@dataclass(frozen=True)
class Network:
    """A feed-forward network n0-n1-...-nL, one activation per layer 1..L, a loss, a bias notation and
    the L2 weight decay λ of the cost (0: none)."""

    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "mse"
    bias: str = "separate"
    l2: float = 0.0

    def __post_init__(self) -> None:
        _validate(self)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def parse(
        cls,
        layers: str,
        hidden: str | list[str] | tuple[str, ...] = DEFAULTS["hidden"],
        output: str = DEFAULTS["output"],
        loss: str = DEFAULTS["loss"],
        bias: str = DEFAULTS["bias"],
        l2: float = DEFAULTS["l2"],
    ) -> "Network":
        """``Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse")``."""
        parts = layers.strip().split("-") if isinstance(layers, str) else []
        if not parts or not all(re.fullmatch(r"\d+", p.strip()) for p in parts):
            raise SpecError(f"layer sizes {layers!r} are not of the form N0-N1-...-NL (e.g. 2-2-1)")
        sizes = tuple(int(p) for p in parts)
        return cls.build(sizes, hidden, output, loss, bias, l2)

    @classmethod
    def build(
        cls,
        layers: tuple[int, ...] | list[int],
        hidden: str | list[str] | tuple[str, ...] = DEFAULTS["hidden"],
        output: str = DEFAULTS["output"],
        loss: str = DEFAULTS["loss"],
        bias: str = DEFAULTS["bias"],
        l2: float = DEFAULTS["l2"],
    ) -> "Network":
        if not isinstance(layers, (list, tuple)) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in layers
        ):
            raise SpecError(f"layers must be a list of whole numbers, e.g. [2, 2, 1], not {layers!r}")
        layers = tuple(layers)
        if len(layers) < 2:
            raise SpecError(
                f"a network needs at least two layers (inputs and outputs), got {len(layers)}: {list(layers)}"
            )
        n_hidden = len(layers) - 2
        if isinstance(hidden, str):
            hidden_list = [h.strip() for h in hidden.split(",")]
            if len(hidden_list) == 1:
                hidden_list = hidden_list * n_hidden
        elif isinstance(hidden, (list, tuple)) and all(isinstance(h, str) for h in hidden):
            hidden_list = [h.strip() for h in hidden]
        else:
            raise SpecError(f"hidden must be an activation name or a list of them, not {hidden!r}")
        if n_hidden and len(hidden_list) != n_hidden:
            raise SpecError(
                f"{len(hidden_list)} hidden activations ({','.join(hidden_list)}) for {n_hidden} hidden layers:"
                f" give one, or one per hidden layer"
            )
        if not n_hidden:
            hidden_list = []
        for name, value in (("output", output), ("loss", loss), ("bias", bias)):
            if not isinstance(value, str):
                raise SpecError(f"{name} must be a string, not {value!r}")
        if isinstance(l2, bool) or not isinstance(l2, (int, float)):
            raise SpecError(f"l2 must be a number (the weight decay λ, e.g. 0.01), not {l2!r}")
        return cls(layers, tuple(hidden_list) + (output.strip(),), loss.strip(), bias.strip(), float(l2))

    @classmethod
    def from_toml(cls, path: str | Path, data: dict | None = None) -> "Network":
        """Read ``layers = [2, 2, 1]``, ``hidden``, ``output``, ``loss``, ``bias`` from a TOML file."""
        path = Path(path)
        data = read_toml(path, "spec file", SpecError) if data is None else data
        unknown = sorted(set(data) - set(TOML_KEYS))
        if unknown:
            raise SpecError(
                f"unknown key {unknown[0]!r} in spec file {path}; allowed keys: {', '.join(TOML_KEYS)} (or, for a "
                f"graph of nodes, {', '.join(GRAPH_KEYS)})"
            )
        if "layers" not in data:
            raise SpecError(f"spec file {path} has no 'layers' key (e.g. layers = [2, 2, 1])")
        if "define" in data:
            # [define] swish = "x*sigmoid(x)", "huber(yhat, y)" = "...": registered before the names are checked
            if not isinstance(data["define"], dict):
                raise SpecError(f"'define' in spec file {path} must be a table: [define] then name = \"formula\"")
            formula.define(data["define"])
        return cls.build(data["layers"], **{k: data.get(k, DEFAULTS[k]) for k in DEFAULTS})

    @classmethod
    def load(cls, spec: str, **options: object) -> "Network":
        """A CLI SPEC: ``N0-N1-...-NL`` with options, or a path to a TOML file of a layer list."""
        found = load(spec, **options)
        if not isinstance(found, Network):
            raise SpecError(f"{spec} is a graph of nodes that is not a layer list; this takes N0-N1-...-NL")
        return found

    @classmethod
    def from_graph(cls, graph: Graph) -> "Network | None":
        """The layer-list network that ``graph`` is, with the same names, or None when it is not one: dense
        layers with biases and untied, each followed by one activation named a{k} (the last named yhat)."""
        nodes = graph.nodes
        L = (len(nodes) - 1) // 2
        if len(nodes) != 2 * L + 1 or L < 1 or graph.aliases and set(dict(graph.aliases).values()) != {nodes[-1].name}:
            return None
        layers, activations = [graph.inputs], []
        for k in range(1, L + 1):
            dense, act = nodes[2 * k - 2], nodes[2 * k - 1]
            layer = kind(act.kind)
            if dense.kind != DENSE.name or dense.option("W") is not None or not dense.option("bias"):
                return None
            if act.inputs != (dense.name,) or act.name != ("yhat" if k == L else f"a{k}"):
                return None
            if not (layer.elementwise or act.kind == SOFTMAX and act.option("T") == 1.0):
                return None
            if dense.inputs != ((nodes[2 * k - 3].name,) if k > 1 else ("x",)):
                return None
            layers.append(graph.widths[dense.name])
            activations.append(act.kind)
        if dict(nodes[-1].options) != _defaults(nodes[-1].kind):
            return None  # a layer list's loss takes no options
        try:
            return cls.build(layers, activations[:-1], activations[-1], nodes[-1].kind, l2=graph.l2)
        except SpecError:
            return None

    @cached_property
    def graph(self) -> Graph:
        """The network as a graph of nodes: h{k} = dense(a{k-1}, n_k), a{k} = f_k(h{k}) (yhat for the last),
        then the loss over yhat and y."""
        nodes, below = [], INPUT
        for k, act in enumerate(self.activations, start=1):
            nodes.append(Node(f"h{k}", DENSE.name, (below,), (("units", self.layers[k]), ("bias", True), ("W", None)), k))
            below = PREDICTION if k == self.depth else f"a{k}"
            options = tuple((o.name, o.default) for o in kind(act).options)
            nodes.append(Node(below, act, (f"h{k}",), options))
        nodes.append(Node(LOSS_NODE, self.loss, (PREDICTION, TARGET), tuple(_defaults(self.loss).items())))
        return Graph(self.layers[0], tuple(nodes), self.l2, title=self.compact, bias=self.bias)

    def with_loss(self, **options: object) -> Graph:
        """The network as a graph whose loss takes ``options`` (``reduction="sum"``): no longer a layer list."""
        g = self.graph
        loss = replace(g.loss_node, options=tuple({**dict(g.loss_node.options), **options}.items()))
        words = self.arguments() + "".join(f" --{k} {v}" for k, v in options.items())
        return replace(g, nodes=(*g.nodes[:-1], loss), words=words)

    # -- description --------------------------------------------------------------------
    #: a layer list's cost is the mean over the batch, its targets one-hot (a graph's loss may say otherwise)
    reduction = "mean"
    labels = "onehot"

    @property
    def depth(self) -> int:
        """L, the number of layers with weights."""
        return len(self.layers) - 1

    @property
    def hidden(self) -> tuple[str, ...]:
        return self.activations[:-1]

    @property
    def output(self) -> str:
        return self.activations[-1]

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.layers, self.layers[1:]))

    @property
    def compact(self) -> str:
        return "-".join(map(str, self.layers))

    @property
    def n_in(self) -> int:
        """The number of inputs."""
        return self.layers[0]

    @property
    def n_out(self) -> int:
        """The number of outputs."""
        return self.layers[-1]

    @property
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """Each parameter array's name and shape, in the kernels' order: W1, b1, W2, b2, …"""
        return self.graph.param_shapes

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameters' names, in the kernels' order (the generated module's ``PARAMS``)."""
        return tuple(name for name, _ in self.param_shapes)

    def describe(self) -> str:
        hidden = ",".join(self.hidden) if len(set(self.hidden)) > 1 else (self.hidden[0] if self.hidden else "")
        parts = [self.compact] + ([f"--hidden {hidden}"] if hidden else [])
        parts += [f"--output {self.output}", f"--loss {self.loss}"]
        parts += [f"--bias {self.bias}"] if self.bias != "separate" else []
        return " ".join(parts + ([f"--l2 {self.l2!r}"] if self.l2 else []))

    def arguments(self) -> str:
        """The command-line words that give this network: ``--define`` for each defined function it uses,
        then ``describe()`` (regeneration commands in generated files)."""
        sources = formula.sources(dict.fromkeys((*self.activations, self.loss)))
        return "".join(f"--define {shell_word(f'{k} = {v}')} " for k, v in sources.items()) + self.describe()

    def to_toml(self) -> str:
        hidden = ", ".join(f'"{h}"' for h in self.hidden)
        text = (
            f"layers = [{', '.join(map(str, self.layers))}]\nhidden = [{hidden}]\n"
            f'output = "{self.output}"\nloss = "{self.loss}"\nbias = "{self.bias}"\n'
        ) + (f"l2 = {self.l2!r}\n" if self.l2 else "")
        defined = formula.sources(dict.fromkeys((*self.activations, self.loss)))
        if defined:  # the formulas of the defined functions it uses, as a [define] table
            text += "\n[define]\n" + "".join(f"{_toml_string(k)} = {_toml_string(v)}\n" for k, v in defined.items())
        return text


def load(spec: str, **options: object) -> "Network | Graph":
    """A CLI SPEC: ``N0-N1-...-NL`` with options, or a path to a TOML file (a layer list, or a graph of nodes:
    a graph that is a layer list with today's names is that :class:`Network`)."""
    opts = {k: v for k, v in options.items() if v is not None}
    if spec.endswith(".toml") or Path(spec).is_file():
        if opts:
            raise SpecError(
                f"options --{'/--'.join(sorted(opts))} cannot be combined with a spec file; put them in {spec}"
            )
        data = read_toml(spec, "spec file", SpecError)
        if "nodes" in data or "inputs" in data:
            if "layers" in data:
                raise SpecError(f"spec file {spec} has both layers and nodes; give the network one way")
            graph = Graph.from_toml(spec, data)
            return Network.from_graph(graph) or graph
        return Network.from_toml(spec, data)
    # a layer list's loss takes no options: given one that is not its default, the network is a graph
    loss_options = {k: opts.pop(k) for k in ("reduction", "labels") if k in opts}
    net = Network.parse(spec, **opts)  # type: ignore[arg-type]
    changed = {k: v for k, v in loss_options.items() if v != _defaults(net.loss).get(k, v)}
    if "labels" in loss_options and "labels" not in _defaults(net.loss):
        over_classes = ", ".join(name for name, loss in LOSSES.items() if loss.one_hot)
        raise SpecError(f"--labels is for a loss over classes ({over_classes}), not {net.loss}")
    if changed and net.bias != "separate":
        raise SpecError(f"--bias {net.bias} names a layer list's biases, and with --{' --'.join(changed)} the network "
                        f"is a graph, whose biases are b<k>; leave --bias out")
    return net.with_loss(**changed) if changed else net


def _defaults(kind_name: str) -> dict[str, object]:
    """A kind's options at their defaults (a loss's with the batch's reduction)."""
    return kind(kind_name).defaults()


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _validate(net: Network) -> None:
    if len(net.layers) < 2:
        raise SpecError(f"a network needs at least two layers (inputs and outputs), got {len(net.layers)}")
    for k, n in enumerate(net.layers):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise SpecError(f"layer {k} has size {n!r}; every layer size must be a whole number >= 1")
        if n > MAX_WIDTH:
            raise SpecError(f"layer {k} has {n} neurons; symnet takes at most {MAX_WIDTH:,} per layer")
    if len(net.activations) != net.depth:
        raise SpecError(f"{len(net.activations)} activations for {net.depth} layers with weights")
    for k, act in enumerate(net.activations, start=1):
        is_output = k == net.depth
        allowed = names(hidden=not is_output)
        where = "output" if is_output else f"hidden layer {k}"
        if act not in allowed:
            if act in LOSSES:
                raise SpecError(f"{act!r} is a loss, not an activation (an activation is defined with one argument: "
                                f"--define '{act}(x) = …'); allowed for {where}: {', '.join(allowed)}")
            # a hidden softmax couples every unit of its layer (its Jacobian is not diagonal), which the hidden
            # layers' rule δ = (W δ⁺) ⊙ f′(h) — an element-wise f — cannot express
            hint = (f" ({SOFTMAX} is for the output layer only: each of its outputs depends on every unit of the "
                    f"layer, and a hidden layer's back-propagation rule δ = (W δ) ⊙ f′(h) needs an element-wise "
                    f"activation)") if act == SOFTMAX else ""
            raise SpecError(f"unknown activation {act!r} for {where}{hint}; allowed: {', '.join(allowed)}")
    in_unit_interval = [a for a in names() if unit_interval(a)]
    binary = [loss.name for loss in LOSSES.values() if loss.unit_interval]
    if net.output == SOFTMAX and net.layers[-1] < 2:
        raise SpecError(f"{SOFTMAX} needs at least two outputs; for one output use --output "
                        f"{' or '.join(a for a in in_unit_interval if a != SOFTMAX)} with --loss {' or '.join(binary)}")
    if net.loss not in LOSSES:
        hint = (f" ({net.loss} is defined with one argument, an activation; a loss takes two: --define "
                f"'{net.loss}(yhat, y) = …')") if net.loss in names() else ""
        raise SpecError(f"unknown loss {net.loss!r}{hint}; allowed: {', '.join(LOSSES)}")
    loss = LOSSES[net.loss]
    if loss.output is not None and net.output != loss.output:
        raise SpecError(f"loss {loss.name} needs --output {loss.output} (got {net.output!r}); "
                        f"for one output use {' or '.join(binary)}")
    if loss.unit_interval and not unit_interval(net.output):
        raise SpecError(
            f"loss {loss.name} needs an output in (0, 1), i.e. --output {' or '.join(in_unit_interval)}; got {net.output!r}"
        )
    if loss.one_hot and net.layers[-1] < 2:
        raise SpecError(f"loss {loss.name} needs at least two outputs, one per class (one-hot targets of one class "
                        f"make it constant); for one output use --loss {' or '.join(binary)}")
    if isinstance(net.l2, bool) or not (isinstance(net.l2, (int, float)) and 0 <= net.l2 < MAX_L2):
        raise SpecError(f"l2 (the weight decay λ) must be a number in [0, {MAX_L2:g}), got {net.l2!r}; "
                        f"typical values are 1e-4 to 1e-2")
    if net.bias not in BIAS_NOTATIONS:
        raise SpecError(f"unknown bias notation {net.bias!r}; allowed: {', '.join(BIAS_NOTATIONS)}")
