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
@click.option("-o", "out", metavar="OUT.tex", default=None, help="Write the LaTeX here (default: standard output).")
@click.option("--pdf", is_flag=True, help="Also compile OUT.pdf next to OUT.tex (needs pdflatex).")
@click.option("--values", metavar="VALUES.toml", default=None, help="Add a worked example at these numbers.")
@click.option("--params", default="all", metavar="all|LIST",
              help="Parameters whose chain rule is written out, e.g. 'W1[1,1],b2[1]' (default all; "
                   "samples for nets of more than 50 parameters).")
@click.option("--momentum", type=float, default=None, metavar="MU", help="Show the update with momentum MU.")
def derive(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
           out: str | None, pdf: bool, values: str | None, params: str, momentum: float | None) -> None:
    """Write the derivation up as a LaTeX document (and compile it with --pdf)."""
    from pathlib import Path

    from .derivation import derive as derive_network
    from .files import check_writable, write_atomic
    from .latex import compile_pdf, render_document

    net = load_network(spec, hidden, output_act, loss, bias)
    if pdf and out is None:
        raise InputError("--pdf needs -o OUT.tex (the PDF is written next to it)")
    out_path = Path(out) if out else None
    if out_path is not None:
        check_writable(out_path)
        if pdf:
            check_writable(out_path.with_suffix(".pdf"))
    tex = render_document(derive_network(net), values=values, params=params, momentum=momentum)
    if out_path is None:
        click.echo(tex, nl=False)
        return
    if pdf:
        # compile first: a document that does not compile leaves neither file behind
        data = compile_pdf(tex, out_path.with_suffix(".pdf"))
        write_atomic(out_path, tex)
        write_atomic(out_path.with_suffix(".pdf"), data)
    else:
        write_atomic(out_path, tex)


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
