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


@cli.command("check")
@spec_options
@click.option("--wrt", required=True, metavar="NAME", help="The variable: a parameter W1[1,1], b2[1], or h1[2], a1[2], yhat, x1.")
@click.option("--of", "of", default="E", show_default=True, metavar="NAME",
              help="What is differentiated: E, or an intermediate quantity such as h2[1] (the chain's factors).")
@click.option("--claim", metavar="EXPR", default=None,
              help="The hand-derived derivative, e.g. '(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1'.")
@click.option("--claim-latex", metavar="TEX", default=None,
              help=r"The same in LaTeX, e.g. '(\hat{y}-y)\sigma(h)(1-\sigma(h))x_1'.")
@click.option("--batch", is_flag=True,
              help="E is the mean over m samples and the claim is one sample's term (with its 1/m); implied by m.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random points.")
def check_command(spec: str, hidden: str | None, output_act: str | None, loss: str | None, bias: str | None,
                  wrt: str, of: str, claim: str | None, claim_latex: str | None, batch: bool, seed: int) -> None:
    """Check a hand-derived derivative: exit 0 correct, 1 incorrect (with a counterexample), 2 bad input."""
    from .check import check

    if (claim is None) == (claim_latex is None):
        raise InputError("give the claim once: --claim EXPR or --claim-latex TEX")
    net = load_network(spec, hidden, output_act, loss, bias)
    verdict = check(net, wrt=wrt, of=of, claim=claim if claim is not None else claim_latex,
                    latex=claim is None, batch=batch, seed=seed)
    click.echo(verdict.report())
    if not verdict.correct:
        raise VerdictError(f"symnet check: the claim is not {verdict.derivative}")


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
