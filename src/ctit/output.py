"""All-or-nothing output folders: every command that writes a folder goes through here.

`staged_output(OUT, command)` is the one way into an output folder:

- a lock beside OUT (``.OUT.ctit-lock``, an advisory ``flock`` the kernel releases when the
  process ends, however it ends) refuses a second run into the same folder;
- OUT must be absent, empty, or an earlier ctit output (it holds the marker file
  ``.ctit-output``, or is an analysis folder with ``results.json`` and ``data/``): a folder of
  the user's own files is refused, never deleted;
- everything is written into a staging folder beside OUT (same filesystem), which replaces OUT
  in one atomic rename only when complete (on Linux an atomic exchange, so OUT never goes
  missing); the previous output stays untouched until then, and files of the previous run
  that this run does not write go with it;
- a failure while writing (disk full, permission, any writer error) removes the staging
  folder and raises `OutputError`, saying the previous output is unchanged.

A run killed at any moment leaves OUT as the previous complete output or the new complete
output; its leftover staging folder is removed by the next run into OUT.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

MARKER = ".ctit-output"
STAGING_TAG = ".ctit-new-"
OLD_TAG = ".ctit-old-"
LOCK_TAG = ".ctit-lock"


class OutputError(Exception):
    """An output folder that cannot be written: refused before the run (`refused`, exit 2) or
    failed while writing (exit 1), in which case the previous output is unchanged."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}{LOCK_TAG}"


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold the lock of output folder `out`; OutputError(refused) when another run holds it."""
    path = _lock_path(out)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an exclusive create, removed at the end
        fcntl = None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        except FileExistsError:
            raise OutputError(f"another ctit run is writing to {out} (lock {path}); "
                              "wait for it to finish", refused=True) from None
        except OSError as exc:
            raise OutputError(f"cannot write to {out.parent}: {exc.strerror}", refused=True) from None
        if fcntl is None:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"another ctit run is writing to {out} (lock {path}); "
                              "wait for it to finish", refused=True) from None
        # The holder before us may have removed the file after we opened it: lock the live one.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def is_ctit_output(folder: Path) -> bool:
    """Whether `folder` was written by ctit (its marker, or an analysis folder of an older ctit)."""
    return (folder / MARKER).is_file() or ((folder / "results.json").is_file() and (folder / "data").is_dir())


def check_target(out: Path) -> None:
    """Refuse an OUT that is not a folder, not writable, or a folder of someone else's files."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputError(f"{out} exists and is not a folder", refused=True)
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputError(f"{out} is not writable", refused=True)
        if any(out.iterdir()) and not is_ctit_output(out):
            raise OutputError(f"{out} is not empty and is not a ctit output folder; "
                              "choose a new or empty folder (nothing in it was changed)", refused=True)


def _remove_leftovers(out: Path) -> None:
    """Staging and old folders of runs into `out` that were killed (only called under the lock)."""
    for tag in (STAGING_TAG, OLD_TAG):
        for path in out.parent.glob(f".{out.name}{tag}*"):
            shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _publish(staging: Path, out: Path) -> None:
    """Put the complete staging folder in place of `out`."""
    if not out.exists():
        os.rename(staging, out)
        return
    if _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)   # now the previous output
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}{OLD_TAG}"))
    os.rename(out, old / "previous")
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_output(out: Path, command: str) -> Iterator[Path]:
    """Lock `out`, yield an empty staging folder to write into, and publish it on success.

    Enter it before the analysis, so a folder that cannot be written is refused before any
    work. An exception inside leaves `out` as it was; an OSError becomes OutputError.
    """
    out = Path(os.path.abspath(out))
    if out.parent == out:
        raise OutputError(f"{out} cannot be an output folder", refused=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out.parent}: {exc.strerror}", refused=True) from None
    check_target(out)
    with output_lock(out):
        _remove_leftovers(out)
        check_target(out)
        try:
            staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}{STAGING_TAG}"))
        except OSError as exc:
            raise OutputError(f"cannot write to {out.parent}: {exc.strerror}", refused=True) from None
        try:
            yield staging
            (staging / MARKER).write_text(json.dumps({"tool": "ctit", "command": command}) + "\n",
                                          encoding="utf-8")
            _sync_tree(staging)
            _publish(staging, out)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if not _about_staging(exc, staging):
                raise
            what = exc.strerror or str(exc)
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise OutputError(f"writing {out} failed: {what}{where}; "
                              f"the previous content of {out} is unchanged") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _about_staging(exc: OSError, staging: Path) -> bool:
    """Whether an OSError is a failure to write the output, not e.g. a missing input: it names
    a file in the staging folder, or no file but an errno (ENOSPC from a write). A lost
    connection (an engine such as Spark that died) is not the output's fault."""
    if isinstance(exc, ConnectionError):
        return False
    if exc.filename is None:
        return exc.errno is not None
    return os.path.abspath(os.fsdecode(exc.filename)).startswith(str(staging))


def _sync_tree(folder: Path) -> None:
    """Flush the staged files to disk, so the rename never publishes data still in the page cache."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def relocate(paths: list[Path], staging: Path, out: Path) -> list[Path]:
    """Paths written under `staging`, as they are under `out` once published."""
    out = Path(os.path.abspath(out))
    return [out / Path(p).relative_to(staging) if Path(p).is_relative_to(staging) else Path(p) for p in paths]


def report_time(input_path: Path | None = None) -> datetime:
    """The time reports are stamped with, so the same input gives the same bytes:
    SOURCE_DATE_EPOCH (reproducible builds) when set, else the newest modification time of
    the input files, else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
    if input_path is not None:
        path = Path(input_path)
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        try:
            newest = max((p.stat().st_mtime for p in files), default=None)
        except OSError:
            newest = None
        if newest is not None:
            return datetime.fromtimestamp(int(newest), tz=timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


_W3CDTF = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def fixed_zip(data: bytes, when: datetime) -> bytes:
    """An Office file (a zip) with every entry dated `when` and its document properties'
    created/modified set to `when`, so equal content gives equal bytes."""
    stamp = max(when, datetime(1980, 1, 1, tzinfo=timezone.utc))
    date_time = stamp.timetuple()[:6]
    w3c = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _W3CDTF.sub(rb"\g<1>" + w3c + rb"\g<2>", body)
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = info.compress_type
            entry.external_attr = info.external_attr
            target.writestr(entry, body)
    return buffer.getvalue()
