"""The ``symnet`` command line (contract in DESIGN.md).

Every command reads a SPEC (``2-2-1`` with options, or a TOML file) and hands the network to the
library; bad input ends in one line on stderr and exit status 2, a negative verdict in exit status 1.
"""
from __future__ import annotations

import inspect
import sys
from typing import Callable

import click

from symnet.version import __version__
from symnet.errors import InputError, VerdictError
from symnet.functions.activations import names as activation_names
from symnet.functions.losses import LABEL_FORMS, LOSSES, REDUCTIONS
from symnet.spec import BIAS_NOTATIONS, DEFAULTS, Graph, Network, load


#: what SPEC is, in the group's help and in every command's that takes one (\b keeps click from rewrapping it)
SPEC_HELP = """\b
SPEC is the network, either
  N0-N1-...-NL  the layer sizes, with --hidden, --output and --loss
                e.g.  symnet {command} 2-8-2 --hidden tanh --output softmax --loss cce{extra}
  FILE.toml     a file with the keys layers, hidden, output, loss, bias, l2 and [define]
                e.g.  layers = [2, 2, 1]   hidden = "tanh"   loss = "mse"
                or a graph: inputs and [nodes], each node an expression over x and earlier nodes
                e.g.  inputs = 4   [nodes] a1 = "relu(dense(x, 8))"   a2 = "relu(dense(a1, 8) + a1)"
                      yhat = "softmax(dense(a2, 3))"   loss = "cce(yhat, y)"
A spec file holds the whole network: --hidden, --output, --loss, --bias and --l2 go in it, not beside it."""

#: the rest of each command's SPEC example, where the command needs more than SPEC
SPEC_EXAMPLE_TAIL = {"derive": " -o net.tex", "codegen": " -o kernel.py", "check": " --wrt 'W1[1,1]' --claim EXPR",
                     "check-code": "",
                     "example": " --values VALUES.toml", "train": " --data moons"}


#: what comes between the command and SPEC in its example
SPEC_EXAMPLE_HEAD = {"check-code": "check-code mine.py"}


def spec_options(f: Callable | None = None, *, bias: bool = False) -> Callable:
    """SPEC and the options that describe a network, and SPEC's explanation added to the command's help.
    ``bias``: the command takes --bias (only where the bias notation changes what it does)."""
    if f is None:
        return lambda g: spec_options(g, bias=bias)
    command = f.__name__.removesuffix("_command").replace("_", "-")
    f.__doc__ = inspect.cleandoc(f.__doc__ or "") + "\n\n" + SPEC_HELP.format(
        command=SPEC_EXAMPLE_HEAD.get(command, command), extra=SPEC_EXAMPLE_TAIL.get(command, ""))
    if bias:
        help = ("How biases are named: separate b<k>[j], or augmented, the last row W<k>[n+1,j] of each weight "
                "matrix (as in the first reference article).")
        f = click.option("--bias", type=click.Choice(BIAS_NOTATIONS), default=None,
                         show_default=DEFAULTS["bias"], help=help)(f)
    # a plain name, not a Choice: a --define'd loss is registered after the options are declared (Network
    # checks the name and lists the allowed ones)
    f = click.option("--loss", metavar="|".join(LOSSES) + "|NAME", default=None, show_default=DEFAULTS["loss"],
                     help="The loss E: mse (½ squared error), bce (binary cross-entropy), cce (cross-entropy), "
                          "focal (Lin et al.'s, γ = 2), hinge (CS231n's multiclass SVM, over raw scores: --output "
                          "identity), or one you --define.")(f)
    f = click.option("--l2", type=float, default=None, metavar="LAMBDA", expose_value=False, callback=_remember,
                     help="L2 weight decay: the cost gains (λ/2)·Σ W² over every weight (biases are not decayed), "
                          "so every ∂E/∂W gains λ·W.")(f)
    f = click.option("--reduction", type=click.Choice(REDUCTIONS), default=None, expose_value=False,
                     callback=_remember, show_default="mean",
                     help="How a batch's cost gathers its samples' errors: their mean (PyTorch's default) or their "
                          "sum (Welch's summed loss, PyTorch's reduction='sum'; no 1/m in any gradient).")(f)
    f = click.option("--labels", type=click.Choice(LABEL_FORMS), default=None, expose_value=False,
                     callback=_remember, show_default="onehot",
                     help="A one-hot loss's targets as people's code reads them (check-code): one-hot rows, or "
                          "each sample's class 0 … n-1 (CS231n's y).")(f)
    f = click.option("--output", "output_act", metavar="ACT", default=None, show_default=DEFAULTS["output"],
                     help=f"Output activation: {', '.join(activation_names())}.")(f)
    f = click.option("--hidden", metavar="ACT[,ACT...]", default=None, show_default=DEFAULTS["hidden"],
                     help="Hidden activation, or a comma list of one per hidden layer.")(f)
    f = click.option("--define", "definitions", metavar="'NAME(x) = FORMULA'", multiple=True, is_eager=True,
                     expose_value=False, callback=_define,
                     help="Define an activation, e.g. 'swish(x) = x*sigmoid(x)', or with (yhat, y) a per-output "
                          "loss term, e.g. 'huber(yhat, y) = where(abs(yhat - y) <= 1, (yhat - y)^2/2, "
                          "abs(yhat - y) - 1/2)'; repeatable. Formulas may use the activations, exp, log, sqrt, "
                          "abs, where(cond, a, b), < <= > >=, numbers, pi, + - * / ^.")(f)
    return click.argument("spec")(f)


