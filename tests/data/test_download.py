"""Downloads through pooch, against a local HTTP server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from functools import partial

import pytest

from nnlab.data import DownloadError, download

PAYLOAD = b"nnlab download test\n" * 500


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, records every requested path, logs nothing."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """(base URL, list of requested paths) of a server of ``tmp_path/www`` holding data.bin."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a CI proxy must not intercept loopback
    www = tmp_path / "www"
    www.mkdir()
    (www / "data.bin").write_bytes(PAYLOAD)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_CountingHandler, directory=str(www))
    )
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", server.requests
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_checks_the_hash_and_caches(http_server, tmp_path):
    base, requests = http_server
    dest = tmp_path / "cache" / "data.bin"
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    assert download(f"{base}/data.bin", dest, sha256) == dest
    assert dest.read_bytes() == PAYLOAD
    assert requests == ["/data.bin"]
    assert download(f"{base}/data.bin", dest, sha256.upper()) == dest  # the cached file
    assert requests == ["/data.bin"]  # no second request
    assert [p.name for p in dest.parent.iterdir()] == ["data.bin"]


def test_download_with_a_wrong_hash_raises_and_leaves_nothing(http_server, tmp_path):
    base, requests = http_server
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        download(f"{base}/data.bin", cache / "data.bin", wrong)
    message = str(info.value)
    assert f"{base}/data.bin" in message
    assert wrong in message and hashlib.sha256(PAYLOAD).hexdigest() in message
    assert requests == ["/data.bin"]
    assert list(cache.iterdir()) == []


def test_download_from_an_unreachable_url_raises(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.bin"
    with pytest.raises(DownloadError, match=f"could not download {url}"):
        download(url, tmp_path / "cache" / "data.bin", "0" * 64, timeout=5)
    assert not (tmp_path / "cache" / "data.bin").exists()


def test_download_of_a_missing_file_raises(http_server, tmp_path):
    base, _ = http_server
    with pytest.raises(DownloadError, match="404"):
        download(f"{base}/absent.bin", tmp_path / "cache" / "absent.bin", "0" * 64)
    assert list((tmp_path / "cache").iterdir()) == []
