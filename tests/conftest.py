"""Shared fixtures: a tiny random BERT with a WordPiece tokenizer, built offline in seconds.

Fixtures only; what they are built from lives in tests/helpers.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
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


@pytest.fixture
def short(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """CSFCube with every paper its title alone (the tiny WordPiece vocabulary makes long
    abstracts slow to tokenize) and the encoder's terms random tables (seeded) on the real
    pools: no encoder has to embed 4,205 papers. What it tests is which reranker scores which
    query. Returns a stand-in encoder with the papers and pools."""
    from finesim.data import csfcube
    from finesim.evaluation import csfcube_hybrid, csfcube_rerank
    from finesim.fusion.terms import TERMS

    papers = {pid: csfcube.Paper(pid, p.title, [], []) for pid, p in csfcube.load_papers().items()}
    monkeypatch.setattr(csfcube_rerank, "load_papers", lambda: papers)
    monkeypatch.setattr(csfcube, "load_papers", lambda path=None: papers)
    pools = [p for f in ("background", "method", "result") for p in csfcube.load_pools(f)]
    rng = np.random.default_rng(0)
    tables = {p.key: {t: rng.normal(size=len(p.candidates)) for t in TERMS} for p in pools}

    def build_tables(encoder, whitening, terms, **options):  # noqa: ANN001, ANN202
        assert "rerank" not in terms  # the encoder's tables never hold it
        return pools, {csfcube_hybrid.whitening_name(w): tables for w in whitening}

    monkeypatch.setattr(csfcube_hybrid, "build_tables", build_tables)
    return SimpleNamespace(source="random", dim=8, papers=papers, pools=pools)