def _define(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
    """Register --define's formulas before SPEC and the other options are read (they may name them)."""
    if values:
        from symnet.functions.formula import define

        define(values)


def optimizer_options(f: Callable) -> Callable:
    """--optimizer and its hyperparameters, read back with ``optimizer_settings()``."""
    from symnet.derivation.update import BETA1, BETA2, EPS, OPTIMIZERS, RMS_BETA2

    for name, metavar, text in (
            ("eps", "EPS", f"Adam's and RMSprop's ε in the denominator [{EPS.default:g}]."),
            ("beta2", "BETA2", f"Decay of the squared-gradient mean, in [0, 1) [Adam {BETA2.default:g}, RMSprop "
                               f"{RMS_BETA2.default:g}]."),
            ("beta1", "BETA1", f"Adam's decay of the gradient mean, in [0, 1) [{BETA1.default:g}]."),
            ("momentum", "MU", "Momentum μ in [0, 1) for momentum and nesterov [0.9]; without --optimizer, "
                               "--momentum MU > 0 means --optimizer momentum.")):
        f = click.option(f"--{name}", type=float, default=None, metavar=metavar, expose_value=False,
                         callback=_remember, help=text)(f)
    return click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default=None, expose_value=False,
                        callback=_remember, show_default="sgd, or momentum with --momentum",
                        help="The update rule: gradient descent, momentum, Nesterov momentum, RMSprop or Adam.")(f)


def resolve(optimizer: str | None = None, **given: float | None):
    """The optimiser and hyperparameters of the options (symnet.derivation.update.resolve)."""
    from symnet.derivation.update import resolve as resolve_options

    return resolve_options(optimizer, **given)


