"""Helpers of the money tests: a new client, the ledger's invariants checked, and a fake
O!Dengi (a real HTTP server on 127.0.0.1 speaking its signed JSON protocol)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from accounts.models import Client
from accounts.tests.factories import ClientFactory
from payments.selectors import ledger_invariant_violations, unbalanced_transactions


def new_client(**kwargs) -> Client:
    return ClientFactory(**kwargs)


def assert_ledger_consistent() -> None:
    assert (
        list(
            ledger_invariant_violations().values_list(
                "pk",
                "balance",
                "posted_balance",
                "held",
                "posted_held",
                "debt",
                "posted_debt",
                "open_holds",
            )
        )
        == []
    )
    assert list(unbalanced_transactions().values_list("pk", "total")) == []


# the fake O!Dengi's merchant credentials
PASSWORD = "S3cr#t/пароль"
SID = "2310370542"


# -- the fake O!Dengi ------------------------------------------------------------------


def hmac_md5(text: str) -> str:
    return hmac.new(PASSWORD.encode(), text.encode(), hashlib.md5).hexdigest()


class FakeODengi:
    """json.php: checks each request's hash, answers signed like O!Dengi does.
    `mode`: "ok", "500" (HTTP 500), "close" (drops the connection), "bad-hash" (answers
    with a wrong hash), "php" (hash over PHP-escaped JSON)."""

    def __init__(self):
        self.mode = "ok"
        self.requests: list[dict] = []
        self.raw_bodies: list[str] = []
        self.bad_hashes = 0
        self.hits = 0
        self.statuses: dict[str, dict] = {}  # order_id -> statusPayment data
        self.history_csv = ""
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = fake.history_csv.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with fake.lock:
                    fake.hits += 1
                if fake.mode == "close":
                    self.close_connection = True
                    return
                if fake.mode == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, answer = fake.handle(raw)
                body = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/json/json.php"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def commands(self, cmd: str | None = None) -> list[dict]:
        return [r for r in self.requests if cmd is None or r["cmd"] == cmd]

    def handle(self, raw: str) -> tuple[int, str]:
        message = json.loads(raw)
        unsigned = {k: v for k, v in message.items() if k != "hash"}
        text = json.dumps(unsigned, separators=(",", ":"), ensure_ascii=False)
        with self.lock:
            self.raw_bodies.append(raw)
            self.requests.append(message)
            if (
                raw != json.dumps(message, separators=(",", ":"), ensure_ascii=False)
                or message.get("hash") != hmac_md5(text)
                or message.get("sid") != SID
            ):
                self.bad_hashes += 1
                return 200, self.answer(message, {"error": 3, "desc": "Неверная подпись"})
            data = message["data"]
            cmd = message["cmd"]
            if cmd == "createInvoice":
                invoice = f"INV{len(self.commands('createInvoice'))}"
                return 200, self.answer(
                    message,
                    {
                        "invoice_id": invoice,
                        "qr": f"https://mw-api-test.dengi.kg/qr/{invoice}.png",
                        "emv_qr": "00020101021232680012p2p.dengi.kg0104858063045D1A",
                        "link_app": f"https://api.dengi.o.kg/app?invoice={invoice}",
                        "site_pay": f"https://pay.dengi.kg/{invoice}",
                    },
                )
            if cmd == "statusPayment":
                entry = self.statuses.get(data["order_id"], {"status": "pending"})
                return 200, self.answer(
                    message,
                    {"order_id": data["order_id"], "invoice_id": data.get("invoice_id"), **entry},
                )
            if cmd in ("invoiceCancel", "refundPaymentToEwallet"):
                return 200, self.answer(message, {"status": "ok"})
            if cmd == "getHistoryCsv":
                base = self.url.rsplit("/api/", 1)[0]
                return 200, self.answer(message, {"link": f"{base}/report/history.csv"})
        return 200, self.answer(message, {"error": 1, "desc": "unknown cmd"})

    def answer(self, message: dict, data: dict) -> str:
        reply = {
            "version": 1005,
            "mktime": "1700000000000",
            "sid": SID,
            "cmd": message.get("cmd"),
            "data": data,
        }
        php = self.mode == "php"
        text = json.dumps(reply, separators=(",", ":"), ensure_ascii=php)
        if php:
            text = text.replace("/", "\\/")
        reply["hash"] = "0" * 32 if self.mode == "bad-hash" else hmac_md5(text)
        return json.dumps(reply, ensure_ascii=php)
