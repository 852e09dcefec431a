"""Parity with sentence-transformers 6.2 for the models users bring beyond Transformer ->
Pooling -> Dense -> Normalize: prompts (``include_prompt`` both ways), ``Router``,
``StaticEmbedding``, ``lasttoken`` and a saved ``truncate_dim``.

Each model is built and saved by sentence-transformers itself (random weights, tiny vocabulary);
finesim must give the same vectors for ``encode`` / ``encode_query`` / ``encode_document``, and
a folder finesim saves must load in sentence-transformers with the same vectors again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finesim import Encoder
from finesim._util.errors import FinesimError

TEXTS = [
    "a cat sat on the mat",
    "the quick brown fox jumps over the lazy dog and keeps running far away",
    "dogs",
    "",
]
PROMPTS = {"query": "red model: ", "document": "blue paper: "}
TOL = 1e-5


def _st() -> Any:
    st = pytest.importorskip("sentence_transformers")
    assert st.__version__.startswith("6.2"), st.__version__
    return st


def _build(tiny_bert: Path, out: Path, *, pooling: str, include_prompt: bool, **kw: Any) -> Path:
    st = _st()
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    transformer = Transformer(str(tiny_bert))
    pool = Pooling(transformer.get_embedding_dimension(), pooling, include_prompt=include_prompt)
    model = st.SentenceTransformer(modules=[transformer, pool], device="cpu", **kw)
    model.save(str(out))
    return out


def _static(tiny_bert: Path, seed: int = 1) -> Any:
    import torch
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_bert / "tokenizer.json"))
    torch.manual_seed(seed)
    weights = torch.randn(tokenizer.get_vocab_size(), 32)
    return StaticEmbedding(tokenizer, embedding_weights=weights)


def _same(ours: np.ndarray, theirs: Any) -> float:
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max())


def _check_all(folder: Path, encoder: Encoder | None = None) -> dict[str, float]:
    """Max |finesim - sentence-transformers| for encode, encode_query, encode_document."""
    st = _st()
    theirs = st.SentenceTransformer(str(folder), device="cpu")
    ours = encoder or Encoder(folder)
    gaps = {
        "encode": _same(ours.encode(TEXTS), theirs.encode(TEXTS)),
        "query": _same(ours.encode_query(TEXTS), theirs.encode_query(TEXTS)),
        "document": _same(ours.encode_document(TEXTS), theirs.encode_document(TEXTS)),
    }
    assert max(gaps.values()) < TOL, gaps
    return gaps


def _round_trip(folder: Path, tmp_path: Path) -> None:
    """finesim saves, sentence-transformers loads: same vectors; and finesim reloads them."""
    saved = Encoder(folder).save(tmp_path / "resaved")
    _check_all(saved)
    again = Encoder(saved)
    for call in ("encode", "encode_query", "encode_document"):
        a, b = getattr(Encoder(folder), call)(TEXTS), getattr(again, call)(TEXTS)
        assert np.abs(a - b).max() < TOL, call


@pytest.mark.parametrize("include_prompt", [True, False])
@pytest.mark.parametrize("pooling", ["mean", "cls", "lasttoken", "weightedmean", "max"])
def test_prompts_match_sentence_transformers(
    tiny_bert: Path, tmp_path: Path, pooling: str, include_prompt: bool
) -> None:
    folder = _build(
        tiny_bert,
        tmp_path / "m",
        pooling=pooling,
        include_prompt=include_prompt,
        prompts=PROMPTS,
        default_prompt_name="query",
    )
    encoder = Encoder(folder)
    assert encoder.prompts == PROMPTS and encoder.default_prompt_name == "query"
    _check_all(folder, encoder)
    theirs = _st().SentenceTransformer(str(folder), device="cpu")
    for kwargs in ({"prompt_name": "document"}, {"prompt": "find: "}, {"prompt_name": None}):
        gap = _same(encoder.encode(TEXTS, **kwargs), theirs.encode(TEXTS, **kwargs))
        assert gap < TOL, kwargs
    # the prompt changes the vectors (else the comparison above proves little)
    plain = encoder.encode(TEXTS, prompt="")
    assert np.abs(plain - encoder.encode(TEXTS)).max() > 1e-3
    _round_trip(folder, tmp_path)
    cfg = json.loads((tmp_path / "resaved" / "1_Pooling" / "config.json").read_text())
    assert cfg["include_prompt"] is include_prompt


def test_unknown_prompt_name_is_refused(tiny_bert: Path, tmp_path: Path) -> None:
    folder = _build(tiny_bert, tmp_path / "m", pooling="mean", include_prompt=True, prompts=PROMPTS)
    with pytest.raises(FinesimError, match="unknown prompt_name .nope.; this model.s prompts: "):
        Encoder(folder).encode(TEXTS, prompt_name="nope")


def test_lasttoken_and_saved_truncate_dim(tiny_bert: Path, tmp_path: Path) -> None:
    folder = _build(tiny_bert, tmp_path / "m", pooling="lasttoken", include_prompt=True)
    _check_all(folder)
    _round_trip(folder, tmp_path)
    st = _st()
    model = st.SentenceTransformer(str(folder), device="cpu", truncate_dim=8)
    model.save(str(tmp_path / "cut"))
    encoder = Encoder(tmp_path / "cut")
    assert encoder.truncate_dim == 8 and encoder.dim == 8
    ours = encoder.encode(TEXTS, normalize=False)
    assert _same(ours, model.encode(TEXTS)) < TOL
    resaved = encoder.save(tmp_path / "cut2")
    saved = json.loads((resaved / "config_sentence_transformers.json").read_text())
    assert saved["truncate_dim"] == 8
    assert st.SentenceTransformer(str(resaved), device="cpu").truncate_dim == 8
    assert Encoder(tmp_path / "cut", truncate_dim=4).dim == 4  # the caller's choice wins


def test_static_embedding(tiny_bert: Path, tmp_path: Path) -> None:
    st = _st()
    from sentence_transformers.sentence_transformer.modules import Normalize

    model = st.SentenceTransformer(modules=[_static(tiny_bert), Normalize()], device="cpu")
    model.save(str(tmp_path / "static"))
    encoder = Encoder(tmp_path / "static")
    assert encoder.dim == 32 and encoder.info()["architecture"] == "StaticEmbedding"
    gaps = _check_all(tmp_path / "static", encoder)
    assert gaps["encode"] < TOL
    _round_trip(tmp_path / "static", tmp_path)
    with pytest.raises(FinesimError, match="no transformer"):
        _ = encoder.transformer
    with pytest.raises(FinesimError, match="one-transformer models only"):
        Encoder(tmp_path / "static", backend="onnx")


def test_router_query_document(tiny_bert: Path, tmp_path: Path) -> None:
    st = _st()
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Router,
        Transformer,
    )

    transformer = Transformer(str(tiny_bert))
    router = Router.for_query_document(
        query_modules=[_static(tiny_bert)],
        document_modules=[transformer, Pooling(32, "mean")],
    )
    model = st.SentenceTransformer(
        modules=[router, Normalize()], device="cpu", prompts={"query": "q: "}
    )
    model.save(str(tmp_path / "router"))
    encoder = Encoder(tmp_path / "router")
    assert set(encoder.routes) == {"query", "document"}
    assert encoder.route_name(None) == "document" and encoder.route_name("query") == "query"
    _check_all(tmp_path / "router", encoder)
    q, d = encoder.encode_query(TEXTS), encoder.encode_document(TEXTS)
    assert np.abs(q - d).max() > 1e-3  # the routes differ
    _round_trip(tmp_path / "router", tmp_path)
    with pytest.raises(FinesimError, match="no route for task 'classify'"):
        encoder.encode(TEXTS, task="classify")


def test_unsupported_module_named(tiny_st: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "odd"
    shutil.copytree(tiny_st, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.insert(
        2, {"idx": 9, "name": "9", "path": "", "type": "sentence_transformers.models.LSTM"}
    )
    for i, m in enumerate(modules):
        m["idx"] = i
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(
        FinesimError, match="unsupported module type 'sentence_transformers.models.LSTM'"
    ):
        Encoder(folder)