def optimizer_settings() -> dict[str, object]:
    """The options of ``optimizer_options`` as keywords: optimizer, momentum, beta1, beta2, eps."""
    meta = click.get_current_context().meta
    return {k: meta.get(f"symnet.{k}") for k in ("optimizer", "momentum", "beta1", "beta2", "eps")}


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Keep an option every spec-taking command shares (--l2) for ``load_network``."""
    ctx.meta[f"symnet.{param.name}"] = value


def load_network(spec: str, hidden: str | None, output_act: str | None, loss: str | None,
                 bias: str | None = None) -> Network | Graph:
    """SPEC as a layer list, or a graph spec's file as its graph."""
    meta = click.get_current_context().meta
    return load(spec, hidden=hidden, output=output_act, loss=loss, bias=bias, l2=meta.get("symnet.l2"),
                reduction=meta.get("symnet.reduction"), labels=meta.get("symnet.labels"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symnet")
def cli() -> None:
    """Derive, write up, compile and check the gradients of a feed-forward network.

    \b
    SPEC is the network, either
      N0-N1-...-NL  the layer sizes, with --hidden, --output and --loss
                    e.g.  symnet derive 2-2-1 --hidden tanh --loss mse -o net.tex
      FILE.toml     a file with the keys layers, hidden, output, loss, bias, l2 and [define]
                    e.g.  layers = [2, 2, 1]   hidden = "tanh"   loss = "mse"
                    or a graph: inputs and [nodes] (README.md, "Graphs")
                    e.g.  inputs = 4   [nodes] a1 = "relu(dense(x, 8))"   a2 = "relu(dense(a1, 8) + a1)"
                          yhat = "softmax(dense(a2, 3))"   loss = "cce(yhat, y)"

    Bad input ends with one line on standard error and exit status 2; a negative verdict (an incorrect claim,
    a failed gradient check, a diverged run) with exit status 1. 'symnet COMMAND --help' describes each
    command."""


@cli.command()
@spec_options(bias=True)
@click.option("-o", "out", metavar="OUT.tex", default=None, show_default="standard output",
              help="Write the LaTeX (with --html: the web page) here.")
@click.option("--html", "as_html", is_flag=True,
              help="Write a self-contained web page (MathML formulas, SVG figure) instead of LaTeX; without -o "
                   "it is written to the current directory, named after SPEC (2-2-1.html).")
@click.option("--pdf", is_flag=True,
              help="Also compile OUT.pdf next to OUT.tex (needs pdflatex); without -o both are written to the "
                   "current directory, named after SPEC (2-2-1.tex, or the TOML file's stem).")
@click.option("--values", metavar="VALUES.toml|random[:SEED]", default=None,
              help="Add a worked example at these numbers (x, y, learning_rate, W<k>, b<k>), or at small "
                   "readable ones drawn from SEED (0 if not given).")
@click.option("--params", default="all", metavar="all|LIST", show_default=True,
              help="Parameters whose chain rule is written out, e.g. 'W1[1,1],b2[1]'; all means a sample for "
                   "nets of more than 50 parameters.")
@optimizer_options
def derive(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
           out: str | None, as_html: bool, pdf: bool, values: str | None, params: str) -> None:
    """Write the derivation up as a LaTeX document (and compile it with --pdf), or as a web page (--html)."""
    from pathlib import Path

    from symnet.derivation.chains import derive as derive_network
    from symnet.files import check_writable, write_atomic
    from symnet.emit.latex.document import derive_command
    from symnet.emit.latex.render import compile_pdf, render_document

    from symnet.files import distinct_outputs

    if as_html and pdf:
        raise InputError("--html and --pdf cannot be combined: --html writes a web page, --pdf compiles the LaTeX")
    net = load_network(spec, hidden, output_act, loss, bias)
    optimizing = optimizer_settings()
    if as_html:
        _derive_html(net, spec, out, values, params, optimizing)
        return
    if pdf and out is None:  # named after the spec, in the current directory: 2-2-1.tex, or the TOML file's stem
        out = f"{Path(spec).stem if spec.endswith('.toml') else net.compact}.tex"
    out_path = Path(out) if out else None
    if out_path is not None:
        if pdf and out_path.suffix.lower() == ".pdf":
            raise InputError(f"-o {out} names the PDF; give the .tex file (-o {out_path.with_suffix('.tex')}) "
                             f"and --pdf writes the PDF next to it")
        distinct_outputs(inputs={"SPEC": spec if spec.endswith(".toml") else None, "--values": values},
                         outputs={"-o": out_path, "the PDF": out_path.with_suffix(".pdf") if pdf else None})
        check_writable(out_path)
        if pdf:
            check_writable(out_path.with_suffix(".pdf"))
    command = derive_command(net, values=values, params=params, out=out_path, **optimizing)
    tex = render_document(derive_network(net), values=values, params=params, command=command, **optimizing)
    if out_path is None:
        click.echo(tex, nl=False)
        return
    if pdf:
        # compile first: a document that does not compile leaves neither file behind
        data = compile_pdf(tex, out_path.with_suffix(".pdf"))
        write_atomic(out_path, tex)
        write_atomic(out_path.with_suffix(".pdf"), data)
        click.echo(f"wrote {out_path} and {out_path.with_suffix('.pdf')}: {net.describe()}")
    else:
        write_atomic(out_path, tex)
        click.echo(f"wrote {out_path}: {net.describe()} (compile it with --pdf, or pdflatex)")


def _derive_html(net, spec: str, out: str | None, values: str | None, params: str, optimizing: dict) -> None:
    """``symnet derive --html``: the write-up as one self-contained web page."""
    from pathlib import Path

    from symnet.derivation.chains import derive as derive_network
    from symnet.emit.html.graph_page import render_graph_page
    from symnet.emit.html.page import render_page
    from symnet.emit.latex.graph_writeup import of_graph
    from symnet.files import check_writable, distinct_outputs, write_atomic

    # named after the spec, in the current directory: 2-2-1.html, or the TOML file's stem
    out_path = Path(out) if out else Path(f"{Path(spec).stem if spec.endswith('.toml') else net.compact}.html")
    distinct_outputs(inputs={"SPEC": spec if spec.endswith(".toml") else None, "--values": values},
                     outputs={"-o": out_path})
    check_writable(out_path)
    from symnet.emit.latex.document import derive_command

    command = derive_command(net, values=values, params=params, out=out_path, html=True, **optimizing)
    d = derive_network(net)
    if of_graph(d, params):
        page = render_graph_page(d, values, command=command, **optimizing)
    else:
        page = render_page(d, values=values, params=params, command=command, **optimizing)
    write_atomic(out_path, page)
    click.echo(f"wrote {out_path}: {net.describe()} (a web page: open it in a browser)")


@cli.command()
@spec_options(bias=True)
@click.option("-o", "out", metavar="OUT.py", required=True, help="Where to write the kernel module.")
@click.option("--mode", type=click.Choice(("auto", "unrolled", "indexed")), default="auto", show_default=True,
              help="unrolled: straight-line code per sample (small nets); indexed: loops or batch matrix "
                   "products from the layer form; auto: unrolled where it compiles quickly and runs faster.")
@click.option("--dtype", type=click.Choice(("float64", "float32")), default="float64", show_default=True,
              help="The kernel's floating-point type.")
@click.option("--optimizer", type=click.Choice(("sgd", "momentum", "nesterov", "rmsprop", "adam")), default="sgd",
              show_default=True, help="The rule train_epoch applies: sgd (with momentum when train_epoch is given "
                                      "one), nesterov, rmsprop or adam (their state: init_state()).")
@click.option("--target", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="cpu: a Numba module for the CPU; cuda: numba.cuda kernels for an NVIDIA GPU, an epoch in "
                   "one launch (sgd and momentum; pip install 'symnet[cuda]').")
def codegen(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
            out: str, mode: str, dtype: str, optimizer: str, target: str) -> None:
    """Write a Numba training kernel module for SPEC (init_params, forward, loss, gradients, train_epoch)."""
    from symnet.emit.numba.builder import choose_layout, generate
    from symnet.files import check_writable, write_atomic

    from symnet.files import distinct_outputs

    net = load_network(spec, hidden, output_act, loss, bias)
    distinct_outputs(inputs={"SPEC": spec if spec.endswith(".toml") else None}, outputs={"-o": out})
    check_writable(out)
    if target == "cuda":
        from symnet.emit.numba.gpu import generate_cuda

        write_atomic(out, generate_cuda(net, dtype, output=out, optimizer=optimizer))
        click.echo(f"wrote {out}: {net.describe()}, CUDA kernels (an epoch in one launch), {dtype}")
        return
    write_atomic(out, generate(net, mode, dtype, output=out, optimizer=optimizer))
    layout = choose_layout(net, mode) if isinstance(net, Network) else "batch"
    click.echo(f"wrote {out}: {net.describe()}, {layout} layout, {dtype}")


@cli.command()
@spec_options
@click.option("--values", "values_path", required=True, type=click.Path(dir_okay=False),
              metavar="VALUES.toml|random[:SEED]",
              help="x, y, learning_rate and every W<k>, b<k> (rows = source neurons), or small readable values "
                   "drawn from SEED.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def example(spec: str, hidden: str | None, output_act: str | None, loss: str | None,
            values_path: str, as_json: bool) -> None:
    """The numbers of a hand calculation: forward pass, chain factors, gradients, one update."""
    from symnet.numeric import example as report
    from symnet.derivation.chains import Derivation
    from symnet.numeric.worked import WorkedExample, load_values

    net = load_network(spec, hidden, output_act, loss)
    values = load_values(values_path, net)
    worked = WorkedExample(Derivation(net), values)
    click.echo(report.as_json(worked) if as_json else report.as_text(worked), nl=False)


@cli.command()
@spec_options
@click.option("--data", "data_source", required=True, metavar="NAME|FILE",
              help="moons, circles, xor, spirals, digits, iris, wine, breast_cancer, or a .csv/.npz/.parquet file.")
@click.option("--label", default=None, metavar="COLUMN", show_default="the last column",
              help="The label column of a CSV file.")
@click.option("--epochs", type=int, default=20, show_default=True, help="Passes over the training rows.")
@click.option("--lr", type=float, default=None, show_default="0.1; 0.001 for rmsprop and adam",
              help="Learning rate α.")
@click.option("--batch-size", type=int, default=32, show_default=True,
              help="Rows per mini-batch (one update each; the last batch of an epoch may be smaller).")
@optimizer_options
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Initialisation, split and shuffling.")
@click.option("--target", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="Train with the CPU kernel or the GPU's (numba.cuda; sgd and momentum).")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              show_default="one, with BLAS's own threads in the matrix products",
              help="Threads per epoch: each batch's rows, then each layer's neurons, split among N threads that "
                   "call BLAS on one thread each (the batch-product layout; per-sample kernels run on one).")
@click.option("--test-fraction", type=float, default=0.2, show_default=True,
              help="Share of the rows held out for the test loss and accuracy (0 for none).")
@click.option("--standardize/--no-standardize", default=True, show_default=True,
              help="Scale features to zero mean, unit variance (training rows' statistics).")
@click.option("--shuffle/--no-shuffle", default=True, show_default=True,
              help="Visit the training rows in a new order each epoch, a permutation drawn from --seed.")
@click.option("--samples", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="Rows of a generated data set.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, metavar="FILE.png|.pdf|.svg",
              help="Write the loss and accuracy curves, in the format the extension names; for a classifier "
                   "of two input features also its decision boundary.")
@click.option("--save", type=click.Path(dir_okay=False), default=None, help="Write the parameters and spec (.npz).")
@click.option("--quiet", is_flag=True, help="Only the summary line.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS|local:N",
              help="Train data-parallel on a Dask cluster: a scheduler's tcp://host:port, or local:N for N local "
                   "worker processes. --data may then name shard files (a glob or a comma list of .npz/.csv), "
                   "each read by a worker. Needs pip install 'symnet[dask]'.")
def train(spec: str, hidden: str | None, output_act: str | None, loss: str | None,
          data_source: str, label: str | None, epochs: int, lr: float | None, batch_size: int,
          seed: int, target: str, threads: int | None, test_fraction: float, standardize: bool, shuffle: bool, samples: int,
          plot: str | None,
          save: str | None, quiet: bool, dask_address: str | None) -> None:
    """Train SPEC on a data set with its generated kernel.

    A run whose loss or parameters stop being finite numbers ends at that epoch with exit status 1, and
    writes neither --save nor --plot."""
    from symnet.train import data as datasets
    from symnet.files import check_writable, distinct_outputs
    from symnet.train.loop import Diverged, check_inputs
    from symnet.train.loop import train as run_training

    net = load_network(spec, hidden, output_act, loss)
    optimizing = optimizer_settings()
    rule = resolve(**optimizing)[0]
    lr = rule.default_lr if lr is None else lr
    for path in (plot, save):
        if path:
            check_writable(path)
    data_file = None if data_source in datasets.GENERATED + datasets.SKLEARN else data_source
    distinct_outputs(inputs={"--data": data_file}, outputs={"--save": save, "--plot": plot})
    if plot:
        from symnet.train.plot import plot_format

        plot_format(plot)
        _require_matplotlib()
    if threads is not None and (target == "cuda" or dask_address):
        raise InputError(f"--threads is for training on this machine's CPUs; drop it with "
                         f"{'--target cuda' if target == 'cuda' else '--dask (each worker runs one thread)'}")
    if target == "cuda":
        if dask_address:
            raise InputError("--target cuda and --dask cannot be combined: the Dask workers compute on their CPUs")
        from symnet.emit.numba.cache import require_gpu

        require_gpu()
    shards = None
    if dask_address:  # dask is imported only here
        from symnet.train.distributed import require_dask, shard_paths

        require_dask()
        shards = shard_paths(data_source)
    dataset = None if shards else datasets.load(data_source, label=label, samples=samples, seed=seed)
    if dataset is not None:
        check_inputs(net, dataset, epochs=epochs, lr=lr, batch_size=batch_size, test_fraction=test_fraction,
                     threads=threads, **optimizing)  # before the progress bar: an error is then one line
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=epochs, desc=f"train {net.compact}", unit="epoch", file=sys.stderr)

    def report(e) -> None:
        if bar is None:
            return
        shown = {"loss": f"{e.loss:.4g}"}
        if e.train_accuracy is not None:
            shown["train acc"] = f"{e.train_accuracy:.3f}"
        if e.test_accuracy is not None:
            shown["test acc"] = f"{e.test_accuracy:.3f}"
        elif e.test_loss is not None:
            shown["test loss"] = f"{e.test_loss:.4g}"
        bar.set_postfix(shown, refresh=False)
        bar.update(1)

    try:
        if dask_address:
            from symnet.train.distributed import train_on_cluster

            trained, dataset = train_on_cluster(
                net, dask_address, data_source, dataset, label=label, epochs=epochs, lr=lr, batch_size=batch_size,
                seed=seed, test_fraction=test_fraction, standardize=standardize, shuffle=shuffle, on_epoch=report,
                **optimizing)
        else:
            trained = run_training(net, dataset, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                                   test_fraction=test_fraction, standardize=standardize, shuffle=shuffle,
                                   on_epoch=report, target=target, threads=threads, **optimizing)
    except BaseException as e:
        if bar is not None:  # wipe the bar: the error is then the one line left on stderr
            bar.leave = False
            bar.close()
        if isinstance(e, Diverged):
            unwritten = " and ".join(p for p in (save, plot) if p)
            raise VerdictError(f"symnet: {e}" + (f" ({unwritten} not written)" if unwritten else "")) from None
        raise
    if bar is not None:
        bar.close()
    last = trained.history[-1]
    trained_with = "" if rule.name == "sgd" else f" with {rule.name}"
    parts = [f"{net.describe()} on {dataset.name}{trained_with}: {datasets.plural(epochs, 'epoch')}"]
    if last.test_accuracy is not None:
        parts.append(f"test accuracy {last.test_accuracy:.4f}")
    if last.test_loss is not None:
        parts.append(f"test loss {last.test_loss:.6g}")
    else:
        parts.append(f"train loss {last.loss:.6g}")
    parts.append(f"{trained.seconds_per_epoch:.4g} s/epoch (start-up and compile {trained.compile_seconds:.2f} s)")
    figure = None
    if plot:  # drawn before anything is written: a failure leaves neither file
        from symnet.train.plot import plot_format, render_history

        figure = render_history(trained, plot_format(plot), dataset)
    if save:
        trained.save(save)
        parts.append(f"saved {save}")
    if plot:
        from symnet.files import write_atomic

        write_atomic(plot, figure)
        parts.append(f"plot {plot}")
    click.echo(", ".join(parts))


