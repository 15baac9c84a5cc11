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
