"""minilm exported to ONNX against torch on 500 STS-B test sentences, padded batches included.

fp32 within 1e-4 of torch; int8 mean cosine to fp32 >= 0.99 and min >= 0.97; STS-B test
Spearman within 0.5 points of fp32.
"""

import numpy as np
import pytest
from scipy.stats import spearmanr

from finesim import Encoder
from finesim.models.onnx.export import export_onnx
from tests.helpers import require_data, stsb_sentences


@pytest.fixture(scope="module")
def sentences():
    return stsb_sentences(250)


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    torch_encoder = Encoder("minilm")
    folder = export_onnx(torch_encoder, tmp_path_factory.mktemp("minilm") / "onnx", int8=True)
    return {
        "torch": torch_encoder,
        "onnx": Encoder(folder, backend="onnx"),
        "onnx-int8": Encoder(folder, backend="onnx-int8"),
    }


@pytest.mark.parametrize("batch_size", [1, 32, 128])
def test_fp32_equals_torch(encoders, sentences, batch_size):
    reference = encoders["torch"].encode(sentences, batch_size=batch_size, normalize=False)
    ours = encoders["onnx"].encode(sentences, batch_size=batch_size, normalize=False)
    diff = np.abs(ours - reference).max()
    print(f"\nminilm fp32 ONNX vs torch, batch {batch_size}: max abs diff {diff:.2e}")
    assert diff <= 1e-4


def test_int8_cosine_to_fp32(encoders, sentences):
    fp32 = encoders["onnx"].encode(sentences, batch_size=32)
    int8 = encoders["onnx-int8"].encode(sentences, batch_size=32)
    cos = (fp32 * int8).sum(axis=1)
    print(f"\nminilm int8 vs fp32 on 500 STS-B: mean cos {cos.mean():.4f}, min {cos.min():.4f}")
    assert cos.mean() >= 0.99 and cos.min() >= 0.97


def test_int8_stsb_spearman_drop(encoders):
    path = require_data("sts", "raw", "STSBenchmark", "sts-test.csv")
    rows = [line.rstrip("\n").split("\t") for line in path.open(encoding="utf-8")]
    gold = np.array([float(r[4]) for r in rows])
    scores = {}
    for name in ("onnx", "onnx-int8"):
        a = encoders[name].encode([r[5] for r in rows])
        b = encoders[name].encode([r[6] for r in rows])
        scores[name] = 100 * spearmanr((a * b).sum(axis=1), gold).statistic
    drop = scores["onnx"] - scores["onnx-int8"]
    print(f"\nSTS-B test Spearman: fp32 {scores['onnx']:.2f}, int8 {scores['onnx-int8']:.2f}")
    assert drop <= 0.5