@cli.command()
@click.argument("saved", metavar="SAVED.npz")
@click.option("--data", "data_source", required=True, metavar="FILE",
              help="A .csv, .npz or .parquet of inputs to predict: labels are optional (an .npz with only X, a CSV with "
                   "one column per input).")
@click.option("--label", default=None, metavar="COLUMN", show_default="the column after the inputs, if any",
              help="The label column of a CSV file, for the accuracy line.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), default=None,
              show_default="standard output",
              help="Write the predictions here (CSV); --output is the output activation everywhere else.")
def predict(saved: str, data_source: str, label: str | None, out: str | None) -> None:
    """Predict with parameters saved by 'symnet train --save'.

    Prints one CSV row per data row (the class and its probabilities, or a hinge's scores, or the outputs);
    when the file has labels, also the accuracy, on standard error."""
    from symnet.files import check_writable, distinct_outputs, write_atomic
    from symnet.train.predict import predict_file

    if out:
        check_writable(out)
        distinct_outputs(inputs={"SAVED": saved, "--data": data_source}, outputs={"-o": out})
    text, summary = predict_file(saved, data_source, label=label)
    if out:
        write_atomic(out, text)
    else:
        click.echo(text, nl=False)
    if summary:
        click.echo(summary, err=True)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'symnet[plot]'") from None


