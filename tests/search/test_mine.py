"""Hard-negative mining equals an exhaustive reference written here and sentence-transformers'
``mine_hard_negatives`` on the same model and data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from finesim import Encoder
from finesim._util.errors import FinesimError
from finesim.search.mine import MineOptions, mine
from tests.helpers import SENTENCES, WORDS


@pytest.fixture(scope="module")
def tiny_encoder(tiny_st):
    return Encoder(tiny_st)


def _data(n_pairs: int = 24, n_corpus: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    words = list(WORDS)
    texts = list(dict.fromkeys(" ".join(rng.choice(words, 6)) for _ in range(4 * n_corpus)))
    corpus = texts[:n_corpus]
    anchors = [*SENTENCES[:n_pairs]]
    # a positive is its anchor with two words more: near it, as real positives are
    extra = [" ".join(t.split()[:2]) for t in texts[n_corpus:]]
    pairs = [(a, f"{a} {extra[i]}") for i, a in enumerate(anchors)]
    pairs.append((anchors[0], texts[n_corpus + 50]))  # a second positive for one anchor
    return pairs, corpus


def _reference(encoder, pairs, corpus, opts):
    """Brute force: every cosine, then the rules of sentence-transformers' docstring."""
    texts = list(dict.fromkeys([*corpus, *(p for _, p in pairs)]))
    positives: dict[str, list[str]] = {}
    for a, p in pairs:
        positives.setdefault(a, [])
        if p not in positives[a]:
            positives[a].append(p)
    c = encoder.encode(texts, normalize=True).astype(np.float64)
    out = []
    most = max(len(v) for v in positives.values())
    filtered = opts.absolute_margin is not None or opts.relative_margin is not None
    filtered = filtered or opts.max_score is not None
    range_max = (
        opts.range_max or opts.range_min + opts.num_negatives * (10 if filtered else 1) + most
    )
    for anchor, pos in positives.items():
        q = encoder.encode([anchor], normalize=True).astype(np.float64)[0]
        sims = c @ q
        weakest = min(sims[texts.index(p)] for p in pos)
        ranked = sorted(range(len(texts)), key=lambda j: -sims[j])[: range_max + most]
        keep = []
        for j in ranked:
            s = sims[j]
            bad = texts[j] in pos
            bad |= opts.absolute_margin is not None and s + opts.absolute_margin > weakest
            bad |= (
                opts.relative_margin is not None
                and s > weakest - abs(weakest) * opts.relative_margin
            )
            bad |= opts.max_score is not None and s > opts.max_score
            bad |= opts.min_score is not None and s < opts.min_score
            if not bad:
                keep.append(j)
        chosen = keep[:range_max][opts.range_min :][: opts.num_negatives]
        out += [(anchor, p, texts[j]) for p in pos for j in chosen]
    return out


OPTIONS = [
    MineOptions(),
    MineOptions(num_negatives=5, range_min=2),
    MineOptions(num_negatives=2, absolute_margin=0.05),
    MineOptions(num_negatives=2, relative_margin=0.02, max_score=0.97),
    MineOptions(num_negatives=4, range_max=20, min_score=0.2),
]


@pytest.mark.parametrize("opts", OPTIONS)
def test_mining_equals_the_exhaustive_reference(tiny_encoder, opts):
    pairs, corpus = _data()
    got = [(t.anchor, t.positive, t.negative) for t in mine(tiny_encoder, pairs, corpus, opts)]
    assert got == _reference(tiny_encoder, pairs, corpus, opts)
    assert got  # something was mined


def test_chunks_do_not_change_the_result(tiny_encoder):
    pairs, corpus = _data()
    whole = list(mine(tiny_encoder, pairs, corpus, MineOptions(num_negatives=3)))
    chunked = list(mine(tiny_encoder, pairs, corpus, MineOptions(num_negatives=3, query_chunk=5)))
    assert whole == chunked


