"""The ``finesim`` command line: every Typer command lives in this package, and nothing
below it imports it."""

from finesim.cli.main import app, main

__all__ = ["app", "main"]
