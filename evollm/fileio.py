"""Writing files so that a crash, a full disk or a second writer never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from evollm.errors import EvollmError, ExitCode


class FileExists(EvollmError):
    """The target exists and --force was not given."""

    exit_code = ExitCode.FILE_EXISTS


class NotAFile(EvollmError):
    """The target exists and is not a regular file (a link, a device, a pipe): never replaced."""

    exit_code = ExitCode.CANNOT_WRITE


def _refuse_unless_regular(target: Path) -> None:
    from stat import S_ISREG

    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    if not S_ISREG(info.st_mode):
        what = "a symbolic link" if os.path.islink(target) else "not a regular file"
        raise NotAFile(f"{target} is {what}; refusing to replace it (write to a new or regular file)")


def read_private(path: Path) -> bytes | None:
    """The bytes of `path` if it is a regular file owned by this user and writable by no one else,
    read without following a link; None otherwise. For caches: what others could have written is
    not trusted."""
    from stat import S_ISREG

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not S_ISREG(info.st_mode) or not owned(info):
            return None
        return handle.read()


def owned(info: os.stat_result) -> bool:
    """Whether a file (its stat) is this user's and writable by no one else."""
    getuid = getattr(os, "getuid", None)
    return (getuid is None or info.st_uid == getuid()) and not info.st_mode & 0o022


def private_dir(folder: Path) -> Path:
    """`folder`, created (with its parents) readable and writable by this user only (0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def write_atomic(target: Path, text: str | bytes, *, overwrite: bool = False, private: bool = False) -> None:
    """Write `text` to a temporary file beside `target`, then rename it into place.

    `private`: readable and writable by this user only (0600), as caches are.
    Without `overwrite`, an existing target is refused (FileExists); with it, only a regular
    file is replaced: a symbolic link, a device or a pipe is refused (NotAFile).
    """
    target = Path(target)
    if not overwrite and (target.exists() or target.is_symlink()):
        raise FileExists(f"{target} exists; use --force to overwrite it")
    if overwrite:
        _refuse_unless_regular(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode any new file would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o600 if private else 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile: no race can overwrite it.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise FileExists(f"{target} exists; use --force to overwrite it") from None
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
