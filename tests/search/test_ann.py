import numpy as np
import pytest

from finesim import FinesimError
from finesim.search.ann import FLAT_LIMIT, IVF_LIMIT, Ann, choose_kind, factory_string


def test_kind_is_chosen_by_size_and_can_be_forced():
    assert choose_kind("auto", 1000) == "flat"
    assert choose_kind("auto", FLAT_LIMIT + 1) == "hnsw"
    assert choose_kind("auto", IVF_LIMIT + 1) == "ivf"
    assert choose_kind("ivf", 10) == "ivf"
    with pytest.raises(FinesimError, match="unknown index kind"):
        choose_kind("lsh", 10)


def test_factory_strings():
    assert factory_string("flat", "float32", 10) == "Flat"
    assert factory_string("hnsw", "float16", 10) == "HNSW32,SQfp16"
    assert factory_string("ivf", "int8", 800_000) == "IVF3577,SQ8"
    assert factory_string("ivf", "float32", 100) == "IVF2,Flat"
    with pytest.raises(FinesimError, match="unknown precision"):
        factory_string("flat", "int4", 10)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
@pytest.mark.parametrize(
    ("precision", "tolerance"), [("float32", 0), ("float16", 1e-3), ("int8", 2e-2)]
)
def test_add_search_reconstruct_save_load(tmp_path, kind, precision, tolerance):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 8)).astype(np.float32)
    ann = Ann.create(8, kind, precision, len(x))
    ann.add(x[:1500])
    ann.add(x[1500:])
    distances, ids = ann.search(x[:3], 5, nprobe=64)
    assert ids[:, 0].tolist() == [0, 1, 2] and (np.diff(distances, axis=1) >= 0).all()
    ann.save(tmp_path / "a.faiss")
    loaded = Ann.load(tmp_path / "a.faiss", kind)
    back = loaded.reconstruct(np.array([0, 1999, 1500]))
    assert np.abs(back - x[[0, 1999, 1500]]).max() <= tolerance * np.abs(x).max()
    assert loaded.reconstruct(np.zeros(0, dtype=np.int64)).shape == (0, 8)


def test_unreadable_file(tmp_path):
    (tmp_path / "a.faiss").write_bytes(b"not faiss")
    with pytest.raises(FinesimError, match=r"a\.faiss: not a readable faiss index"):
        Ann.load(tmp_path / "a.faiss", "flat")
