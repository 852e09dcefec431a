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


def test_a_resumed_run_counts_every_truncated_input(tiny_bert, tmp_path):
    """Each shard records its truncated inputs, so a resumed run reports them all (the
    shards of the killed run included), as many as an uninterrupted run."""
    path = tmp_path / "in.txt"
    long = " ".join(SENTENCES[:4])  # over 8 tokens, as are a few of SENTENCES
    path.write_text("\n".join(s if i % 2 else long for i, s in enumerate(SENTENCES)) + "\n")
    encoder = Encoder(tiny_bert, pooling="mean")
    options = EncodeOptions(encoder.spec, batch_size=4, max_length=8, shard_size=10)
    whole = encode_file(encoder, TextFile(path), tmp_path / "w.npy", options, len(SENTENCES))
    assert whole["truncated"] >= len(SENTENCES) // 2
    _interrupted(encoder, TextFile(path), tmp_path / "v.npy", options)
    resumed = encode_file(encoder, TextFile(path), tmp_path / "v.npy", options, len(SENTENCES))
    assert resumed["resumed_shards"] == 1 and resumed["truncated"] == whole["truncated"]
    assert np.array_equal(np.load(tmp_path / "v.npy"), np.load(tmp_path / "w.npy"))


def test_an_unwritable_output_folder_names_the_output(tiny_bert, tmp_path, monkeypatch):
    """Not the hidden shards folder, which the user never asked for (and exit 2, not 1)."""
    from finesim import FinesimError
    from finesim.engine import local

    path = tmp_path / "in.txt"
    path.write_text("a cat\n")
    out = tmp_path / "v.npy"
    monkeypatch.setattr(local.os, "access", lambda *_: False)  # read-only (root ignores modes)
    with pytest.raises(FinesimError, match=r"v\.npy: cannot write into"):
        local.check_output(out, overwrite=False)
    monkeypatch.undo()
    real_mkdir = type(tmp_path).mkdir

    def refuse(self, *args, **kwargs):
        if self == work_dir(out):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "mkdir", refuse)
    encoder = Encoder(tiny_bert)
    with pytest.raises(FinesimError, match=r"v\.npy: cannot write there") as error:
        encode_file(encoder, TextFile(path), out, EncodeOptions(encoder.spec), 1)
    assert ".shards" not in str(error.value)
