"""Atomic files and folders (``finesim._util.atomic``): a crash at any step leaves the old
folder or the new one under the target's name; modes follow the umask; leftovers of dead
writers are removed, and a folder an interrupted replace moved aside is put back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from finesim._util import atomic
from tests.helpers import DRILL_EVENTS


@pytest.fixture
def no_exchange(monkeypatch):
    """A file system without RENAME_EXCHANGE: folders become symlinks to versioned folders."""
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    monkeypatch.setattr(atomic, "_EXCHANGES", {})


def write(target: Path, text: str) -> None:
    with atomic.atomic_path(target, directory=True) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "value").write_text(text)


def read(target: Path) -> str:
    return (target / "sub" / "value").read_text()


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


def test_a_replaced_folder_stays_plain_with_the_umask_modes(tmp_path):
    old = os.umask(0o027)
    try:
        target = tmp_path / "out"
        write(target, "old")
        write(target, "new")
        with atomic.atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert read(target) == "new" and not target.is_symlink()
    assert os.stat(target).st_mode & 0o777 == 0o750  # not mkdtemp's 0700
    assert os.stat(tmp_path / "x.json").st_mode & 0o777 == 0o640  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.json"]


def test_without_exchange_a_symlink_is_swapped(tmp_path, no_exchange, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()  # a plain folder, as older finesims wrote: converted once
    (target / "sub").mkdir()
    (target / "sub" / "value").write_text("plain")
    write(target, "one")
    assert target.is_symlink() and read(target) == "one"
    write(target, "two")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert read(target) == "two" and len(names) == 2 and names[0].startswith(".out.v-")
    monkeypatch.undo()  # exchange again: back to a plain folder, the versioned one removed
    atomic._EXCHANGES.clear()
    write(target, "three")
    assert not target.is_symlink() and read(target) == "three"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_models_and_indexes_load_from_either_layout(tiny_st, tmp_path, no_exchange):
    from finesim import Encoder
    from finesim.search.index import Index
    from tests.helpers import corpus, index_of

    encoder = Encoder(tiny_st)
    encoder.save(tmp_path / "model")
    encoder.save(tmp_path / "model", overwrite=True)
    assert (tmp_path / "model").is_symlink()
    assert Encoder(tmp_path / "model").fingerprint() == encoder.fingerprint()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        pass
    else:
        vectors = SentenceTransformer(str(tmp_path / "model"), device="cpu").encode(["a cat"])
        assert abs(vectors - encoder.encode(["a cat"])).max() <= 1e-5
    index = index_of(*corpus(12))
    index.save(tmp_path / "index")
    index.save(tmp_path / "index", overwrite=True)
    assert Index.open(tmp_path / "index").ids == index.ids


@pytest.mark.parametrize("layout", ["exchange", "symlink", "convert"])
def test_a_kill_at_any_step_leaves_the_old_or_the_new_folder(tmp_path, layout, monkeypatch):
    """A child replaces ``old`` by ``new`` and SIGKILLs itself before its Nth step, for every
    N. Under the target there is then the old folder or the new one (for ``convert``, a plain
    folder without exchange, the one step that is not atomic: once ``recover`` has run); the
    next write leaves nothing else behind."""
    if layout != "exchange":
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
        monkeypatch.setattr(atomic, "_EXCHANGES", {})
    target = tmp_path / "out"
    outcomes = set()
    for n in range(1, 100):
        for path in tmp_path.iterdir():
            atomic._remove(path)
        if layout == "symlink":
            write(target, "old")
        else:
            (target / "sub").mkdir(parents=True)
            (target / "sub" / "value").write_text("old")
        steps = _replace_in_child(target, n)
        if layout == "convert":
            atomic.recover(target)  # what the next write, or --resume, does first
        outcomes.add(read(target))
        write(target, "next")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == ["out"] if layout == "exchange" else len(left) == 2, left
        if steps is not None:  # not killed: n is past the last step
            break
    assert outcomes == {"old", "new"} and n > 5, (outcomes, n)


def _replace_in_child(target: Path, kill_at: int) -> int | None:
    """Fork a child that writes ``new`` into ``target`` and dies before step ``kill_at``;
    None if it was killed, else how many steps it took."""
    import importlib

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only Python and file system calls, then _exit
        os.close(read_end)
        count = [0]

        def hooked(real):
            def step(*args, **kwargs):
                count[0] += 1
                if count[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            return step

        for module_name, attribute in DRILL_EVENTS:
            module = importlib.import_module(module_name)
            setattr(module, attribute, hooked(getattr(module, attribute)))
        write(target, "new")
        os.write(write_end, str(count[0]).encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read_end, 64).decode()
    os.close(read_end)
    if os.WIFSIGNALED(status):
        return None
    return int(answer)


def test_recover_puts_back_a_folder_moved_aside_and_sweeps(tmp_path):
    target = tmp_path / "last"
    dead = dead_pid()
    aside = tmp_path / f".last.old-{dead}"  # an older finesim's two renames, cut between
    (aside / "sub").mkdir(parents=True)
    (aside / "sub" / "value").write_text("old")
    stale = [tmp_path / f".last.tmp-{dead}-ab12", tmp_path / ".last.tmp-k2j_x8aa"]
    for path in stale:
        path.mkdir()
    mine = tmp_path / f".last.tmp-{os.getpid()}-cd34"  # a live writer's: kept
    mine.mkdir()
    (tmp_path / ".last.shards").mkdir()  # not a temp name
    atomic.recover(target)
    assert read(target) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".last.shards", mine.name, "last"])


def test_every_file_and_folder_is_flushed(tmp_path, monkeypatch):
    flushed = []
    real = os.fsync

    def fsync(fd):
        flushed.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write(tmp_path / "out", "new")
    names = set(flushed)
    assert {"value", "sub", tmp_path.name} <= names  # the files, the folders, the parent
    assert any(name.startswith(".out.tmp-") for name in names)
