"""Kill -9 drills: ``finesim encode``, ``train``, ``adapt``, ``index build``, ``index add``,
``index delete`` and ``index compact`` SIGKILLed at random points: 20 seeds over the first five
commands, 10 over the last two.

Each command runs in a child forked from one warm process (``tests.helpers.ForkServer``) and
is killed just before its Nth rename, exchange, fsync, new folder or folder removal (seeds
0-4, 20-21: N drawn from all the uninterrupted run's steps; 5-9, 22-27: from its last six, the
final swap), or after a random delay within the uninterrupted run's time (seeds 10-19, 28-29).
After each kill
the result must be the uninterrupted run's or the state before the command, never a mix: an
index opens with every checksum right and answers a search as the old or the new index does;
an encode output, when there, equals the uninterrupted run's. Then the command is run again
(``--resume`` for training): it ends with the uninterrupted run's result (vectors, truncation
count, weights within 1e-6, metrics without repeated steps) and no temp file or folder of the
killed run is left.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.helpers import SENTENCES, ForkServer, jsonl, paper_records

COMMANDS = ("encode", "train", "adapt", "index-build", "index-add")
LIFECYCLE = ("index-delete", "index-compact")  # seeds 20-29
SEEDS = range(30)
MODES = ("event", "final", "final", "final", "delay")  # of the lifecycle seeds, two at a time
DELETED = "p1,p4,p9"  # never p0: the drills' query paper


def drill(seed: int) -> tuple[str, str]:
    """The command and kill mode of a seed: ``event`` (any step), ``final`` (one of the last
    six) or ``delay``."""
    if seed < 20:
        return COMMANDS[seed % 5], "event" if seed < 5 else "final" if seed < 10 else "delay"
    return LIFECYCLE[(seed - 20) % 2], MODES[(seed - 20) // 2]


class Drills:
    """The inputs, the fork server, and each command's uninterrupted run (made once)."""

    def __init__(self, root: Path, model: Path) -> None:
        self.root, self.model = root, model
        self.server = ForkServer()
        long = " ".join(SENTENCES[:3])  # more than 8 tokens: truncated by --max-length 8
        texts = [long if i % 3 == 0 else SENTENCES[i % len(SENTENCES)] for i in range(60)]
        self.texts = root / "texts.txt"
        self.texts.write_text("".join(t + "\n" for t in texts))
        self.pairs = root / "pairs.jsonl"
        records = [{"anchor": SENTENCES[i], "positive": SENTENCES[i + 1]} for i in range(28)]
        jsonl(self.pairs, records)
        self.docs = jsonl(root / "docs.jsonl", paper_records(16))
        self.more = jsonl(root / "more.jsonl", paper_records(6, seed=1, prefix="q"))
        self.bases: dict[str, dict[str, Any]] = {}
        self.built = self._fresh("built", ["index", "build", *self._build_args()])
        self._deleted: Path | None = None

    @property
    def deleted(self) -> Path:
        """The built index with papers ``DELETED`` deleted: what compaction starts from."""
        if self._deleted is None:
            work = self.root / "deleted"
            work.mkdir()
            shutil.copytree(self.built / "idx", work / "idx")
            result = self.server.run("index", "delete", "idx", "--ids", DELETED, cwd=work)
            assert result["code"] == 0, result["stderr"]
            self._deleted = work
        return self._deleted

    def _fresh(self, name: str, argv: list[str]) -> Path:
        work = self.root / name
        work.mkdir()
        result = self.server.run(*argv, cwd=work)
        assert result["code"] == 0, result["stderr"]
        return work

    def _build_args(self) -> list[str]:
        return ["-m", self.model, "--docs", self.docs, "-o", "idx", "--kind", "flat", "--json"]

    def argv(self, command: str, again: bool = False) -> list[str]:
        """The command line of ``command`` (``again``: the rerun after a kill)."""
        if command == "encode":
            return [
                "encode", "-m", self.model, "-i", self.texts, "-o", "v.npy", "--json",
                "--shard-size", "8", "--batch-size", "4", "--max-length", "8",
            ]  # fmt: skip
        if command == "train":
            settings = ["batch_size=4", "epochs=2", "max_steps=10", "checkpoint_every=3"]
            return [
                "train", "-m", self.model, "--data", self.pairs, "--out", "run", "--json",
                *[a for s in [*settings, "log_every=1", "lr=1e-3"] for a in ("--set", s)],
                *(["--resume"] if again else []),
            ]  # fmt: skip
        if command == "adapt":
            return [
                "adapt", "-m", self.model, "--data", self.docs, "--out", "run", "--steps", "8",
                "--batch-size", "4", "--checkpoint-every", "3", "--max-length", "16",
                *(["--resume"] if again else []),
            ]  # fmt: skip
        if command == "index-build":
            return ["index", "build", *self._build_args()]
        if command == "index-delete":
            return ["index", "delete", "idx", "--ids", DELETED, "--json"]
        if command == "index-compact":
            return ["index", "compact", "idx", "--json"]
        return ["index", "add", "idx", "--docs", self.more, "--json"]

    def before(self, command: str) -> Path | None:
        """Where the index the command starts from lies (None: it starts from nothing)."""
        if command in ("index-add", "index-delete"):
            return self.built
        return self.deleted if command == "index-compact" else None

    def prepare(self, command: str, work: Path) -> None:
        """The state before the command: an index to change, or nothing."""
        work.mkdir()
        start = self.before(command)
        if start is not None:
            shutil.copytree(start / "idx", work / "idx")

    def base(self, command: str) -> dict[str, Any]:
        """The uninterrupted run: its folder, result, step count and time."""
        if command not in self.bases:
            work = self.root / f"base-{command}"
            self.prepare(command, work)
            result = self.server.run(*self.argv(command), cwd=work)
            assert result["code"] == 0 and result["events"] > 0, result["stderr"]
            self.bases[command] = {**result, "work": work}
        return self.bases[command]


