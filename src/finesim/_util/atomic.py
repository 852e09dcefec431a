"""Write files and folders so that a crash never leaves a half-written result under its name.

A file is written under a temp name beside its target, flushed to disk (fsync) and renamed
over it: one atomic step. A folder is written whole under a temp name beside its target,
every file and folder in it flushed, and then swapped in, also in one atomic step:

- where the file system can trade two names (Linux ``renameat2(RENAME_EXCHANGE)``: ext4,
  xfs, btrfs, tmpfs, overlayfs), the new folder and the old one trade names in one call and
  the old one, now under the temp name, is removed. The target stays a plain folder, so
  every reader (finesim, older finesims, sentence-transformers, ``cp -r``) sees what it always
  saw, and plain folders written by older finesims are replaced the same way;
- elsewhere the target is a symlink to a versioned folder beside it (``.NAME.v-*``), and a
  swap renames a new symlink over it. A plain folder found there (written by an older
  finesim, or on another file system) is moved aside once, the first of two renames;
  ``recover`` puts it back after a crash between the two.

Temp names say whose they are: ``.NAME.tmp-PID-HEX`` (and ``.old-``, ``.v-``, ``.link-``), PID
being the writing process. Before a folder is written, ``recover`` removes what dead writers
left beside it (a killed checkpoint leaves hundreds of MB) and puts back a folder that a
crash left moved aside. The leftovers of older finesims (``.NAME.tmp-RANDOM``,
``.NAME.old-PID``) are recognised too. PIDs are this machine's: a folder written from two
machines at once was never supported.

New files and folders get the usual modes (0666 / 0777 less the umask), not the 0600 / 0700 of
mkstemp / mkdtemp.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
_EXCHANGES: dict[int, bool] = {}  # st_dev -> whether that file system trades names


@contextmanager
def atomic_path(target: Path, *, directory: bool = False, sweep: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success swap it in for ``target``, else remove it.

    ``directory``: the temp path is an empty folder, to fill. Folders always first ``recover``
    their target; ``sweep`` has a file's target do the same (for large outputs, whose temp
    files a killed run would leave behind).
    """
    target = Path(target)
    tmp = _own_name(target, "tmp")
    if directory:
        recover(target)
        os.mkdir(tmp)  # 0777 less the umask
        exchange = _can_exchange(tmp)
    else:
        if sweep:
            recover(target)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        if directory:
            _swap_folder(tmp, target, exchange)
        else:
            _fsync(tmp)
            os.replace(tmp, target)
            _fsync(target.parent)
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def scratch_folder(name: Path) -> Iterator[Path]:
    """A work folder beside ``name`` (``.NAME.tmp-PID-HEX``), removed afterwards; those that
    killed runs left there are removed first."""
    recover(name)
    folder = _own_name(Path(name), "tmp")
    os.mkdir(folder)
    try:
        yield folder
    finally:
        _remove(folder)


