"""The ``symnet`` command line (contract in DESIGN.md).

Every command reads a SPEC (``2-2-1`` with options, or a TOML file) and hands the network to the
library; bad input ends in one line on stderr and exit status 2, a negative verdict in exit status 1.
"""
from __future__ import annotations

import sys
from typing import Callable

import click

from . import __version__
from .errors import InputError, VerdictError
from .spec import ACTIVATIONS, BIAS_NOTATIONS, LOSSES, Network


def spec_options(f: Callable) -> Callable:
    """SPEC and the options that describe a network, shared by every command."""
    f = click.option("--bias", type=click.Choice(BIAS_NOTATIONS), default=None,
                     help="How the write-up prints biases (default separate).")(f)
    f = click.option("--loss", type=click.Choice(LOSSES), default=None, help="Loss (default mse).")(f)
    f = click.option("--output", "output_act", metavar="ACT", default=None,
                     help=f"Output activation: {', '.join(ACTIVATIONS)} (default sigmoid).")(f)
    f = click.option("--hidden", metavar="ACT[,ACT...]", default=None,
                     help="Hidden activation, or one per hidden layer (default sigmoid).")(f)
    return click.argument("spec")(f)


def load_network(spec: str, hidden: str | None, output_act: str | None, loss: str | None,
                 bias: str | None) -> Network:
    return Network.load(spec, hidden=hidden, output=output_act, loss=loss, bias=bias)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symnet")
def cli() -> None:
    """Derive, write up, compile and check the gradients of a feed-forward network."""


@cli.command()
@spec_options
@click.option("-o", "out", metavar="OUT.py", required=True, help="Where to write the kernel module.")
@click.option("--mode", type=click.Choice(("auto", "unrolled", "indexed")), default="auto", show_default=True,
              help="unrolled: straight-line code per sample (small nets); indexed: loops or batch matrix "
                   "products from the layer form; auto: unrolled where it compiles quickly and runs faster.")
@click.option("--dtype", type=click.Choice(("float64", "float32")), default="float64", show_default=True)
def codegen(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
            out: str, mode: str, dtype: str) -> None:
    """Write a Numba training kernel module for SPEC (init_params, forward, loss, gradients, train_epoch)."""
    from .codegen import choose_layout, generate
    from .files import check_writable, write_atomic

    net = load_network(spec, hidden, output_act, loss, bias)
    check_writable(out)
    write_atomic(out, generate(net, mode, dtype, output=out))
    click.echo(f"wrote {out}: {net.describe()}, {choose_layout(net, mode)} layout, {dtype}")


@cli.command()
@spec_options
@click.option("--mode", type=click.Choice(("auto", "unrolled", "indexed")), default="auto", show_default=True)
@click.option("--dtype", type=click.Choice(("float64", "float32")), default="float64", show_default=True)
@click.option("--tol", type=float, default=None, help="Largest relative error accepted (default 1e-6; 1e-2 for float32).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the point checked.")
def gradcheck(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
              mode: str, dtype: str, tol: float | None, seed: int) -> None:
    """Check the generated kernel's gradients against central finite differences of its loss."""
    from .kernel_cache import compile as compile_kernel
    from .verify import gradcheck as check

    net = load_network(spec, hidden, output_act, loss, bias)
    tol = tol if tol is not None else (1e-6 if dtype == "float64" else 1e-2)
    result = check(compile_kernel(net, mode, dtype), seed=seed)
    checked = sum(a.size for a in result.analytic)
    line = (f"gradcheck {net.describe()} ({mode}, {dtype}): max relative error {result.max_relative_error:.2e}"
            f" over {checked} of {net.n_params} parameters (tolerance {tol:.0e})")
    if not result.max_relative_error <= tol:
        raise VerdictError(f"{line}: FAILED")
    click.echo(f"{line}: ok")


def main(argv: list[str] | None = None) -> int:
    """Entry point: click does the parsing; we decide what an error looks like (one line)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="symnet", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("symnet: aborted", err=True)
        return 130
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "symnet"
        click.echo(f"{cmd}: {e.format_message()} (see '{cmd} --help')", err=True)
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
    except KeyboardInterrupt:
        click.echo("symnet: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
