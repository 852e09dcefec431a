"""The vocabulary of a distilled static model: the teacher's tokens, plus frequent corpus words.

Why a corpus: a subword vocabulary splits domain words ("embeddings" -> "em", "##bed"...), and
the mean of the pieces' static vectors is a poor stand-in for the word. A word that the
teacher's tokenizer splits, seen often in the user's corpus, becomes one token whose vector is
the teacher's output for the whole word. Words are added to the WordPiece vocabulary itself
(not as "added tokens"), so ``tokenizers`` and sentence-transformers' ``StaticEmbedding`` pick
the whole word by WordPiece's longest match, as they would a word the teacher knew.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer

from finesim._util.errors import FinesimError
from finesim.data.texts import TextFile

# BERT's placeholder tokens: never in any text, left out of the PCA and the frequency ranks
UNUSED = re.compile(r"^\[unused\d+\]$")


def _words(tokenizer: Tokenizer, text: str) -> list[str]:
    """``text`` as the tokenizer sees it before its subword model: normalised, pre-split."""
    if tokenizer.normalizer is not None:
        text = tokenizer.normalizer.normalize_str(text)
    if tokenizer.pre_tokenizer is None:
        return text.split()
    return [word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def count_words(tokenizer: Tokenizer, texts: Iterable[str]) -> Counter[str]:
    """How often each pre-token (a word, as the tokenizer splits words) occurs in ``texts``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_words(tokenizer, text))
    return counts


def corpus_words(
    tokenizer: Tokenizer,
    path: Path,
    *,
    max_words: int = 20_000,
    min_count: int = 2,
    field: str = "text",
) -> list[str]:
    """The ``max_words`` most frequent words of the corpus file at ``path`` (.txt one text a
    line, or .jsonl/.csv/.tsv/.parquet with ``field``) that the tokenizer does not have as one
    token, seen at least ``min_count`` times, most frequent first (ties in spelling order).

    Only words with a letter: numbers and codes would take vocabulary slots for nothing.
    """
    counts = count_words(tokenizer, (text for _, text in TextFile(path, field, skip_empty=True)))
    known = tokenizer.get_vocab()
    found = [
        (word, n)
        for word, n in counts.items()
        if n >= min_count and word not in known and any(c.isalpha() for c in word)
    ]
    found.sort(key=lambda item: (-item[1], item[0]))
    return [word for word, _ in found[:max_words]]


def extend_vocabulary(tokenizer: Tokenizer, words: list[str]) -> Tokenizer:
    """A copy of ``tokenizer`` (WordPiece) with ``words`` appended to its vocabulary, ids
    after the existing ones in the order given."""
    if not words:
        return Tokenizer.from_str(tokenizer.to_str())
    doc = json.loads(tokenizer.to_str())
    model = doc.get("model") or {}
    if model.get("type") != "WordPiece":
        raise FinesimError(
            f"--vocab: extending a {model.get('type')} tokenizer is not supported (WordPiece "
            "tokenizers only, e.g. BERT, MiniLM, MPNet); distil without --vocab"
        )
    vocab: dict[str, int] = model["vocab"]
    start = max(vocab.values()) + 1
    for offset, word in enumerate(words):
        if word in vocab:
            raise FinesimError(f"--vocab: word {word!r} is already in the vocabulary")
        vocab[word] = start + offset
    return Tokenizer.from_str(json.dumps(doc))


def static_tokenizer(teacher_json: str) -> Tokenizer:
    """The teacher's tokenizer as a static model uses it: no padding, no truncation (a bag of
    token vectors has no length limit; sentence-transformers' StaticEmbedding reads the same)."""
    tokenizer = Tokenizer.from_str(teacher_json)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def kept_ids(tokenizer: Tokenizer) -> list[int]:
    """Token ids in id order without BERT's ``[unusedN]`` placeholders: the rows the PCA is
    fitted on and the frequency ranks count (id order stands for frequency order)."""
    by_id = sorted((i, t) for t, i in tokenizer.get_vocab(with_added_tokens=False).items())
    return [i for i, token in by_id if not UNUSED.match(token)]
