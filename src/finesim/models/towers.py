"""Input towers: what turns texts into one vector per text before any Dense layer.

Two kinds, as sentence-transformers has them: a transformer with pooling, and a static
embedding bag (``StaticEmbedding``, model2vec-style: the mean of token vectors, no attention).
Each tokenises for itself (``encodings`` then ``collate``), so an asymmetric model can route
queries and documents through different towers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from finesim.models.pooling import needs_hidden_states, pool


def pad(encodings: Sequence[Any], tokenizer: Any) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask`` (and ``token_type_ids`` where
    ``tokenizer`` takes them) for tokenizers' encodings: one text or one pair each."""
    width = max(len(e.ids) for e in encodings)
    pad_id = tokenizer.pad_token_id or 0
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n], types[row, :n], mask[row, :n] = e.ids, e.type_ids, 1
    features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if "token_type_ids" in tokenizer.model_input_names:
        features["token_type_ids"] = torch.from_numpy(types)
    return features


class TransformerTower(nn.Module):
    """A transformers model plus pooling (``include_prompt`` False: prompts are not pooled)."""

    kind = "transformer"

    def __init__(
        self,
        transformer: Any,
        tokenizer: Any,
        pooling: tuple[str, ...],
        max_length: int,
        do_lower_case: bool = False,
        include_prompt: bool = True,
    ) -> None:
        super().__init__()
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.do_lower_case = do_lower_case
        self.include_prompt = include_prompt
        self._fast: Tokenizer | None = None
        self._fast_length = -1
        self._prompt_lengths: dict[tuple[str, int], int] = {}

    @property
    def full_dim(self) -> int:
        return int(self.transformer.config.hidden_size) * len(self.pooling)

    def tokenizer_json(self) -> str:
        return str(self.tokenizer.backend_tokenizer.to_str())

    def _backend(self, max_length: int) -> Tokenizer:
        """A copy of the fast tokenizer that truncates at ``max_length`` and does not pad."""
        if self._fast is None or self._fast_length != max_length:
            fast = Tokenizer.from_str(self.tokenizer_json())
            fast.no_padding()
            fast.enable_truncation(max_length)
            self._fast, self._fast_length = fast, max_length
        return self._fast

    def limit(self, max_length: int | None) -> int:
        return min(max_length or self.max_length, self.max_length)

    def encodings(self, texts: Sequence[str], max_length: int | None) -> list[Any]:
        batch = [t.lower() for t in texts] if self.do_lower_case else list(texts)
        return self._backend(self.limit(max_length)).encode_batch(batch)

    def collate(self, encodings: Sequence[Any]) -> dict[str, torch.Tensor]:
        return pad(encodings, self.tokenizer)

    def prompt_length(self, prompt: str, max_length: int | None) -> int:
        """Positions the pooling leaves out for ``prompt`` (0 when it pools the prompt).

        As sentence-transformers counts them: the prompt tokenised alone, [CLS] included, less
        a trailing special token ([SEP], EOS).
        """
        if self.include_prompt or not prompt:
            return 0
        key = (prompt, self.limit(max_length))
        if key not in self._prompt_lengths:
            ids = self.encodings([prompt], max_length)[0].ids
            special = set(self.tokenizer.all_special_ids)
            self._prompt_lengths[key] = len(ids) - (1 if ids and ids[-1] in special else 0)
        return self._prompt_lengths[key]

    def forward(self, features: dict[str, torch.Tensor], prompt_length: int = 0) -> torch.Tensor:
        out = self.transformer(**features, return_dict=True)
        hidden = out.hidden_states if needs_hidden_states(self.pooling) else None
        pooler_output = getattr(out, "pooler_output", None) if "cls" in self.pooling else None
        return pool(
            self.pooling,
            out.last_hidden_state,
            features["attention_mask"],
            hidden,
            pooler_output,
            prompt_length=prompt_length,
        )


class StaticTower(nn.Module):
    """sentence-transformers' ``StaticEmbedding``: the mean of the texts' token vectors.

    Tokenised without special tokens, truncated only where the saved tokenizer says so, or at
    a ``max_length`` asked for in the call.
    """

    kind = "static"
    pooling: tuple[str, ...] = ("mean",)
    include_prompt = True
    do_lower_case = False

    def __init__(self, tokenizer: Tokenizer, weights: torch.Tensor) -> None:
        super().__init__()
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.embedding = nn.EmbeddingBag.from_pretrained(weights, freeze=False, mode="mean")
        truncation = tokenizer.truncation
        self.max_length = int(truncation["max_length"]) if truncation else 1_000_000_000

    @property
    def full_dim(self) -> int:
        return int(self.embedding.embedding_dim)

    def tokenizer_json(self) -> str:
        return str(self.tokenizer.to_str())

    def limit(self, max_length: int | None) -> int:
        return min(max_length or self.max_length, self.max_length)

    def encodings(self, texts: Sequence[str], max_length: int | None) -> list[Any]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        if max_length is not None:
            for e in encodings:
                e.truncate(max_length)
        return encodings

    def collate(self, encodings: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Flat ``input_ids`` and each text's ``offsets`` into them (an EmbeddingBag's input)."""
        lengths = [len(e.ids) for e in encodings]
        offsets = np.cumsum([0, *lengths[:-1]]).astype(np.int64)
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=sum(lengths))
        return {"input_ids": torch.from_numpy(ids), "offsets": torch.from_numpy(offsets)}

    def prompt_length(self, prompt: str, max_length: int | None) -> int:
        return 0  # no pooling module: a prompt is always part of the mean

    def forward(self, features: dict[str, torch.Tensor], prompt_length: int = 0) -> torch.Tensor:
        vectors: torch.Tensor = self.embedding(features["input_ids"], features["offsets"])
        return vectors


Tower = TransformerTower | StaticTower


class Route(nn.Module):
    """One path through a model: a tower, its Dense layers, and whether it ends normalised."""

    tower: TransformerTower | StaticTower
    dense: nn.ModuleList

    def __init__(self, tower: Tower, dense: Sequence[nn.Module], normalize: bool) -> None:
        super().__init__()
        self.tower = tower
        self.dense = nn.ModuleList(dense)
        self.normalize = normalize

    @property
    def full_dim(self) -> int:
        if len(self.dense):
            return int(self.dense[-1].linear.out_features)  # type: ignore[union-attr,arg-type]
        return self.tower.full_dim
