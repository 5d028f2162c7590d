"""`models install` against a local HTTP server serving the tiny golden files: download with
resume after an interruption, structure check against a key listing, import, sha256 records."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import pytest

from refldm_desktop.cli import main
from refldm_desktop.restore.refldm.download import DownloadError, download, part_path
from refldm_desktop.restore.refldm.listing import make_compact, parse_listing_text
from refldm_desktop.restore.refldm.release import RELEASE_ENV


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; can cut a response short or ignore Range."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m and not server.ignore_range:
            start, status = int(m[1]), 206
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = server.cut_after.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(golden_dir, tmp_path):
    """Serves tmp_path/www, where the golden files are linked; tests may add others."""
    www = tmp_path / "www"
    www.mkdir()
    for name in ("refldm.ckpt", "vqgan.ckpt", "lq.png"):
        (www / name).symlink_to(golden_dir / name)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(www)))
    httpd.www = www
    httpd.requests, httpd.cut_after, httpd.ignore_range = [], {}, False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(tmp_path, golden_dir, server, refldm_file="refldm.ckpt", reported=None) -> Path:
    """A release manifest for the tiny golden files, with their key listing."""
    listing = parse_listing_text((golden_dir / "tiny_refldm_ckpt_keys.txt").read_text())
    vq = {k[len("first_stage_model."):]: v for k, v in listing.items() if k.startswith("first_stage_model.")}
    (tmp_path / "tiny_keys.json").write_text(json.dumps(make_compact(listing, vq, "tiny golden")))
    reported = reported or {}
    manifest = {
        "format": "refldm-desktop/release",
        "version": 1,
        "title": "tiny golden release",
        "config": str(golden_dir / "config.yaml"),
        "key_listing": "tiny_keys.json",
        "files": {
            role: {"url": f"{server.url}/{src}", "filename": f"{role}.ckpt", "sha256_reported": reported.get(role),
                   "reported_by": "the test"}
            for role, src in (("refldm", refldm_file), ("vqgan", "vqgan.ckpt"))
        },
    }
    path = tmp_path / "release.json"
    path.write_text(json.dumps(manifest))
    return path


def install(home, *extra):
    return main(["--home", str(home), "models", "install", "--name", "tiny", "--no-progress", *extra])


def test_install_downloads_checks_and_imports(tmp_path, golden_dir, server, tiny_home, capsys):
    reported = {"refldm": sha256(golden_dir / "refldm.ckpt"), "vqgan": "0" * 64}
    manifest = write_manifest(tmp_path, golden_dir, server, reported=reported)
    home = tmp_path / "home"
    assert install(home, "--manifest", str(manifest)) == 0
    err = capsys.readouterr().err
    assert "warning: vqgan.ckpt has sha256" in err and "warning: refldm.ckpt" not in err
    stored = home / "models" / "tiny"
    record = json.loads((stored / "manifest.json").read_text())
    assert record["source"]["refldm"]["sha256"] == reported["refldm"]
    assert record["source"]["urls"]["vqgan"] == f"{server.url}/vqgan.ckpt"
    # The same bytes as a local `models import` of the same files.
    for f in ("unet.safetensors", "vq.safetensors", "config.json"):
        assert sha256(stored / f) == sha256(tiny_home / "models" / "tiny" / f)
    assert list((home / "cache" / "downloads").iterdir()) == []  # originals removed after import
    assert install(home, "--manifest", str(manifest)) == 2
    assert "already installed" in capsys.readouterr().err


def test_interrupted_download_resumes(tmp_path, golden_dir, server, monkeypatch, capsys):
    monkeypatch.setenv(RELEASE_ENV, str(write_manifest(tmp_path, golden_dir, server)))
    home = tmp_path / "home"
    server.cut_after["/refldm.ckpt"] = 10_000_000
    assert install(home) == 2
    assert "run the command again to resume" in capsys.readouterr().err
    part = home / "cache" / "downloads" / "refldm.ckpt.part"
    assert part.stat().st_size == 10_000_000
    assert not (home / "models" / "tiny").exists()

    server.requests.clear()
    assert install(home, "--keep-downloads") == 0
    assert ("/refldm.ckpt", "bytes=10000000-") in server.requests
    kept = home / "cache" / "downloads" / "refldm.ckpt"
    assert sha256(kept) == sha256(golden_dir / "refldm.ckpt") and not part.exists()
    assert (home / "models" / "tiny" / "manifest.json").is_file()


def test_a_wrong_download_is_refused_and_removed(tmp_path, golden_dir, server, capsys):
    manifest = write_manifest(tmp_path, golden_dir, server, refldm_file="lq.png")
    home = tmp_path / "home"
    assert install(home, "--manifest", str(manifest)) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    assert list((home / "cache" / "downloads").iterdir()) == []
    assert list((home / "models").iterdir()) == []


def test_a_file_of_another_structure_is_refused(tmp_path, golden_dir, server, capsys):
    """The listing check: a refldm.ckpt that lost its EMA weights does not match it."""
    import torch

    sd = torch.load(golden_dir / "refldm.ckpt", weights_only=True)
    torch.save({k: v for k, v in sd.items() if not k.startswith("model_ema.")}, server.www / "no_ema.ckpt")
    manifest = write_manifest(tmp_path, golden_dir, server, refldm_file="no_ema.ckpt")
    assert install(tmp_path / "home", "--manifest", str(manifest)) == 2
    err = capsys.readouterr().err
    assert "does not match the official key listing" in err and "368 tensors missing" in err


def test_download_edge_cases(tmp_path, golden_dir, server):
    dest = tmp_path / "vqgan.ckpt"
    want = sha256(golden_dir / "vqgan.ckpt")
    # A .part that already holds every byte (stopped before the rename): the server says 416.
    part_path(dest).write_bytes((golden_dir / "vqgan.ckpt").read_bytes())
    download(f"{server.url}/vqgan.ckpt", dest, progress=False)
    assert sha256(dest) == want and not part_path(dest).exists()
    # A server that ignores Range sends the whole file: start over instead of appending.
    dest.unlink()
    part_path(dest).write_bytes(b"stale bytes")
    server.ignore_range = True
    download(f"{server.url}/vqgan.ckpt", dest, progress=False)
    assert sha256(dest) == want
    with pytest.raises(DownloadError, match="404"):
        download(f"{server.url}/missing.ckpt", tmp_path / "missing.ckpt", progress=False)
    with pytest.raises(DownloadError, match="cannot connect"):
        download("http://127.0.0.1:1/x.ckpt", tmp_path / "x.ckpt", progress=False, timeout=5)
