"""The local engine records the whole ``EncoderSpec`` with its shards: a resumed run must match."""

import numpy as np
import pytest

from finesim import Encoder
from finesim.data.texts import TextFile
from finesim.engine.local import EncodeOptions, encode_file, work_dir
from tests.helpers import SENTENCES


class Stop(Exception):
    pass


def _interrupted(encoder, source, output, options):
    """Encode until the first shard is written, then fail (as a killed run would)."""
    seen = 0

    def progress(n):
        nonlocal seen
        seen += n
        if seen > options.shard_size:
            raise Stop

    with pytest.raises(Stop):
        encode_file(encoder, source, output, options, len(SENTENCES), progress)
    assert work_dir(output).is_dir()


def test_resume_only_with_the_same_spec(tiny_bert, tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(SENTENCES) + "\n")
    source, out = TextFile(path), tmp_path / "v.npy"
    mean, top = Encoder(tiny_bert, pooling="mean"), Encoder(tiny_bert, pooling="max")
    for first, second in ((top, mean), (mean, mean)):
        _interrupted(first, source, out, EncodeOptions(first.spec, batch_size=4, shard_size=10))
        options = EncodeOptions(second.spec, batch_size=4, shard_size=10)
        summary = encode_file(second, source, out, options, len(SENTENCES))
        assert summary["resumed_shards"] == (1 if first is second else 0)  # pooling differs
        assert np.abs(np.load(out) - second.encode(SENTENCES)).max() <= 1e-5
        out.unlink()


def test_options_must_describe_the_encoder(tiny_bert, tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a cat\n")
    encoder = Encoder(tiny_bert)
    options = EncodeOptions(encoder.spec.replace(pooling="max"))
    with pytest.raises(ValueError, match="options are for"):
        encode_file(encoder, TextFile(path), tmp_path / "v.npy", options, 1)
