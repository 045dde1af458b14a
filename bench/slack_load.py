"""Load test of the Slack bot's HTTP endpoint: 50 distinct signed mentions at once.

    .venv/bin/python bench/slack_load.py [--n 50] [--retries 10] [--tone]
    make bench runs it as `--n 4 --retries 0 --tone`: four questions at once, tone on, and
    reports the share of answers toned (bar: >= 90%) and why the others were not

What it does, all on 127.0.0.1:
1. syncs the demo wiki into bench/out/slack-data (incremental: a no-op after the first run);
2. starts the loopback fake Slack Web API in this process and `ragbot serve --http` as a
   subprocess (the real entry point, its WebClient pointed at the fake via SLACK_API_URL);
3. fires N distinct signed `app_mention` events at once (questions from
   tests/eval/demo_questions.jsonl; connections opened first, then all requests written back to
   back), then, while those are still being answered, re-sends `--retries` of them as Slack
   retries (X-Slack-Retry-Num: 1);
4. waits (bounded) for the answers and reports: answered exactly once each, ack latency
   p50/p99 (goal: p99 <= 100 ms) with the server's own share of it (its Server-Timing header),
   ack latency of the retries sent under model load, and time to answer p50/p95 (from sending
   to the reply's chat.postMessage). Results also go to bench/out/slack_load.json.

The machine is shared: compare runs only under a similar `uptime` load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fake_slack import SIGNING_SECRET, FakeSlack, Sender  # noqa: E402
from fake_slack.signing import mention  # noqa: E402

OUT = ROOT / "bench" / "out"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(tone: bool) -> Path:
    import yaml

    from bot.config import DEFAULT_CONFIG, load_settings

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["data_dir"] = str(OUT / "slack-data")
    data["tone"] = {"enabled": tone}
    for source in data["sources"]:
        source["path"] = str((DEFAULT_CONFIG.parent / source["path"]).resolve())
    OUT.mkdir(parents=True, exist_ok=True)
    config = OUT / "slack-bench.yaml"
    config.write_text(yaml.safe_dump(data))
    from bot.knowledge.sync import sync_source

    settings = load_settings(config)
    for source in settings.sources:
        result = sync_source(settings, source.name)
        if not result.ok:
            raise SystemExit(f"sync of {source.name} failed: {result.error}")
    return config


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "tests/eval/demo_questions.jsonl").open()]
    picked = list(dict.fromkeys(r["question"] for r in rows))[:n]
    if len(picked) < n:
        raise SystemExit(f"only {len(picked)} distinct questions available")
    return picked


def tone_share(server_log: Path) -> dict:
    """Share of the answers whose draft was toned, from the server's one "tone outcome" log line
    per rewrite (bot/tone/stage.py), and why the others were sent untoned."""
    from collections import Counter

    lines = re.findall(r"tone outcome: (.+?) in (\d+) ms \(waited (\d+) ms\)",
                       server_log.read_text())
    outcomes = [o for o, _, _ in lines]
    reasons = Counter(o.split(":")[0] for o in outcomes if o != "accepted")
    toned = outcomes.count("accepted")
    # from asking to the outcome, and of that the wait for the one model (another rewrite)
    asked = [int(ms) / 1000 for _, ms, _ in lines]
    waited = [int(ms) / 1000 for _, _, ms in lines]
    return {"tone_rewrites": len(outcomes), "toned": toned,
            "toned_share": toned / len(outcomes) if outcomes else 0.0,
            "untoned_reasons": dict(reasons),
            "rewrite_s_max": round(max((a - w for a, w in zip(asked, waited)), default=0), 2),
            "rewrite_wait_s_max": round(max(waited, default=0), 2)}


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"ragbot serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("ragbot serve did not become ready in time")


@dataclass
class Timed:
    status: int
    seconds: float
    app_ms: float  # the server's own time (Server-Timing), without queueing and transport


def burst(host: str, port: int, events: list[dict], event_ids: list[str],
          sent_at: dict[str, float]) -> list[Timed]:
    """All events at once, as a crowd of Slack's senders would: every request is signed and its
    connection opened first; then the requests are written back to back (about 1 ms for all)
    and the responses read with one selector. So the figures are the server's, not a client
    library's (a Python client's own per-request cost would otherwise be most of what is seen)."""
    import selectors

    from fake_slack.signing import event_callback, signature

    conns = []
    for event, event_id in zip(events, event_ids, strict=True):
        body = json.dumps(event_callback(event, event_id)).encode()
        ts = str(int(time.time()))
        head = (f"POST /slack/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"X-Slack-Request-Timestamp: {ts}\r\n"
                f"X-Slack-Signature: {signature(SIGNING_SECRET, ts, body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        sock = socket.create_connection((host, port), timeout=30)
        conns.append((event["ts"], sock, head + body))
    selector = selectors.DefaultSelector()
    started: dict[socket.socket, float] = {}
    for ts, sock, request in conns:
        sent_at[ts] = started[sock] = time.monotonic()
        sock.sendall(request)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, [ts, b""])
    results: dict[str, Timed] = {}
    deadline = time.monotonic() + 30
    while len(results) < len(conns) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            sock, state = key.fileobj, key.data
            chunk = sock.recv(65536)
            state[1] += chunk
            head, sep, body = state[1].partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if sep and (not chunk or (length and len(body) >= int(length.group(1)))):
                status = int(head.split(b" ", 2)[1])
                timing = re.search(rb"(?i)server-timing:[^\r]*dur=([\d.]+)", head)
                results[state[0]] = Timed(status, time.monotonic() - started[sock],
                                          float(timing.group(1)) if timing else float("nan"))
                selector.unregister(sock)
                sock.close()
    for _, sock, _ in conns:
        sock.close()
    return [results.get(ts, Timed(0, float("nan"), float("nan"))) for ts, _, _ in conns]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--retries", type=int, default=10)
    parser.add_argument("--tone", action="store_true", help="keep the tone stage on")
    parser.add_argument("--timeout", type=float, default=540.0, help="max seconds to wait")
    args = parser.parse_args()

    config = prepare(args.tone)
    fake = FakeSlack().start()
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": fake.base_url}
    env.pop("SLACK_APP_TOKEN", None)
    log = (OUT / "slack_load_server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "-c", str(config), "serve", "--http",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        sender = Sender(url + "/slack/events")
        events = [mention(q, channel="C0BENCH") for q in questions(args.n)]
        event_ids = [f"Ev0BENCH{i:04d}{int(time.time())}" for i in range(len(events))]
        sent_at: dict[str, float] = {}
        started = time.monotonic()
        replies = burst("127.0.0.1", port, events, event_ids, sent_at)
        retry_replies = [sender.event(events[i], event_id=event_ids[i], retry_num=1)
                         for i in range(min(args.retries, len(events)))]

        wanted = {e["ts"] for e in events}

        def answered():
            threads = {p["thread_ts"] for p in fake.posts("C0BENCH")}
            return wanted <= threads

        try:
            fake.wait_for(answered, timeout=args.timeout)
        except TimeoutError:
            pass
        time.sleep(1.0)  # let any (wrong) duplicate arrive before counting
        posts = [c for c in fake.calls_to("chat.postMessage") if c.params.get("_accepted")]
        first_post: dict[str, float] = {}
        per_thread: dict[str, int] = {}
        for call in posts:
            ts = call.params.get("thread_ts")
            per_thread[ts] = per_thread.get(ts, 0) + 1
            first_post.setdefault(ts, call.at)
        once = sum(per_thread.get(ts) == 1 for ts in wanted)
        acks = [r.seconds * 1000 for r in replies]
        retry_acks = [r.seconds * 1000 for r in retry_replies]
        to_answer = [first_post[ts] - sent_at[ts] for ts in wanted if ts in first_post]
        result = {
            "questions": len(events), "answered_exactly_once": once,
            "ack_status": sorted({r.status for r in replies + retry_replies}),
            "ack_ms_p50": round(pct(acks, 0.5), 1), "ack_ms_p99": round(pct(acks, 0.99), 1),
            "ack_ms_max": round(max(acks), 1),
            "server_app_ms_p50": round(pct([r.app_ms for r in replies], 0.5), 2),
            "server_app_ms_p99": round(pct([r.app_ms for r in replies], 0.99), 2),
            "retry_ack_ms_p50": round(pct(retry_acks, 0.5), 1) if retry_acks else None,
            "retry_ack_ms_max": round(max(retry_acks), 1) if retry_acks else None,
            "answer_s_p50": round(pct(to_answer, 0.5), 2),
            "answer_s_p95": round(pct(to_answer, 0.95), 2),
            "answer_s_max": round(max(to_answer, default=float("nan")), 2),
            "wall_s": round(time.monotonic() - started, 1),
            "answers_per_s": round(len(to_answer) / (max(to_answer, default=0) or 1), 2),
            "rate_limited_calls": len([c for c in fake.calls if c.status == 429]),
            "tone": args.tone, "cpus": os.cpu_count(),
            "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()
        log.close()
    if args.tone:
        result.update(tone_share(OUT / "slack_load_server.log"))
    (OUT / "slack_load.json").write_text(json.dumps(result, indent=2))
    print(f"answered exactly once: {result['answered_exactly_once']}/{result['questions']}")
    print(f"ack latency: p50 {result['ack_ms_p50']} ms, p99 {result['ack_ms_p99']} ms "
          f"(max {result['ack_ms_max']} ms; goal p99 <= 100 ms)")
    print(f"  of which inside the app (Server-Timing): p50 {result['server_app_ms_p50']} ms, "
          f"p99 {result['server_app_ms_p99']} ms; the rest is queueing for the CPU and transport")
    if retry_acks:
        print(f"ack of {len(retry_acks)} retries sent under model load: p50 "
              f"{result['retry_ack_ms_p50']} ms, max {result['retry_ack_ms_max']} ms")
    print(f"time to answer: p50 {result['answer_s_p50']} s, p95 {result['answer_s_p95']} s "
          f"(max {result['answer_s_max']} s; {result['answers_per_s']} answers/s)")
    if args.tone:
        print(f"toned: {result['toned']}/{result['tone_rewrites']} answers "
              f"({result['toned_share']:.0%}; bar >= 90%); untoned because: "
              f"{result['untoned_reasons'] or 'none'}")
        print(f"  longest rewrite {result['rewrite_s_max']} s (tone.timeout_s counts from its "
              f"start); longest wait for the model {result['rewrite_wait_s_max']} s; load "
              f"average {result['load_average']}")
    print(f"results: {OUT / 'slack_load.json'}")
    if result["answered_exactly_once"] != result["questions"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