@cli.command("check")
@spec_options(bias=True)
@click.option("--wrt", required=True, metavar="NAME",
              help="The variable: a parameter W1[1,1], b2[1], or h1[2], a1[2], yhat, x1; or a whole matrix over a "
                   "batch (W1, b1, H1, A1, Yhat; in the course's names also dW1, Z1, dZ1) for a claim in NumPy's "
                   "matrix notation.")
@click.option("--of", "of", default="E", show_default=True, metavar="NAME",
              help="What is differentiated: E, or an intermediate quantity such as h2[1] (the chain's factors).")
@click.option("--claim", metavar="EXPR", default=None,
              help="The hand-derived derivative, e.g. '(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1'.")
@click.option("--claim-latex", metavar="TEX", default=None,
              help=r"The same in LaTeX, e.g. '(\hat{y}-y)\sigma(h)(1-\sigma(h))x_1'.")
@click.option("--batch", is_flag=True,
              help="E is the mean over m samples and the claim is one sample's term (with its 1/m); implied by m.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random points.")
@click.option("--convention", type=click.Choice(("rows", "columns")), default=None, show_default="rows",
              help="Matrix claims: samples are rows (symnet's: X is m×n0, Wk is n(k-1)×nk) or columns (the widely "
                   "taught course's: X is n0×m, Wk is nk×n(k-1), Zk = Wk @ A(k-1) + bk).")
