"""Resumable HTTP(S) downloads with a progress bar, standard library only.

Bytes arrive in `<file>.part`; an interrupted download keeps it, and the next attempt asks the
server for the rest (HTTP Range). Only a complete file is renamed to its final name.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from refldm_desktop import __version__
from refldm_desktop.errors import DownloadError  # noqa: F401 (also exported here)

CHUNK = 1 << 20


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(
    url: str,
    dest: Path,
    progress: bool = True,
    timeout: float = 60.0,
    on_bytes: Callable[[str, int, int | None], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> Path:
    """Fetch url into dest, resuming from dest.part when present. Returns dest.

    `progress` draws a bar on stderr; `on_bytes(name, done, total)` is told after each
    block; `check_cancelled()` is called between blocks and raises to stop (the bytes so
    far stay in dest.part, so the next call resumes)."""
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"refldm-desktop/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset and _range_total(exc.headers.get("Content-Range")) == offset:
            os.replace(part, dest)  # the previous attempt got every byte but stopped before renaming
            return dest
        if exc.code == 416:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: the partial download did not fit the file on the server; "
                                "it was removed, run the command again to start over") from None
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot connect ({getattr(exc, 'reason', exc)})") from None

    with resp:
        if offset and resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                raise DownloadError(f"{url}: the server resumed at byte {start}, not {offset}")
        else:
            offset = 0  # the server sent the whole file: start over
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = offset
        with open(part, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=dest.name, file=sys.stderr, disable=not progress, leave=True,
        ) as bar:
            if on_bytes is not None:
                on_bytes(dest.name, done, total)
            try:
                while block := resp.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    bar.update(len(block))
                    if on_bytes is not None:
                        on_bytes(dest.name, done, total)
                    if check_cancelled is not None:
                        check_cancelled()
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"{url}: interrupted after {done} bytes ({exc}); run the command again to resume"
                ) from None
            finally:
                out.flush()
                os.fsync(out.fileno())
    if total is not None and done != total:
        raise DownloadError(
            f"{url}: the connection closed after {done} of {total} bytes; run the command again to resume"
        )
    os.replace(part, dest)
    return dest


def _content_range(value: str | None) -> tuple[int, int | None]:
    """'bytes 100-199/200' -> (100, 200); total None when the server does not know it."""
    if value is None:
        raise DownloadError("the server's partial answer has no Content-Range header")
    try:
        unit, rest = value.split(" ", 1)
        span, total = rest.split("/")
        return int(span.split("-")[0]), None if total == "*" else int(total)
    except ValueError:
        raise DownloadError(f"malformed Content-Range header {value!r}") from None


def _range_total(value: str | None) -> int | None:
    """The total size in a 416 answer's 'bytes */N', if any."""
    if value and value.startswith("bytes */") and value[8:].isdigit():
        return int(value[8:])
    return None
