"""A real OpenAI-compatible embedding server for tests: `POST /v1/embeddings` answered by a real
embedder (the packaged MiniLM in the tests), over a live socket, so the client's HTTP, batching,
concurrency and error handling are exercised for real. Misbehaves on request (`mode`).

    with EmbeddingServer(model) as server:
        settings = load_settings(embeddings_url=server.url, ...)
        server.mode = "http_500"          # see MODES
        server.batches                    # sizes of the batches received
        server.most_in_flight             # the most requests it held at once
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

MODES = frozenset(
    {
        "ok",
        "unnormalised",  # vectors scaled by 3 (not every server normalises)
        "http_500",
        "http_400",
        "wrong_dimension",  # 100-dimensional vectors
        "wrong_count",  # one vector fewer than texts
        "not_json",
    }
)


class EmbeddingServer:
    def __init__(self, embedder: Any, hold_for_pairs: bool = False) -> None:
        """`hold_for_pairs`: each request waits (up to 10 s) until a second one is in flight, so a
        test can see that the client sends several at once."""
        self.embedder = embedder
        self.mode = "ok"
        self.hold_for_pairs = hold_for_pairs
        self.batches: list[int] = []
        self.models: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._pair = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> EmbeddingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _enter(self) -> None:
        with self._pair:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._pair.notify_all()
            if self.hold_for_pairs:
                self._pair.wait_for(lambda: self.most_in_flight >= 2, timeout=10)

    def _leave(self) -> None:
        with self._pair:
            self.in_flight -= 1

    def embed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self.batches.append(len(texts))
            self.models.append(str(body.get("model")))
        mode = self.mode
        if mode == "http_500":
            return 500, {"error": {"message": "the GPU fell over", "type": "server_error"}}
        if mode == "http_400":
            return 400, {"error": {"message": "input too long", "type": "invalid_request_error"}}
        if mode == "not_json":
            return 200, "<html>proxy error</html>"
        vectors = np.asarray(self.embedder.embed_array(list(texts)), dtype=np.float32)
        if mode == "unnormalised":
            vectors = vectors * 3.0
        if mode == "wrong_dimension":
            vectors = vectors[:, :100]
        if mode == "wrong_count":
            vectors = vectors[:-1]
        data = [{"object": "embedding", "index": i, "embedding": row.tolist()} for i, row in enumerate(vectors)]
        return 200, {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/embeddings":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                server._enter()
                try:
                    status, reply = server.embed(body)
                finally:
                    server._leave()
                self._send(status, reply)

            def _send(self, status: int, reply: dict[str, Any] | str) -> None:
                payload = (reply if isinstance(reply, str) else json.dumps(reply)).encode("utf-8")
                self.send_response(status)
                kind = "text/html" if isinstance(reply, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