def check_command(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
                  wrt: str, of: str, claim: str | None, claim_latex: str | None, batch: bool, seed: int,
                  convention: str | None) -> None:
    """Check a hand-derived derivative: exit 0 correct, 1 incorrect (with a counterexample), 2 bad input.

    A scalar claim (--wrt W1[1,1]) is one sample's derivative in the network's names; a matrix claim (--wrt W1)
    is ∂E/∂W1 over a batch of m samples in NumPy's notation: @ .T * / + - **, sum(…, axis=0), mean(…, axis=0),
    element-wise activations, over X, Y, Yhat, Hk (Zk), Ak, Wk, bk, Dk = ∂E/∂Hk and m."""
    from symnet.verify.matrix import check_matrix, is_matrix_name
    from symnet.verify.verdict import check

    if (claim is None) == (claim_latex is None):
        raise InputError("give the claim once: --claim EXPR or --claim-latex TEX")
    net = load_network(spec, hidden, output_act, loss, bias)
    if is_matrix_name(wrt, net):
        if of != "E" or claim_latex is not None or batch:
            raise InputError("a matrix claim is ∂E/∂(a whole matrix) over the batch, given as NumPy text with --claim "
                             "(no --of, --claim-latex or --batch)")
        matrix = check_matrix(net, wrt, claim, convention=convention or "rows", seed=seed)
        click.echo(matrix.report())
        if not matrix.ok:
            raise VerdictError(f"symnet: the claim is not {matrix.derivative}")
        return
    if convention is not None:
        raise InputError("--convention is for matrix claims (--wrt W1, b1, H1, A1, Yhat: a whole matrix)")
    verdict = check(net, wrt=wrt, of=of, claim=claim if claim is not None else claim_latex,
                    latex=claim is None, batch=batch, seed=seed)
    click.echo(verdict.report())
    if not verdict.correct:
        raise VerdictError(f"symnet: the claim is not {verdict.derivative}")


