"""Shared fixtures: a tiny random BERT with a WordPiece tokenizer, built offline in seconds.

Fixtures only; what they are built from lives in tests/helpers.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import build_tiny_bert, build_tiny_cross, require_data, run_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _needs_data(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.needs_data("csfcube", "sts")``: those paths under the data folder, or the
    test skips (fails under CI=true, see ``tests.helpers.missing``)."""
    for marker in request.node.iter_markers("needs_data"):
        for part in marker.args:
            require_data(*part.split("/"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain transformers folder (config.json + model.safetensors + tokenizer)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="session")
def tiny_st(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT saved by finesim as a sentence-transformers folder (mean, normalised)."""
    from finesim import Encoder

    out = tmp_path_factory.mktemp("tiny-st") / "model"
    Encoder(tiny_bert, pooling="mean", normalize=True).save(out)
    return out


@pytest.fixture(scope="session")
def tiny_cross(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT as a one-score cross-encoder, saved by sentence-transformers 6.2."""
    return build_tiny_cross(tmp_path_factory.mktemp("tiny-cross") / "model", tiny_bert)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``cli("encode", ...)`` -> (exit status, stdout, stderr)."""
    return lambda *args: run_cli(capsys, monkeypatch, *args)
