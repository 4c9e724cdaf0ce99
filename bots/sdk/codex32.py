"""Codex-32 bot SDK for Python (standard library only).

The platform gives every bot CODEX32_BOT_ID, CODEX32_API_URL and
CODEX32_BOT_TOKEN; with them a bot can send heartbeats (with counters and
gauges) and read what the platform knows about it. Outside the platform (no
token) every call is a no-op.

    from codex32 import Codex32
    platform = Codex32()
    platform.start_heartbeats(lambda: {"requests": handled, "errors": failed})
    me = platform.self()
"""
import json
import os
import sys
import threading
import urllib.error
import urllib.request


class Codex32Error(Exception):
    pass


class Codex32:
    def __init__(self, api_url=None, token=None, bot_id=None):
        self.api_url = (api_url or os.environ.get("CODEX32_API_URL") or "").rstrip("/")
        self.token = token or os.environ.get("CODEX32_BOT_TOKEN")
        self.bot_id = bot_id or os.environ.get("CODEX32_BOT_ID")
        self._stop = threading.Event()
        self._thread = None

    @property
    def managed(self):
        """True when the platform runs this bot (the token and the API address are there)."""
        return bool(self.api_url and self.token)

    def _call(self, method, path, body=None):
        if not self.managed:
            return None
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api_url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            try:
                detail = json.loads(err.read()).get("detail")
            except Exception:
                detail = err.reason
            raise Codex32Error(f"Codex-32 answered {err.code} to {method} {path}: {detail}") from None
        except urllib.error.URLError as err:
            raise Codex32Error(f"Codex-32 is not reachable at {self.api_url}: {err.reason}") from None

    def heartbeat(self, requests=None, errors=None, gauges=None):
        """One heartbeat; counters are what happened since the previous one."""
        body = {k: v for k, v in {"requests": requests, "errors": errors, "gauges": gauges}.items() if v is not None}
        return self._call("POST", "/api/v1/self/heartbeat", body)

    def self(self):
        """This bot's config, status, recent figures, heartbeats and incidents."""
        return self._call("GET", "/api/v1/self")

    def start_heartbeats(self, collect=lambda: {}, interval_seconds=None):
        """Heartbeats on a daemon thread every interval (default: the bot's heartbeat_interval_seconds, else 10)."""
        if not self.managed or self._thread:
            return

        def run():
            interval = interval_seconds
            while not self._stop.is_set():
                try:
                    answer = self.heartbeat(**(collect() or {}))
                    if interval is None:
                        interval = (answer or {}).get("next_due_in_seconds") or 10
                except Codex32Error as err:
                    print(f"heartbeat failed: {err}", file=sys.stderr, flush=True)
                self._stop.wait(interval or 10)

        self._thread = threading.Thread(target=run, name="codex32-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeats(self):
        self._stop.set()
