from finesim import Preset
from finesim.evaluation.ablation import GROUPS, STEPS, _allowed, markdown, write


def _row(step, value):
    figures = {g: {"map": value, "ndcg%20": value + 20} for g in GROUPS}
    return {"model": "m", "step": step, "chosen": {"fold1": "off|a", "fold2": "off|b"}, **figures}


def test_steps_only_add_components():
    for (_, before, _), (_, after, _) in zip(STEPS, STEPS[1:], strict=False):
        assert set(before) <= set(after)
    grid = {"a": Preset({"abstract": 1.0}), "b": Preset({"abstract": 1.0, "bm25": 0.3})}
    assert list(_allowed(grid, ["abstract"])) == ["a"]
    assert list(_allowed(grid, ["abstract", "bm25"])) == ["a", "b"]


def test_table_and_files(tmp_path):
    rows = [_row("abstract cosine (plain)", 40.0), _row("+ bm25", 41.5)]
    table = markdown(rows)
    assert "| m | + bm25 | 41.50 | 61.50 |" in table and "fold1 `off|a`" in table
    paths = write(rows, tmp_path, "abl")
    assert [p.name for p in paths] == ["abl.json", "abl.md", "abl.png"]
    assert all(p.stat().st_size > 0 for p in paths)