@pytest.fixture(scope="module")
def drills(tiny_st, tmp_path_factory):
    drills = Drills(tmp_path_factory.mktemp("drills"), tiny_st)
    yield drills
    drills.server.close()


def _leftovers(folder: Path) -> list[str]:
    """Temp names of killed writes (``.NAME.tmp-*``, ``.old-``, ``.v-``, ``.link-``)."""
    marks = (".tmp-", ".old-", ".v-", ".link-")
    return sorted(p.name for p in folder.rglob(".*") if any(m in p.name for m in marks))


def _index_state(folder: Path) -> tuple[list[str], int, list[tuple[str, float]]]:
    """Its papers by position (deleted ones included), how many are deleted, and a search."""
    from finesim.search.index import Index

    index = Index.open(folder, verify=True)  # every file against the manifest's checksums
    hits = index.search(query_doc=index.live_ids[0], k=5)
    return index.ids, len(index.tombstones), [(h.id, round(h.score, 5)) for h in hits]


def _same_weights(a: Path, b: Path) -> None:
    first, second = load_file(str(a / "trainer_model.safetensors")), load_file(str(b))
    assert first.keys() == second.keys()
    assert max(float(np.abs(first[k] - second[k]).max()) for k in first) <= 1e-6


def _checkpoint(run: Path) -> str:
    import torch

    state = run / "last" / "trainer_state.pt"
    if not state.exists():
        return "no checkpoint"
    return f"checkpoint of step {torch.load(state, weights_only=True)['step']}"


def _steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r["step"] for r in map(json.loads, lines) if "loss" in r]


def _check(drills: Drills, command: str, work: Path) -> str:  # noqa: C901 - one case each
    """What the kill left (``before``, ``done`` or a failed assertion), then the rerun."""
    base = drills.base(command)["work"]
    state = "before"
    if command in ("train", "adapt"):
        state = _checkpoint(work / "run")
    if command == "encode":
        if (work / "v.npy").exists():
            state = "done"
            assert np.array_equal(np.load(work / "v.npy"), np.load(base / "v.npy"))
            return state
    elif command == "index-build":
        if (work / "idx").exists():
            state = "done"
            assert _index_state(work / "idx") == _index_state(base / "idx")
            return state
    elif command in ("index-add", "index-delete", "index-compact"):
        found = _index_state(work / "idx")
        if found == _index_state(base / "idx"):
            return "done"
        start = drills.before(command)
        assert start is not None
        assert found == _index_state(start / "idx"), "neither the old nor the new index"
    again = drills.server.run(*drills.argv(command, again=True), cwd=work)
    assert again["code"] == 0, again["stderr"]
    if command == "encode":
        summary, expected = json.loads(again["stdout"]), json.loads(drills.base(command)["stdout"])
        assert (summary["rows"], summary["truncated"]) == (expected["rows"], expected["truncated"])
        assert np.array_equal(np.load(work / "v.npy"), np.load(base / "v.npy"))
    elif command in ("train", "adapt"):
        said = again["stderr"]
        assert "resuming at step" in said or "no checkpoint in" in said, said
        _same_weights(base / "run" / "last", work / "run" / "last" / "trainer_model.safetensors")
        assert _steps(work / "run") == _steps(base / "run")  # continued, no step twice
        if command == "adapt":
            adapted = json.loads((work / "run" / "adapt.json").read_text())
            assert adapted == json.loads((base / "run" / "adapt.json").read_text())
    else:
        assert _index_state(work / "idx") == _index_state(base / "idx")
    assert not _leftovers(work), _leftovers(work)
    return state


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_drill(drills, seed, tmp_path):
    command, mode = drill(seed)
    base = drills.base(command)
    rng = random.Random(seed)
    if mode == "event":
        kill = {"event": rng.randint(1, base["events"])}
    elif mode == "final":
        kill = {"event": rng.randint(base["events"] - 5, base["events"])}
    else:
        kill = {"delay": round(rng.uniform(0.0, base["seconds"]), 3)}
    work = tmp_path / "work"
    drills.prepare(command, work)
    result = drills.server.run(*drills.argv(command), cwd=work, **kill)
    assert not result["timed_out"]
    killed = result["signal"] == 9
    assert killed or result["code"] == 0, result["stderr"]
    state = _check(drills, command, work)
    if "event" in kill:
        point = f"step {kill['event']}/{base['events']} {result['at']}"
    else:
        point = f"{kill['delay']} s"
    outcome = "killed" if killed else "finished"
    print(f"\ndrill seed {seed}: {command} {outcome} at {point} -> {state}; checked")
