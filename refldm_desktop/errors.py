"""The errors a user can act on, under one root.

`RefldmError` is what the CLI (and the app) show as one line: `str(exc)` says what went wrong
and what to do about it. Anything that is not a `RefldmError` is a bug, or a failure of the
machine (a full disk, a damaged database) that `translate` turns into one.

This module imports nothing of the app, so that every package can raise these errors without
import cycles. The old homes of each class (e.g. `refldm_desktop.library.output.OutputError`)
still export it.
"""

from __future__ import annotations

import errno
import sqlite3


class RefldmError(Exception):
    """Something the user can act on; `str(exc)` is one line: the reason and what to do."""

    def __str__(self) -> str:
        text = super().__str__()
        # One line, always: a message built from an OS or library error may carry newlines.
        return " ".join(text.split())

    @property
    def reason(self) -> str:
        return str(self)


class LibraryError(RefldmError):
    """Something asked of the library cannot be done."""


class NotFound(LibraryError):
    """A photo, face, person or job id that does not exist."""


class LibraryBusy(LibraryError):
    """Another process is doing the same work on this library (indexing) right now."""


class DatabaseError(RefldmError, RuntimeError):
    """The database cannot be used: made by a newer version, damaged, busy, on a full disk."""


class ImageFileError(RefldmError):
    """A photo file that cannot be read, or a result that cannot be written.

    Reading and writing fail for the same kinds of reasons (missing, unreadable, full disk,
    not an image) and are shown the same way; `ImageError` and `OutputError` tell the side.
    """


class ImageError(ImageFileError):
    """A file we cannot turn into pixels."""


class OutputError(ImageFileError):
    """The restored photo could not be written."""


class JobError(RefldmError):
    """A job verb cannot be done."""


class JobNotFound(JobError, NotFound):
    pass


class RunnerBusy(JobError, RuntimeError):
    """Another runner (in this or another process) holds the job queue."""


class RestoreError(RefldmError):
    """A restorer could not do the job."""


class ModelStoreError(RefldmError):
    """A model that cannot be stored or used."""


class CheckpointError(ModelStoreError, ValueError):
    """A checkpoint file that is not what it should be (damaged, unsafe, wrong shapes)."""


class ConfigError(ModelStoreError, ValueError):
    """A model config that is malformed or describes something we do not implement."""


class DownloadError(ModelStoreError):
    """A download that did not complete; the message says whether it can be resumed."""


class ReleaseError(ModelStoreError):
    """The published model release is not what we expect."""


class PluginError(RefldmError, RuntimeError):
    """A plugin that cannot be found, loaded or used."""


class CliError(RefldmError):
    """A bad command line: wrong or conflicting options."""


# -- failures of the machine, said as a user can act on them ----------------------------

_OS_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space and run the command again",
    errno.EDQUOT: "the disk quota is used up: free some space and run the command again",
    errno.EROFS: "the disk is read-only: choose a folder on a writable disk",
    errno.EACCES: "permission denied: choose a folder you may write to, or fix its permissions",
    errno.EPERM: "permission denied: choose a folder you may write to, or fix its permissions",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another folder",
    errno.EISDIR: "that is a folder, not a file: give a file name",
    errno.EIO: "the disk reported a read or write error: check the disk, then run again",
}

_DB_DAMAGED = (
    "the library database {where}is damaged ({what}): run `refldm-desktop db check` to see "
    "what is wrong, and `refldm-desktop db restore-backup` to go back to the last backup"
)


def os_error_message(exc: OSError, what: str | None = None) -> str | None:
    """One line for an OSError a user can act on (full disk, read-only, permissions), or None."""
    advice = _OS_ADVICE.get(exc.errno or 0)
    if advice is None:
        return None
    where = what or exc.filename
    return f"{where}: {advice}" if where else advice


def database_error_message(exc: BaseException, where: str | None = None) -> str | None:
    """One line for a SQLite failure a user can act on, or None when it looks like a bug.

    Takes the DB-API error itself or SQLAlchemy's wrapper of it (its `.orig`), so that no SQL
    text or parameters ever reach the user.
    """
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.Error):
        return None
    text = str(orig).lower()
    code = getattr(orig, "sqlite_errorcode", None)
    prefix = f"{where} " if where else ""
    if "database is locked" in text or "database is busy" in text or code in (5, 6):
        return (
            "another refldm-desktop command is writing to this library right now: wait for it "
            "to finish, then run this one again"
        )
    if "disk is full" in text or "database or disk is full" in text or code == 13:
        return "the disk holding the library is full: free some space and run the command again"
    if "readonly" in text or "read-only" in text or code == 8:
        return (
            "the library database cannot be written (read-only disk or file): use a writable "
            "home folder (--home) or fix the permissions"
        )
    if "unable to open" in text or code == 14:
        return (
            f"the library database {prefix}cannot be opened: check that the home folder "
            "exists, is a folder and is writable (or choose another with --home)"
        )
    if "malformed" in text or "not a database" in text or code in (11, 26):
        return _DB_DAMAGED.format(where=prefix, what="the file is not a whole SQLite database")
    if "disk i/o error" in text or code == 10:
        return (
            "the disk could not write the library database (most often because it is full): "
            "free some space (or check the disk), then run again; `refldm-desktop db check` "
            "tells whether the library is intact"
        )
    return None


def translate(exc: BaseException) -> RefldmError | None:
    """`exc` as an error the user can act on, or None when it is a bug."""
    if isinstance(exc, RefldmError):
        return exc
    message = database_error_message(exc)
    if message is None and isinstance(exc, OSError):
        message = os_error_message(exc)
    if message is None and isinstance(exc, MemoryError):
        message = "the computer ran out of memory: close other programs or work on fewer photos"
    return RefldmError(message) if message else None


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/host out-of-memory errors, without importing torch.

    torch raises torch.cuda.OutOfMemoryError (torch.OutOfMemoryError in newer versions),
    older versions a RuntimeError saying "CUDA out of memory"; the host raises MemoryError.
    """
    seen = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, MemoryError):
            return True
        if any(c.__name__ == "OutOfMemoryError" for c in type(link).__mro__):
            return True
        if "out of memory" in str(link).lower():
            return True
        link = link.__cause__ or link.__context__
    return False
