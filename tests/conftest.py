"""Shared fixtures: a tiny random BERT with a WordPiece tokenizer, built offline in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
WORDS = (
    "a the man woman cat dog is are plays playing guitar piano music sings eats food rice "
    "sleeps runs fast slow on in under table kitchen red blue green big small paper method "
    "result background we propose model sentence embedding similarity contrastive learning "
    "train test data bank rates rise fall market stock and or not very with of to"
).split()
SUBWORDS = ["##s", "##ing", "##ed", "##er", "##ly"]
SENTENCES = [
    "a man plays the guitar",
    "the woman sings",
    "a cat sleeps on the table",
    "we propose a contrastive model for sentence embedding",
    "bank rates rise and the stock market falls very fast",
    "dog",
    "the big red dog runs in the kitchen with a small blue cat",
    "result",
    "a woman eats rice and a man eats food",
    "train and test data",
] * 3


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random BERT and its WordPiece tokenizer, saved as transformers does."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *SUBWORDS]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tok.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertModel(config)
    hf_logging.disable_progress_bar()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


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


def data_root() -> Path:
    return Path(os.environ.get("FINESIM_DATA", REPO.parent / "shared" / "data"))


def stsb_sentences(n_pairs: int = 250) -> list[str]:
    """The first ``n_pairs`` STS-B test pairs as a flat list of sentences (raw variant)."""
    path = data_root() / "sts" / "raw" / "STSBenchmark" / "sts-test.csv"
    if not path.is_file():
        pytest.skip(f"STS-B data not found at {path} (set FINESIM_DATA)")
    rows = [line.rstrip("\n").split("\t") for line in path.open(encoding="utf-8")]
    return [s for row in rows[:n_pairs] for s in (row[5], row[6])]


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: object
) -> tuple[int, str, str]:
    """Run ``finesim ARGS`` in this process: exit status, stdout, stderr."""
    import sys

    from finesim.cli.main import main

    monkeypatch.setattr(sys, "argv", ["finesim", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``cli("encode", ...)`` -> (exit status, stdout, stderr)."""
    return lambda *args: run_cli(capsys, monkeypatch, *args)
