"""A tiny but real GGUF file and a real HTTP server on 127.0.0.1 (Range support switchable, cut-offs)."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path


def make_gguf(path: Path, *, layers: int = 2, heads: int = 4, kv_heads: int = 2, tensor_floats: int = 1 << 16) -> Path:
    """A GGUF the `gguf` reader accepts, with llama metadata and one tensor of `tensor_floats` float32s."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(path.stem)
    w.add_block_count(layers)
    w.add_context_length(1024)
    w.add_embedding_length(heads * 16)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_feed_forward_length(128)
    w.add_tensor("token_embd.weight", (np.arange(tensor_floats, dtype=np.float32) % 251).reshape(-1, heads * 16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


class ModelServer:
    """Serves files from a dict {path: bytes}. `ranges` switches HTTP Range support; `cut_after` makes the next
    response close the connection after that many body bytes (an interrupted download); `requests` logs
    (path, Range header) of every GET; `delay_s` slows each 64 KiB (to see progress and cancel)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.cut_after: int | None = None
        self.delay_s = 0.0
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                import time

                rng = self.headers.get("Range")
                owner.requests.append((self.path, rng))
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                if rng and owner.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("ETag", f'"{len(body)}"')
                if owner.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                payload = body[start:]
                cut, owner.cut_after = owner.cut_after, None
                if cut is not None:
                    payload = payload[:cut]
                for i in range(0, len(payload), 1 << 16):
                    if owner.delay_s:
                        time.sleep(owner.delay_s)
                    try:
                        self.wfile.write(payload[i:i + (1 << 16)])
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        return
                if cut is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> ModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
