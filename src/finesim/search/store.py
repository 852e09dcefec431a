"""The index folder on disk: a manifest that lists every file with its size and checksum.

An index is written into a temp folder beside its target and swapped in for it in one atomic
step (``finesim._util.atomic``), so readers see the old index or the new one, never a mix.
``read_manifest`` checks every file against the manifest before anything is loaded: a
truncated, corrupt, missing or foreign file is an error naming it, never a silently wrong
search result.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem

FORMAT = "finesim-index"
VERSION = 1
DELETES_VERSION = 2  # an index with deleted papers (tombstones): older finesims refuse it
READS = (VERSION, DELETES_VERSION)
MANIFEST = "manifest.json"


def checksum(path: Path) -> str:
    """blake2b of the file's bytes, read in 4 MiB blocks."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(
    folder: Path,
    manifest: dict[str, Any],
    *,
    version: int = VERSION,
    known: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record every file under ``folder`` (size, checksum) and write ``manifest.json`` last;
    ``version``: the lowest format version that describes the folder; ``known``: entries of
    files linked from a checked folder, whose checksums hold (not read again)."""
    files = {}
    for p in _files(folder):
        name, size = p.relative_to(folder).as_posix(), p.stat().st_size
        entry = (known or {}).get(name)
        if not (isinstance(entry, dict) and entry.get("bytes") == size):
            entry = {"bytes": size, "blake2b": checksum(p)}
        files[name] = entry
    full = {"format": FORMAT, "version": version, **manifest, "files": files}
    (folder / MANIFEST).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return full


def read_manifest(folder: Path, *, verify: bool = True) -> dict[str, Any]:
    """The manifest of an index folder, after checking each file's size (and checksum)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FinesimError(f"{folder}: no such index folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise FinesimError(f"{path}: missing; {folder} is not a finesim index (or is incomplete)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as e:
        raise FinesimError(f"{path}: unreadable index manifest ({json_problem(e)})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FinesimError(f"{path}: not a finesim index manifest")
    if manifest.get("version") not in READS:
        raise FinesimError(
            f"{path}: index format version {manifest.get('version')}; this finesim reads "
            f"versions {', '.join(map(str, READS))} (rebuild the index with `finesim index build`)"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise FinesimError(f"{path}: no file list in the manifest")
    for name, expected in files.items():
        _check_file(folder / name, expected, verify)
    return manifest


def _check_file(path: Path, expected: Any, verify: bool) -> None:
    if not path.is_file():
        raise FinesimError(f"{path}: missing from the index (listed in its manifest)")
    size = path.stat().st_size
    if not isinstance(expected, dict) or size != expected.get("bytes"):
        wanted = expected.get("bytes") if isinstance(expected, dict) else "?"
        raise FinesimError(f"{path}: {size} bytes, the manifest says {wanted} (truncated?)")
    if verify and checksum(path) != expected.get("blake2b"):
        raise FinesimError(f"{path}: checksum differs from the manifest (corrupt file)")