@cli.command("check-code")
@click.argument("file", metavar="FILE.py", type=click.Path(dir_okay=False))
@spec_options
@click.option("--function", "function", default=None, metavar="NAME",
              show_default="backprop or gradients, else the file's one public function of three arguments",
              help="The function (params, X, Y) -> gradients to check.")
@click.option("--convention", type=click.Choice(("rows", "columns")), default="rows", show_default=True,
              help="rows: X is m×n0, Wk is n(k-1)×nk, bk (nk,), Hk = A(k-1) @ Wk + bk (symnet's); columns: X is "
                   "n0×m, Wk is nk×n(k-1), bk (nk, 1), Zk = Wk @ A(k-1) + bk (the widely taught course's).")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=600), default=20.0, show_default=True,
              help="Seconds your file may take in all; then its process is killed.")
def check_code_command(file: str, spec: str, hidden: str | None, output_act: str | None, loss: str | None,
                       function: str | None, convention: str, timeout: float) -> None:
    """Check your own NumPy back-propagation: FILE.py defines a function (params, X, Y) -> gradients, which
    symnet calls on random batches and compares, gradient by gradient, with the derivation's; a wrong one is
    named with its layer (counted from the output) and the mistake (transposed, summed instead of averaged,
    sign, f′ missing or another activation's, * for @, bias not summed over the batch, …).

    \b
    params = [W1, b1, W2, b2, ...]; E is the mean over the m samples of the per-sample loss (their sum
    with --reduction sum); Y is one-hot (each sample's class, int64, with --labels int); return
    [dW1, db1, ...] in the shapes of params (or a dict {"W1": dW1, ...}).

    FILE.py is your code: it runs, at your request, in a separate Python process with a time limit
    (--timeout) and a memory cap, and is killed when the time is up, as pytest would run it. Exit status 0:
    every gradient right; 1: a wrong one; 2: bad input (a file that fails, hangs or returns the wrong shapes)."""
    from symnet.verify.code import check_code

    net = load_network(spec, hidden, output_act, loss)
    report = check_code(file, net, function=function, convention=convention, timeout=timeout)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        where = f" (from layer {report.first_wrong_layer})" if report.first_wrong_layer else ""
        raise VerdictError(f"symnet: the gradients of {file} are not the derivation's{where}")