def test_random_sampling_is_seeded(tiny_encoder):
    pairs, corpus = _data()
    a = list(mine(tiny_encoder, pairs, corpus, MineOptions(sampling_strategy="random", seed=1)))
    b = list(mine(tiny_encoder, pairs, corpus, MineOptions(sampling_strategy="random", seed=1)))
    c = list(mine(tiny_encoder, pairs, corpus, MineOptions(sampling_strategy="random", seed=2)))
    top = list(mine(tiny_encoder, pairs, corpus, MineOptions()))
    assert a == b and a != c and a != top
    positives = {p for _, p in pairs}
    assert all(t.negative not in positives or t.negative != t.positive for t in a)


def test_matches_sentence_transformers(tiny_st):
    st = pytest.importorskip("sentence_transformers")
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    pairs, corpus = _data()
    model = st.SentenceTransformer(str(tiny_st), device="cpu")
    encoder = Encoder(tiny_st)
    dataset = Dataset.from_dict(
        {"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]}
    )
    for kwargs in (
        {"num_negatives": 3},
        {"num_negatives": 2, "range_min": 3, "absolute_margin": 0.02},
        {"num_negatives": 3, "relative_margin": 0.05, "max_score": 0.97},
    ):
        theirs = mine_hard_negatives(
            dataset, model, corpus=list(corpus), verbose=False, output_format="triplet", **kwargs
        )
        ours = mine(encoder, pairs, corpus, MineOptions(**kwargs))
        expected = sorted(
            zip(theirs["anchor"], theirs["positive"], theirs["negative"], strict=True)
        )
        assert sorted((t.anchor, t.positive, t.negative) for t in ours) == expected, kwargs


def test_cross_encoder_rescoring_drops_false_negatives(tiny_encoder):
    pairs, corpus = _data()
    banned = set(corpus[:30])

    def rescore(pairs_: list[tuple[str, str]]) -> np.ndarray:  # a judge that rejects half
        return np.array([0.99 if doc in banned else 0.1 for _, doc in pairs_])

    opts = MineOptions(num_negatives=3, max_score=0.9)
    found = list(mine(tiny_encoder, pairs, corpus, opts, rescore=rescore))
    assert found and not {t.negative for t in found} & banned
    assert all(t.score == pytest.approx(0.1) for t in found)


@pytest.mark.parametrize(
    ("opts", "words"),
    [
        (MineOptions(num_negatives=0), "num_negatives 0"),
        (MineOptions(range_min=5, range_max=5), "range_min 5 must be below range_max 5"),
        (MineOptions(num_negatives=9, range_max=5), "cannot mine 9 negatives"),
        (MineOptions(sampling_strategy="best"), "top or random"),
    ],
)
def test_bad_options(tiny_encoder, opts, words):
    pairs, corpus = _data()
    with pytest.raises(FinesimError, match=words):
        list(mine(tiny_encoder, pairs, corpus, opts))


def test_cli_writes_triples_the_recipes_read(cli, tiny_st, tmp_path):
    from finesim.data.pairs import load_examples

    pairs, corpus = _data()
    pair_file, corpus_file = tmp_path / "pairs.jsonl", tmp_path / "corpus.jsonl"
    pair_file.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in pairs))
    corpus_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in corpus))
    out = tmp_path / "triples.jsonl"
    args = ["--model", tiny_st, "--pairs", pair_file, "--corpus", corpus_file, "--out", out]
    code, _, err = cli("mine", "negatives", *args, "--num-negatives", "2")
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = mine(Encoder(tiny_st), pairs, corpus, MineOptions(num_negatives=2))
    assert [(r["anchor"], r["positive"], r["negative"]) for r in rows] == [
        (t.anchor, t.positive, t.negative) for t in expected
    ]
    examples = load_examples(str(out), "triples", {})
    assert len(examples) == len(rows) and set(examples[0].texts) == {
        "anchor",
        "positive",
        "negative",
    }
    # bad input: one line, exit 2, nothing written
    code, _, err = cli("mine", "negatives", *args, "--num-negatives", "2")
    assert code == 2 and "exists" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"anchor": "a"}\n')
    target = tmp_path / "none.jsonl"
    code, _, err = cli("mine", "negatives", "-m", tiny_st, "--pairs", bad, "--out", target)
    assert code == 2 and "bad.jsonl:1" in err and not target.exists()
