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
import re
from functools import partial
import sqlite3
from enum import StrEnum
from typing import Callable, Mapping


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


class Cancelled(LibraryError):
    """The user cancelled; what was finished is kept. (refldm_desktop.core.progress exports
    it too; here so that the db layer can raise it.)"""

    def __init__(self, message: str = "cancelled; what was finished is kept") -> None:
        super().__init__(message)


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


# -- what to do, said on the command line -------------------------------------------------

NO_REFS_FLAG = "--no-refs-ok"  # restore faces without references too (restore, clean-album)


class Advice(StrEnum):
    """Advice that names a command-line verb or option. Each value is the words the command
    line says (a str.format template); the app says the same thing in its own words
    (ui/advice.py), finding the advice in a message by its template. A message gives advice
    through `advise`, so that the words stay the ones the app looks for."""

    RUN_AGAIN = "run the command again"
    RUN_THIS_AGAIN = "run this one again"
    THEN_RUN_AGAIN = "then run again"
    INDEX_FOLDER = "run `index` on its folder again"
    INSTALL_WEIGHTS = (
        "install the ReF-LDM weights with `refldm-desktop models install`, "
        "or convert downloaded files with `refldm-desktop models import`"
    )
    INSTALL_MODEL = "run `refldm-desktop models install`"
    RESTORE_AGAIN = "queue it again with `restore PHOTO`"
    NO_REFS_OK = f"allow reference-free restoration: {NO_REFS_FLAG}"
    NO_REFS_RESTORES = f"{NO_REFS_FLAG} restores it"
    SMALLER_UPSCALE = "use a smaller --upscale"
    FIX_SETTINGS = "fix it with `refldm-desktop config set`"
    CONFIRM_FACE = "faces confirm {face} --person ID"
    RESET_REFS = "refs reset --face {face}"
    INSIDE_LIBRARY = "--inside-library allows it"
    DEVICE_CUDA = "--device cuda was asked for"
    DB_CHECK = (
        "run `refldm-desktop db check` to see what is wrong, and "
        "`refldm-desktop db restore-backup` to go back to the last backup"
    )
    DB_CHECK_INTACT = "`refldm-desktop db check` tells whether the library is intact"
    REPLACE_MODEL = "use --force to replace it"

    def pattern(self) -> "re.Pattern[str]":
        """The advice as it appears in a message, its {fields} as named groups."""
        parts = re.split(r"\{(\w+)\}", self.value)
        return re.compile("".join(
            re.escape(part) if i % 2 == 0 else rf"(?P<{part}>[^\s()]+)" for i, part in enumerate(parts)))


def _say(template: str, match: "re.Match[str]") -> str:
    return template.format(**match.groupdict())


def advise(kind: Advice, **values: object) -> str:
    """The command line's words for `kind`, its fields filled in."""
    return kind.value.format(**values)


def rewording(words: Mapping[Advice, str]) -> Callable[[str], str]:
    """`reword` with `words` fixed, its patterns built once: for text reworded often (the app
    rewords every job row it paints)."""
    subs = [(kind.pattern(), partial(_say, words[kind]))
            for kind in sorted(words, key=lambda k: -len(k.value))]  # a longer advice before one inside it

    def apply(text: str) -> str:
        for pattern, say in subs:
            text = pattern.sub(say, text)
        return text

    return apply


def reword(text: str, words: Mapping[Advice, str]) -> str:
    """`text` with each piece of advice that `words` knows said in those words instead (same
    fields); the rest of the text as it was."""
    return rewording(words)(text)


# -- failures of the machine, said as a user can act on them ----------------------------

_OS_ADVICE = {
    errno.ENOSPC: f"the disk is full: free some space and {Advice.RUN_AGAIN}",
    errno.EDQUOT: f"the disk quota is used up: free some space and {Advice.RUN_AGAIN}",
    errno.EROFS: "the disk is read-only: choose a folder on a writable disk",
    errno.EACCES: "permission denied: choose a folder you may write to, or fix its permissions",
    errno.EPERM: "permission denied: choose a folder you may write to, or fix its permissions",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another folder",
    errno.EISDIR: "that is a folder, not a file: give a file name",
    errno.EIO: f"the disk reported a read or write error: check the disk, {Advice.THEN_RUN_AGAIN}",
}

_DB_DAMAGED = "the library database {where}is damaged ({what}): " + Advice.DB_CHECK.value


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
            f"to finish, then {Advice.RUN_THIS_AGAIN}"
        )
    if "disk is full" in text or "database or disk is full" in text or code == 13:
        return f"the disk holding the library is full: free some space and {Advice.RUN_AGAIN}"
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
            f"free some space (or check the disk), {Advice.THEN_RUN_AGAIN}; {Advice.DB_CHECK_INTACT}"
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
