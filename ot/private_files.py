"""The data folder and what opentracker keeps in it are readable by their owner only: the
database, the secrets and the audit signing key, the checkpoints, the outbox's mails and the
metric files hold customers' data or what protects it.

Whoever creates them (`ot serve`, `ot-admin`, `ot-admin db upgrade`) creates them private, and a
folder found open to other users at start is tightened. A data folder that holds anything that
is not opentracker's (a misconfigured `OT_DATA_DIR` such as a home or system folder) is never
changed behind its owner's back: it is reported instead.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ot import paths

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
# Reported once per process: the start-up check runs in several places.
_reported: set[Path] = set()


def ensure_private_dir(path: Path) -> Path:
    """The folder, created readable by its owner only (parents as the system makes them); an
    existing one open to others is tightened if it is opentracker's alone, else reported."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    found = path.stat()
    if found.st_mode & _OTHERS:
        if _ours_to_change(found) and _holds_only_our_files(path):
            _tighten(path, found)
        else:
            _report(path, found)
    return path


def secure_data_dir(data_dir: Path) -> None:
    """At start: the data folder and every file and folder of ours in it readable by the owner
    only, whatever created them earlier (an older version, a restore, a copy)."""
    ensure_private_dir(data_dir)
    for name in sorted(os.listdir(data_dir)):
        if _is_ours(name):
            _secure_tree(data_dir / name)


def keep_files_private(data_dir: Path) -> None:
    """For a whole process (`ot serve`, `ot-admin`): whatever it creates from now on, libraries'
    files included (metrics, mails, exports), is its owner's alone; and the data folder is
    secured as at every start."""
    os.umask(0o077)
    secure_data_dir(data_dir)


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only, unless it exists (then tighten it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten_file(path)
        return
    os.close(fd)


def open_private_for_writing(path: Path) -> BinaryIO:
    """A file to write from its start, readable by its owner only (an export, say), even when
    a file of that name was there already."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)
    return os.fdopen(descriptor, "wb")


def tighten_file(path: Path) -> None:
    """Take other users' access away from a file of ours, if it exists."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISREG(found.st_mode) and found.st_mode & _OTHERS and _ours_to_change(found):
        _tighten(path, found)


def _secure_tree(path: Path) -> None:
    found = path.lstat()
    if stat.S_ISLNK(found.st_mode) or not _ours_to_change(found):
        return  # a link or another user's file: not ours to change
    if found.st_mode & _OTHERS:
        _tighten(path, found)
    if stat.S_ISDIR(found.st_mode):
        for child in sorted(os.listdir(path)):
            _secure_tree(path / child)


def _tighten(path: Path, found: os.stat_result) -> None:
    before = stat.S_IMODE(found.st_mode)
    after = before & ~_OTHERS
    try:
        os.chmod(path, after)
    except OSError as error:  # a read-only mount, say: say so, and let start-up go on
        log.warning(
            f"{path} can be read by other users (mode {before:o}) and could not be changed "
            f"({error.strerror})",
            extra={"path": str(path)},
        )
        return
    log.warning(
        f"{path} could be read by other users (mode {before:o}): it is now {after:o}",
        extra={"path": str(path), "mode_before": f"{before:o}", "mode_after": f"{after:o}"},
    )


def _report(path: Path, found: os.stat_result) -> None:
    if path in _reported:
        return
    _reported.add(path)
    log.warning(
        f"the data folder {path} can be read by other users (mode "
        f"{stat.S_IMODE(found.st_mode):o}) and holds files that are not opentracker's, so it "
        "was left as it is: give opentracker a folder of its own (OT_DATA_DIR) or chmod 700 it",
        extra={"path": str(path)},
    )


def _ours_to_change(found: os.stat_result) -> bool:
    """Owned by us, and not a shared folder such as /tmp (sticky bit)."""
    return found.st_uid == os.geteuid() and not found.st_mode & stat.S_ISVTX


def _holds_only_our_files(path: Path) -> bool:
    return all(_is_ours(name) for name in os.listdir(path))


def _is_ours(name: str) -> bool:
    """A name opentracker gives a file or folder of its data folder (with the hidden lock and
    temporary files made beside them)."""
    visible = name.lstrip(".")
    return any(visible == own or visible.startswith(own + ".") for own in paths.OWN_NAMES) or any(
        name == paths.SQLITE_FILE + suffix for suffix in paths.SQLITE_COMPANIONS
    )