@cli.command()
@spec_options
@click.option("--mode", type=click.Choice(("auto", "unrolled", "indexed")), default="auto", show_default=True,
              help="The kernel layout checked (as in codegen).")
@click.option("--dtype", type=click.Choice(("float64", "float32")), default="float64", show_default=True,
              help="The kernel's floating-point type.")
@click.option("--tol", type=float, default=None, callback=lambda ctx, param, v: _tolerance(v),
              show_default="1e-6; 1e-2 for float32", help="Largest relative error accepted.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the point checked.")
def gradcheck(spec: str, hidden: str | None, output_act: str | None, loss: str | None,
              mode: str, dtype: str, tol: float | None, seed: int) -> None:
    """Check the generated kernel's gradients against central finite differences of its loss."""
    from symnet.emit.numba.cache import compile as compile_kernel
    from symnet.numeric.finite_differences import gradcheck as check

    net = load_network(spec, hidden, output_act, loss)
    tol = tol if tol is not None else (1e-6 if dtype == "float64" else 1e-2)
    result = check(compile_kernel(net, mode, dtype), seed=seed)
    checked = sum(a.size for a in result.analytic)
    line = (f"gradcheck {net.describe()} ({mode}, {dtype}): max relative error {result.max_relative_error:.2e}"
            f" over {checked} of {net.n_params} parameters (tolerance {tol:.0e})")
    if not result.max_relative_error <= tol:
        raise VerdictError(f"symnet: {line}: FAILED")
    click.echo(f"{line}: ok")


def _tolerance(value: float | None) -> float | None:
    # click's FloatRange lets nan through (every comparison with it is false)
    if value is not None and not 0 < value <= 1:
        raise click.BadParameter(f"{value} is not a relative error in (0, 1]")
    return value


class _Interrupted(BaseException):
    """SIGINT while a command runs: raised past click, which would print a blank line for it first."""


def _raise_interrupted(signum, frame) -> None:
    raise _Interrupted()


def _catch_sigint():
    """Route Ctrl-C to :class:`_Interrupted` while ``main`` runs; the previous handler, to restore."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:  # someone chose otherwise (ignored, or their own)
        return None
    signal.signal(signal.SIGINT, _raise_interrupted)
    return previous


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Entry point: click does the parsing; we decide what an error looks like (one line)."""
    import signal

    previous = _catch_sigint()
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _main(args: list[str]) -> int:
    try:
        cli.main(args=args, prog_name="symnet", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except (_Interrupted, KeyboardInterrupt):
        # on a terminal, start a fresh line after the ^C it echoed; elsewhere the message is the one line
        click.echo(f"{chr(10) if _isatty(sys.stderr) else ''}symnet: interrupted", err=True)
        return 130
    except click.exceptions.Abort as e:
        interrupted = isinstance(e.__cause__, KeyboardInterrupt)
        click.echo(f"symnet: {'interrupted' if interrupted else 'aborted'}", err=True)
        return 130
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "symnet"
        click.echo(f"symnet: {e.format_message()} (see '{cmd} --help')", err=True)
        return 2
    except click.ClickException as e:
        click.echo(f"symnet: {e.format_message()}", err=True)
        return 2
    except InputError as e:
        click.echo(f"symnet: {e}", err=True)
        return 2
    except VerdictError as e:
        click.echo(str(e), err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