def recover(target: Path) -> None:
    """Put back a folder that a crash left moved aside (``.NAME.old-*``) when ``target`` is
    missing, and remove the temp files and folders of ``target`` whose writers are dead."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    current = _version_of(target)
    aside: list[Path] = []
    for path in target.parent.iterdir():
        kind, pid = _leftover(target.name, path.name)
        if kind is None or path == current:
            continue
        if _alive(pid) and not (kind == "v" and _superseded(path, current)):
            continue  # a live writer's (one mid-swap included)
        if kind == "old":
            aside.append(path)
        else:
            _remove(path)
    if aside and not os.path.lexists(target):
        keep = max(aside, key=lambda p: p.stat().st_mtime)
        os.rename(keep, target)
        _fsync(target.parent)
        log.warning("%s: put back from %s, where an interrupted replace left it", target, keep)
        aside.remove(keep)
    for path in aside:
        _remove(path)


def recover_all(folder: Path) -> None:
    """``recover`` every target in ``folder`` that has temp names beside it."""
    names = set()
    for path in Path(folder).iterdir():
        match = re.fullmatch(r"\.(.+)\.(?:tmp|old|v|link)-.+", path.name)
        if match is not None:
            names.add(match.group(1))
    for name in sorted(names):
        recover(Path(folder) / name)


# ---- the swap ---------------------------------------------------------------------------


def _swap_folder(tmp: Path, target: Path, exchange: bool) -> None:
    _fsync_tree(tmp)
    if not os.path.lexists(target):
        if exchange:
            os.rename(tmp, target)  # fails if another writer made it meanwhile
        else:
            _link_swap(tmp, target)
    elif exchange and _exchange(tmp, target):
        if tmp.is_symlink():  # the target was a symlink: now a plain folder again
            old = _version_of(tmp, target.name)
            tmp.unlink()
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            _remove(tmp)  # the old folder, under the temp name
    elif target.is_symlink():
        _link_swap(tmp, target)
    else:  # a plain folder and no exchange: moved aside, the one step that is not atomic
        _, link = _link_for(tmp, target)
        aside = _own_name(target, "old")
        os.rename(target, aside)
        os.replace(link, target)
        _fsync(target.parent)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync(target.parent)


def _link_for(tmp: Path, target: Path) -> tuple[Path, Path]:
    """``tmp`` renamed to a versioned folder, and a new symlink to it, both beside ``target``."""
    version = _own_name(target, "v")
    os.rename(tmp, version)
    link = _own_name(target, "link")
    os.symlink(version.name, link)  # relative: the pair can be moved together
    return version, link


def _link_swap(tmp: Path, target: Path) -> None:
    """Point the symlink ``target`` (or a new one) at ``tmp``'s content in one rename."""
    previous = _version_of(target)
    _, link = _link_for(tmp, target)
    os.replace(link, target)
    _fsync(target.parent)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Trade the names of ``a`` and ``b`` in one step; False where the system cannot."""
    call = _renameat2()
    if call is None:
        return False
    if call(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


def _can_exchange(scratch: Path) -> bool:
    """Whether ``scratch``'s file system trades names: probed once per device, inside the
    empty folder ``scratch`` (so a probe leaves nothing of its own behind)."""
    device = scratch.stat().st_dev
    if device not in _EXCHANGES:
        a, b = scratch / "a", scratch / "b"
        a.mkdir()
        b.mkdir()
        try:
            _EXCHANGES[device] = _exchange(a, b)
        finally:
            a.rmdir()
            b.rmdir()
    return _EXCHANGES[device]


# ---- names, leftovers, flushing ------------------------------------------------------------


def _own_name(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _leftover(name: str, entry: str) -> tuple[str | None, int | None]:
    """``(kind, writer's pid)`` of a temp name of the target ``name`` (pid None: an older
    finesim's ``.NAME.tmp-RANDOM``), or ``(None, None)`` for anything else."""
    match = re.fullmatch(rf"\.{re.escape(name)}\.(tmp|old|v|link)-(.+)", entry)
    if match is None:
        return None, None
    owner = re.fullmatch(r"(\d+)(?:-[0-9a-f]+)?", match.group(2))
    return match.group(1), int(owner.group(1)) if owner else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's, alive
    return True


def _version_of(link: Path, name: str | None = None) -> Path | None:
    """The versioned folder (``.NAME.v-*`` beside it, NAME being ``name`` or the link's own)
    that the symlink ``link`` points to; None for anything else."""
    if not link.is_symlink():
        return None
    dest = link.parent / os.readlink(link)
    kind, _ = _leftover(name or link.name, dest.name)
    return dest if kind == "v" and dest.parent == link.parent else None


def _superseded(version: Path, current: Path | None) -> bool:
    """Whether a versioned folder is older than the one the target points to: what a writer
    killed after its swap left (named by the writer before it, who may be alive)."""
    if current is None:
        return False
    return version.lstat().st_mtime_ns < current.lstat().st_mtime_ns


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on a folder
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Every file and folder under ``root`` flushed, folders after their contents."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                _fsync(path)
        _fsync(Path(folder))


def save_folder(target: Path, overwrite: bool, fill: Callable[[Path], None]) -> Path:
    """A model folder at ``target``: ``fill`` writes it into an empty temp folder, swapped in
    whole (an existing ``target`` only with ``overwrite``); a bad target is a one-line error."""
    from finesim._util.errors import FinesimError

    if target.exists() and not overwrite:
        raise FinesimError(f"{target} exists; pass overwrite=True (--overwrite) to replace it")
    if not target.parent.is_dir():
        raise FinesimError(f"{target.parent}: no such folder for the saved model")
    with atomic_path(target, directory=True) as tmp:
        fill(tmp)
    return target
