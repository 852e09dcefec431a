"""``open_service`` loads its model from an ``EncoderSpec``: named, or the index's own."""

import pytest

from finesim import EncoderSpec, FinesimError
from finesim.serve.service import Limits, index_spec, open_indexes, open_service


def test_the_index_spec_is_served(tiny_st, tiny_encoder, tiny_index, tmp_path):
    tiny_index.save(tmp_path / "papers")
    indexes = open_indexes([f"demo={tmp_path / 'papers'}"])
    spec = index_spec(indexes)
    assert spec == tiny_encoder.spec  # the index's whole spec, backend included
    assert index_spec(indexes, "onnx").backend == "onnx"  # --backend replaces it
    assert index_spec({}) == EncoderSpec(model="minilm")
    service = open_service(spec, indexes, Limits(), None)
    try:
        assert service.name == str(tiny_st) and service.encoder.spec == spec
        assert service.info()["indexes"] == {"demo": len(tiny_index)}
    finally:
        service.close()


def test_two_indexes_with_one_name(tmp_path):
    with pytest.raises(FinesimError, match="two indexes are called 'a'"):
        open_indexes([f"a={tmp_path / 'x'}", f"a={tmp_path / 'y'}"])
