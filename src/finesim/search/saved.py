"""What an index folder on disk holds, so that the next save links its unchanged files into
the new folder instead of writing them again.

Why: a delete changes only the tombstones, but a save writes a whole new folder (then swaps
it in); rewriting and checksumming gigabytes of vectors for it would make deletes as slow as
a build. Files in an index folder are never changed in place (every save writes new files),
so a hard link to an unchanged file is that file, and its manifest entry (size, checksum)
still holds.

A part (the faiss file, an array, the documents, the tagger) is linked only when the object
it was read from or written from is still the index's, at the same size, and the folder's
files are the ones the index read (the same inodes, sizes and times before and after
``Index.open`` read them; checked again on each link). Anything else is written afresh. (A
file written over in place at the same size within one tick of the file system's clock would
pass for unchanged; the next verified open then names it by its checksum.)
"""

from __future__ import annotations

import os
import shutil
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from finesim.search.docstore import OFFSETS, TEXTS, DocStore

Stamp = dict[str, tuple[int, ...]]  # file (relative) -> (device, inode, size, mtime)


@dataclass(frozen=True)
class Saved:
    """An index folder as the index that read or wrote it left it."""

    folder: Path
    files: dict[str, Any]  # the manifest's entries (size, checksum) by file
    stamp: Stamp
    # each part's object as it was written or read, weakly held where it can be (an array
    # replaced by an add is then freed, not kept for this)
    objects: dict[str, Callable[[], Any]]
    sizes: tuple[int, int]  # (sentence vectors, document positions)

    def moved(self, folder: Path) -> Saved:
        """The same files, now under ``folder`` (renamed there by the swap)."""
        return replace(self, folder=folder)


def stamp(folder: Path) -> Stamp:
    """The identity of every file under ``folder`` (the manifest included): a file replaced
    has another inode, one written over in place (never by finesim) another time or size."""
    return {
        path.relative_to(folder).as_posix(): _identity(path)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


def _identity(path: Path) -> tuple[int, ...]:
    info = path.stat()
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _files(part: str, files: dict[str, Any]) -> list[str]:
    if part == TEXTS:
        return [TEXTS, OFFSETS]
    return [name for name in files if name == part or name.startswith(part + "/")]


def snapshot(
    folder: Path, files: dict[str, Any], seen: Stamp, parts: dict[str, Any], sizes: tuple[int, int]
) -> Saved | None:
    """What ``folder`` holds: ``parts`` (each part's main file or folder -> the object it was
    written from or read into) of an index of ``sizes``, when its files are still those of
    ``seen`` (None: the folder was replaced meanwhile, so nothing of it may be linked)."""
    if stamp(folder) != seen:
        return None
    return Saved(Path(folder), dict(files), seen, {k: _held(v) for k, v in parts.items()}, sizes)


def _held(value: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(value)
    except TypeError:  # a list (the ids, appended to in place) or None: held as it is
        return lambda: value


def link_unchanged(
    saved: Saved | None, parts: dict[str, Any], sizes: tuple[int, int], target: Path
) -> dict[str, Any]:
    """Hard-link into the new folder ``target`` each part of ``saved`` whose object is still
    the index's (``parts``, at ``sizes``); returns the manifest entries of the linked files
    (empty: write everything)."""
    if saved is None or saved.sizes != sizes:
        return {}
    linked: dict[str, Any] = {}
    for part, value in parts.items():
        held = saved.objects.get(part)
        if value is None or held is None or held() is not value:
            continue
        if isinstance(value, DocStore) and not value.on_disk:
            continue
        names = _files(part, saved.files)
        if names and _link(saved, part, names, target):
            linked.update({name: saved.files[name] for name in names})
    return linked


def _link(saved: Saved, part: str, names: list[str], target: Path) -> bool:
    """Link every file of one part, each checked to be the file the index read; on any
    failure none of them stays (nor the part's folder)."""
    done: list[Path] = []
    try:
        for name in names:
            if name not in saved.files or name not in saved.stamp:
                raise OSError(f"{name}: not in the saved folder")
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(saved.folder / name, path)
            done.append(path)
            if _identity(path) != saved.stamp[name]:
                raise OSError(f"{name}: replaced since the index read it")
    except OSError:
        for path in done:
            path.unlink(missing_ok=True)
        if any("/" in name for name in names):
            shutil.rmtree(target / part, ignore_errors=True)
        return False
    return True
