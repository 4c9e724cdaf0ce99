#!/usr/bin/env python3
"""Analytics bot: computes rolling statistics over a stream of measurements.

Runs until it gets SIGTERM, then finishes the current report and exits 0.
Reads CODEX32_BOT_ID from the platform; INTERVAL_SECONDS sets the report pace.
"""
import json
import os
import random
import signal
import statistics
import sys
import time
from collections import deque

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk"))
from codex32 import Codex32  # noqa: E402  (the SDK beside this file)

BOT_ID = os.environ.get("CODEX32_BOT_ID", "analytics-bot")
INTERVAL = float(os.environ.get("INTERVAL_SECONDS", "5"))
WINDOW = int(os.environ.get("WINDOW", "120"))

running = True


def stop(signum, _frame):
    global running
    running = False
    print(json.dumps({"bot": BOT_ID, "event": "stopping", "signal": signal.Signals(signum).name}), flush=True)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


def main() -> int:
    samples = deque(maxlen=WINDOW)
    rng = random.Random()
    # Under Codex-32: heartbeats carrying how many measurements were taken since the last one.
    platform = Codex32()
    taken = {"n": 0}

    def since_last():
        n, taken["n"] = taken["n"], 0
        return {"requests": n, "errors": 0, "gauges": {"window": len(samples)}}

    platform.start_heartbeats(since_last)
    print(json.dumps({"bot": BOT_ID, "event": "started", "pid": os.getpid(), "interval": INTERVAL}), flush=True)
    next_report = time.monotonic()
    while running:
        samples.append(rng.gauss(100.0, 15.0))
        taken["n"] += 1
        now = time.monotonic()
        if now >= next_report and len(samples) > 1:
            report = {
                "bot": BOT_ID,
                "event": "report",
                "n": len(samples),
                "mean": round(statistics.fmean(samples), 2),
                "stdev": round(statistics.stdev(samples), 2),
                "p95": round(sorted(samples)[int(len(samples) * 0.95) - 1], 2),
            }
            print(json.dumps(report), flush=True)
            next_report = now + INTERVAL
        time.sleep(min(0.5, INTERVAL))
    platform.stop_heartbeats()
    print(json.dumps({"bot": BOT_ID, "event": "stopped"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
