"""Real servers on 127.0.0.1 standing in for the outside world in tests: an HTTP endpoint
that records requests and answers from a script (Telegram, FCM, Web Push, webhooks), and an
SMTP mailbox. Their fixtures (`http_stub`, `smtp_server`, `telegram`) are in the root
conftest."""

from __future__ import annotations

import email
import json
import threading
import time
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpStub:
    """A real HTTP server on 127.0.0.1 (a thread): records every request and answers each
    path from a script. `answer(path, *responses)`: each response is (status, body,
    headers) or a callable(request) returning one; the last one repeats."""

    def __init__(self):
        self.requests: list[dict] = []
        self.routes: dict[str, list] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length),
                    "at": time.monotonic(),
                }
                stub.requests.append(request)
                status, body, headers = stub._respond(request)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, path: str, *responses) -> None:
        self.routes[path] = list(responses)

    def _respond(self, request: dict):
        script = self.routes.get(request["path"])
        if not script:
            return 404, {"error": "no route"}, None
        response = script.pop(0) if len(script) > 1 else script[0]
        response = response(request) if callable(response) else response
        return (*response, None)[:3] if len(response) == 2 else response

    def to(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


BOT_TOKEN = "123456:TEST-bot-token"  # noqa: S105 - test credential
SEND_PATH = f"/bot{BOT_TOKEN}/sendMessage"
OK = (200, {"ok": True, "result": {"message_id": 1}})


def telegram_texts(stub: HttpStub) -> list[str]:
    return [json.loads(r["body"])["text"] for r in stub.to(SEND_PATH)]
