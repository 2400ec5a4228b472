"""A fake SMS gateway on loopback, speaking campaigns.senders.SmsSender's protocol.

Every call is answered after `latency` seconds (a real gateway's round trip), batches of up to
`max_batch` numbers; a larger batch is refused with HTTP 413. It counts what it was handed per
number, so a test or the benchmark can prove each message reached it once. Numbers in
`refuse` are refused one by one inside an accepted batch ("MOBILE_NUMBER_ILLEGAL").

    python -m benchmarks.fake_sms_gateway --latency 0.1 --max-batch 100   # prints its URL

In a test: `FakeSmsGateway(latency=0).start()` in a thread of the test process.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SINGLE_PATH = "/sms/send"
BATCH_PATH = "/sms/batch"
MOBILE_NUMBER = re.compile(r"1[3-9][0-9]{9}")


class _Server(ThreadingHTTPServer):
    # Python's default listen backlog is 5: with 16 calls at once on a loaded box the kernel
    # reset connections before the gateway read them (the senders retried: attempts 2).
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A sender that died mid-call (the crash tests kill it) leaves a broken pipe: expected.
        pass


class FakeSmsGateway:
    def __init__(self, *, latency: float = 0.1, max_batch: int = 100, port: int = 0):
        self.latency = latency
        self.max_batch = max_batch
        self.refuse: set[str] = set()
        self.status = 200  # another status answers every call with it (a gateway in trouble)
        self.received: Counter[str] = Counter()
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.largest_batch = 0
        # Cleared: every call waits for it (a gateway that never answers, for crash tests).
        self.answering = threading.Event()
        self.answering.set()
        self.lock = threading.Lock()
        self._next_id = 0
        self.server = _Server(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread: threading.Thread | None = None

    @property
    def single_url(self) -> str:
        return self.url + SINGLE_PATH

    @property
    def batch_url(self) -> str:
        return self.url + BATCH_PATH

    def start(self) -> FakeSmsGateway:
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def close(self) -> None:
        self.answering.set()
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def total_received(self) -> int:
        with self.lock:
            return sum(self.received.values())

    def _answer(self, phone: str) -> dict:
        # as a real gateway does: anything but a mainland mobile number is refused (an
        # outbox row whose sealed address could not be opened would show here)
        if phone in self.refuse or not MOBILE_NUMBER.fullmatch(phone or ""):
            return {"code": "MOBILE_NUMBER_ILLEGAL", "message": f"号码错误 {phone}"}
        self._next_id += 1
        return {"code": "OK", "id": f"fake-{self._next_id}"}

    def _handle(self, path: str, body: dict) -> tuple[int, dict]:
        if path == BATCH_PATH:
            messages = body.get("messages") or []
            if len(messages) > self.max_batch:
                return 413, {"code": "BATCH_TOO_LARGE", "message": f"at most {self.max_batch}"}
            phones = [message["phone"] for message in messages]
        elif path == SINGLE_PATH:
            phones = [body["phone"]]
        else:
            return 404, {"code": "NOT_FOUND"}
        with self.lock:
            self.calls += 1
            self.largest_batch = max(self.largest_batch, len(phones))
            self.received.update(phones)
            answers = [self._answer(phone) for phone in phones]
        if path == SINGLE_PATH:
            return 200, answers[0]
        return 200, {"code": "OK", "results": answers}

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                """GET /stats: what the gateway was handed (the benchmark's proof)."""
                with gateway.lock:
                    stats = {
                        "received": sum(gateway.received.values()),
                        "numbers": len(gateway.received),
                        "calls": gateway.calls,
                        "largest_batch": gateway.largest_batch,
                    }
                data = json.dumps(stats).encode()
                self.send_response(200 if self.path == "/stats" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                with gateway.lock:
                    gateway.in_flight += 1
                    gateway.most_in_flight = max(gateway.most_in_flight, gateway.in_flight)
                try:
                    raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    if gateway.status != 200:
                        status, answer = gateway.status, {"code": "ERROR"}
                    else:
                        status, answer = gateway._handle(self.path, json.loads(raw.decode()))
                    # Taken (counted) before the answer: a sender that dies now leaves
                    # messages the gateway has but the sender never heard about.
                    gateway.answering.wait()
                    time.sleep(gateway.latency)
                finally:
                    with gateway.lock:
                        gateway.in_flight -= 1
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--max-batch", type=int, default=100)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    gateway = FakeSmsGateway(latency=args.latency, max_batch=args.max_batch, port=args.port)
    print(gateway.url, flush=True)
    try:
        gateway.server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
