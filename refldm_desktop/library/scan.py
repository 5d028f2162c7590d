"""Finding photo files under library folders: cheap, deterministic, and never stuck.

Why it is shaped like this: re-indexing an unchanged library of 10,000 photos must take
seconds, so ``walk`` only lists folders and stats files (``os.scandir``); it opens a file
only when the name gives no hint (no or an unknown extension) and ``sniff_unknown`` is on.
Whether a file really is an image is decided later, by content, when it is decoded.

Real libraries contain traps: symlinks that point back up the tree, links to folders that
are also reachable directly, dangling links, folders we may not list, NAS metadata folders
(``@eaDir``) full of thumbnails named .jpg, and macOS "._IMG_0001.jpg" resource forks. Each
bad entry becomes a ``ScanProblem`` with a reason and the walk goes on. Results come in a
fixed order (sorted by name, real folders before folders reached through symlinks), so two
runs over the same tree give the same sequence.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .imageio import IMAGE_EXTENSIONS, describe_content, os_error_reason, sniff_bytes

__all__ = [
    "IGNORED_EXTENSIONS",
    "FileEntry",
    "ScanProblem",
    "content_hash",
    "is_skipped_folder",
    "walk",
]

# Files we know are not photos we read, so we never open them to look: videos, camera raw
# files (their TIFF-like magic would fool the sniffer), sidecars, documents, audio, archives,
# and image formats we do not index.
IGNORED_EXTENSIONS: frozenset[str] = frozenset(
    {
        # video
        ".mp4", ".m4v", ".mov", ".qt", ".avi", ".mkv", ".webm", ".wmv", ".mpg", ".mpeg",
        ".mts", ".m2ts", ".ts", ".3gp", ".3g2", ".flv", ".vob", ".lrv",
        # camera raw
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
        ".raf", ".pef", ".srw", ".x3f", ".erf", ".kdc", ".dcr", ".mrw", ".raw", ".rwl", ".3fr",
        ".iiq", ".mef", ".mos",
        # sidecars, catalogues, documents
        ".xmp", ".aae", ".thm", ".json", ".xml", ".txt", ".md", ".ini", ".db", ".sqlite",
        ".lrcat", ".pp3", ".dop", ".on1", ".csv", ".pdf", ".doc", ".docx", ".html", ".htm",
        ".log", ".nfo", ".url", ".lnk", ".ds_store",
        # audio
        ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus", ".wma", ".amr",
        # archives and programs
        ".zip", ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".tar", ".exe", ".dll", ".so",
        # images we do not index (animations, layered and vector formats)
        ".gif", ".psd", ".psb", ".svg", ".ico", ".xcf", ".kra", ".ai", ".eps",
    }
)

# Folders that hold thumbnails, trash or system data rather than the user's photos. Any
# name starting with "." (".git", ".thumbnails", ".Trash-1000", ".cache") is skipped too.
_SKIPPED_FOLDERS = frozenset(
    {"@eadir", "#recycle", "#snapshot", "$recycle.bin", "system volume information", "lost+found"}
)

_SNIFF_BYTES = 512


@dataclass(frozen=True)
class FileEntry:
    """A file that is, or claims to be, an image. ``path`` is absolute (not resolved:
    a file found through a symlinked folder keeps the path through the link)."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    """Something under a library folder we could not look at, with a short reason."""

    path: Path
    reason: str


def is_skipped_folder(name: str) -> bool:
    """True for hidden, thumbnail, trash and system folders that never hold library photos."""
    return name.startswith(".") or name.lower() in _SKIPPED_FOLDERS


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _sniff_file(path: str) -> bytes | None:
    """First bytes of a file, or None when it cannot be read (then it is not ours to report:
    with an unknown extension we cannot tell whether it was meant to be a photo)."""
    try:
        with open(path, "rb") as f:
            return f.read(_SNIFF_BYTES)
    except OSError:
        return None


def _entry(path: Path, st: os.stat_result) -> FileEntry:
    return FileEntry(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns)


def _broken_link_reason(path: str) -> str | None:
    """Why a name that is neither a file nor a folder cannot be used; None for things that
    are simply not files (sockets, FIFOs, devices), which are skipped silently."""
    try:
        os.stat(path)
    except OSError as exc:
        if not os.path.islink(path):
            return os_error_reason(exc)
        if exc.errno == errno.ELOOP:
            return "symlink loop (the link points, through other links, back to itself)"
        if isinstance(exc, FileNotFoundError):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"dangling symlink (target {target} does not exist)"
        return f"broken symlink ({os_error_reason(exc)})"
    return None


def _list_folder(path: Path) -> list[os.DirEntry[str]] | ScanProblem:
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except PermissionError:
        return ScanProblem(path, "permission denied: cannot list this folder")
    except OSError as exc:
        return ScanProblem(path, f"cannot list this folder: {os_error_reason(exc)}")
    entries.sort(key=lambda e: e.name)
    return entries


class _Walker:
    """State of one walk: folders already seen (by device and inode), so that every folder
    is walked once, and symlinked folders held back until the real tree is done."""

    def __init__(self, sniff_unknown: bool, overlapping: bool) -> None:
        self.sniff_unknown = sniff_unknown
        self.visited: set[tuple[int, int]] = set()
        self.deferred: list[tuple[Path, tuple[int, int]]] = []
        # With several roots, a file named as a root may also lie in a folder root; remember
        # what was listed so each path comes once. One root needs no such memory.
        self.listed: set[Path] | None = set() if overlapping else None

    def _new(self, path: Path) -> bool:
        if self.listed is None:
            return True
        if path in self.listed:
            return False
        self.listed.add(path)
        return True

    def root(self, root: Path) -> Iterator[FileEntry | ScanProblem]:
        try:
            st = os.stat(root)
        except OSError as exc:
            if os.path.islink(root):
                yield ScanProblem(root, _broken_link_reason(str(root)) or os_error_reason(exc))
            elif isinstance(exc, FileNotFoundError):
                yield ScanProblem(root, "no such file or folder")
            else:
                yield ScanProblem(root, os_error_reason(exc))
            return
        if stat.S_ISDIR(st.st_mode):
            yield from self.tree(root, (st.st_dev, st.st_ino))
        elif stat.S_ISREG(st.st_mode):
            # A file named explicitly: the user wants to hear if it is not a photo.
            if _extension(root.name) in IMAGE_EXTENSIONS:
                if self._new(root):
                    yield _entry(root, st)
                return
            try:
                with open(root, "rb") as f:
                    head = f.read(_SNIFF_BYTES)
            except OSError as exc:
                yield ScanProblem(root, os_error_reason(exc))
                return
            if sniff_bytes(head) is not None:
                if self._new(root):
                    yield _entry(root, st)
            else:
                yield ScanProblem(root, describe_content(head))
        else:
            yield ScanProblem(root, "not a regular file or folder")

    def tree(self, top: Path, key: tuple[int, int]) -> Iterator[FileEntry | ScanProblem]:
        if key in self.visited:
            return
        listing = _list_folder(top)
        if isinstance(listing, ScanProblem):
            yield listing
            return
        self.visited.add(key)
        # Depth-first with an explicit stack (no recursion limit on deep trees); each frame
        # is a folder, its sorted entries, and the next index. ``chain`` holds the keys of
        # the folders on the stack, to tell a loop from a second route to the same folder.
        stack: list[tuple[Path, list[os.DirEntry[str]], int]] = [(top, listing, 0)]
        chain: list[tuple[tuple[int, int], Path]] = [(key, top)]
        while stack:
            folder, entries, index = stack[-1]
            if index >= len(entries):
                stack.pop()
                chain.pop()
                continue
            stack[-1] = (folder, entries, index + 1)
            entry = entries[index]
            name = entry.name
            if name.startswith("."):
                continue  # hidden files and folders, macOS "._name.jpg" resource forks
            path = folder / name
            try:
                # Both follow symlinks. FileNotFoundError (dangling link) is swallowed by
                # DirEntry itself, but a link loop (ELOOP) or a permission error is raised.
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                is_dir = is_file = False
            if is_dir:
                if is_skipped_folder(name):
                    continue
                try:
                    st = entry.stat()
                except OSError as exc:
                    yield ScanProblem(path, os_error_reason(exc))
                    continue
                sub_key = (st.st_dev, st.st_ino)
                ancestor = next((p for k, p in chain if k == sub_key), None)
                if ancestor is not None:
                    yield ScanProblem(path, f"symlink loop (leads back to {ancestor})")
                    continue
                if sub_key in self.visited:
                    continue  # the same folder reached a second way: walk it once
                if entry.is_symlink():
                    self.deferred.append((path, sub_key))
                    continue
                sub_listing = _list_folder(path)
                if isinstance(sub_listing, ScanProblem):
                    yield sub_listing
                    continue
                self.visited.add(sub_key)
                stack.append((path, sub_listing, 0))
                chain.append((sub_key, path))
            elif is_file:
                ext = _extension(name)
                if ext not in IMAGE_EXTENSIONS:
                    if ext in IGNORED_EXTENSIONS or not self.sniff_unknown:
                        continue
                    head = _sniff_file(str(path))
                    if head is None or sniff_bytes(head) is None:
                        continue
                try:
                    st = entry.stat()
                except OSError as exc:
                    yield ScanProblem(path, os_error_reason(exc))
                    continue
                if self._new(path):
                    yield _entry(path, st)
            else:
                # Neither a file nor a folder behind the name: a dangling or looping link, or
                # something we may not stat. Report it when it was probably meant to be a
                # photo or a folder of photos.
                ext = _extension(name)
                if ext in IMAGE_EXTENSIONS or ext == "":
                    reason = _broken_link_reason(str(path))
                    if reason is not None:
                        yield ScanProblem(path, reason)
            # Sockets, FIFOs and devices end up here too and are skipped: opening a FIFO to
            # sniff it would block forever.

    def run_deferred(self) -> Iterator[FileEntry | ScanProblem]:
        while self.deferred:
            path, key = self.deferred.pop(0)
            yield from self.tree(path, key)


def walk(roots: Iterable[str | os.PathLike[str]], *, sniff_unknown: bool = True) -> Iterator[FileEntry | ScanProblem]:
    """Yield every photo file under ``roots`` (folders or single files), and a ScanProblem
    for each entry we could not look at. Never raises for one bad entry.

    A file is yielded when its extension is an image extension (its content is judged when
    it is decoded), or, with ``sniff_unknown``, when its extension is unknown or missing and
    its first bytes are an image format we read. Known non-image files (videos, raw, sidecars)
    are skipped silently and never opened. Order: roots as given; inside each, entries
    sorted by name, depth first; folders reached through symlinks come after all real
    folders. Every folder is walked once and every path listed once, however many routes
    or overlapping roots lead to it.
    """
    paths = [Path(os.path.abspath(os.fspath(root))) for root in roots]
    walker = _Walker(sniff_unknown, overlapping=len(paths) > 1)
    for root in paths:
        yield from walker.root(root)
    yield from walker.run_deferred()


def content_hash(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes, streamed (constant memory). Raises OSError."""
    with open(path, "rb") as f:
        if hasattr(hashlib, "file_digest"):
            return hashlib.file_digest(f, "sha256").hexdigest()
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
        return digest.hexdigest()
