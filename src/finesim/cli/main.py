"""The ``finesim`` app: every command and group added here, in one place, in ``--help`` order;
``main`` turns every user error into one line on stderr and exit status 2."""

from __future__ import annotations

import logging
import os
import sys

import typer

from finesim._util.errors import FinesimError
from finesim.cli.adapt import adapt_command, whiten_command
from finesim.cli.bench import bench_app
from finesim.cli.demo import demo
from finesim.cli.distill import distill_command
from finesim.cli.encode import encode, info, similarity
from finesim.cli.eval import eval_app, report_app
from finesim.cli.export import export_command
from finesim.cli.facets import facets_app
from finesim.cli.mine import negatives_command
from finesim.cli.papers import papers_command
from finesim.cli.rerank import rerank_command
from finesim.cli.search import index_app, search
from finesim.cli.serve import serve_command
from finesim.cli.tasks import classify_app, mine_app
from finesim.cli.train import train_command

try:  # typer >= 0.26 carries its own copy of click and raises that copy's exceptions
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer runs on click itself
    import click  # type: ignore[no-redef]

app = typer.Typer(
    help="finesim: sentence embeddings and fine-grained text similarity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log = logging.getLogger("finesim")

app.command("papers")(papers_command)
app.command("encode")(encode)
app.command("similarity")(similarity)
app.command("info")(info)
app.command("demo")(demo)
app.command("search")(search)
app.command("rerank")(rerank_command)
app.command("train")(train_command)
app.command("adapt")(adapt_command)
app.command("whiten")(whiten_command)
app.command("distill")(distill_command)
app.command("export")(export_command)
app.command("serve")(serve_command)
app.add_typer(eval_app, name="eval")
app.add_typer(report_app, name="report")
app.add_typer(index_app, name="index")
app.add_typer(facets_app, name="facets")
mine_app.command("negatives")(negatives_command)
app.add_typer(mine_app, name="mine")
app.add_typer(classify_app, name="classify")
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit status 2."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(format="finesim: %(message)s", level=logging.WARNING)
    log.setLevel(logging.INFO)
    try:
        code = app(standalone_mode=False)
    except FinesimError as e:
        typer.echo(f"finesim: error: {e}", err=True)
        sys.exit(2)
    except click.ClickException as e:  # a usage error: click's own message and status
        e.show()
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("finesim: interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        typer.echo(f"finesim: error: {e}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
