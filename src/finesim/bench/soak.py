"""``finesim bench soak``: a bounded soak of ``finesim serve``, and head-of-line blocking with
token-budget batching off and on.

The server is a child process (``python -m finesim serve``, so its RSS is its own) over an index
of CSFCube papers. Concurrent clients, each on one keep-alive connection, send a fixed,
seeded mix of requests: embeddings (short sentences, sometimes long abstracts), similarity,
and searches by paper id and by text under every scoring, hybrid included. Every answer must
be 200 (``errors`` counts the others); the server's RSS after a warm-up and at the end must
agree within 10%, with samples in between to show the trend.

Head-of-line: one client sends a request of 256 long texts (abstracts) while another sends
one-sentence requests, one after the other, until the long one is answered; the one-sentence
latencies (p50, p99) with ``--max-batch-tokens 0`` (requests never split) and with the token
budget, same clients, same run. It is not a speed benchmark: it is run on whatever machine
there is, and says so.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from finesim._util.errors import FinesimError
from finesim.bench.latency import latency_ms
from finesim.bench.machine import machine_summary
from finesim.bench.memory import _rss_mb
from finesim.bench.texts import bench_texts

SCORINGS = ("min-l2", "max-sim", "mean-vec", "ot", "hybrid")
FACETS = (None, "background", "method", "result")


def stop_child(process: subprocess.Popen[str] | None, log: Any) -> None:
    """Terminate a child server (killed after 60 s) and close its log."""
    if process is not None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()


class Server:
    """``finesim serve`` in a child process on a free port: ``with Server(args) as url``."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        command = [sys.executable, "-m", "finesim", "serve", "--port", "0", *self.args]
        env = {**os.environ, "FINESIM_API_KEY": ""}
        self.process = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=self.log, text=True, env=env
        )
        assert self.process.stderr is not None
        deadline, line = time.monotonic() + 300, ""
        while "serving" not in line:
            line = self.process.stderr.readline()
            if (not line and self.process.poll() is not None) or time.monotonic() > deadline:
                raise FinesimError(f"finesim serve did not start: {line.strip()}")
        found = re.search(r"at (http://\S+?)/?$", line.strip())
        if not found:
            raise FinesimError(f"finesim serve: no URL in {line.strip()!r}")
        # keep reading its stderr, so a full pipe never blocks it
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        return found.group(1)

    @property
    def rss_mb(self) -> float:
        assert self.process is not None
        rss = _rss_mb(self.process.pid)
        return round(rss or 0.0, 1)

    def __exit__(self, *exc: object) -> None:
        stop_child(self.process, self.log)


class Client:
    """One keep-alive connection; ``post`` returns (status, seconds)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        self.failures: list[dict[str, Any]] = []

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, float]:
        data = json.dumps(body).encode()
        started = time.perf_counter()
        try:
            self.conn.request("POST", path, data, {"Content-Type": "application/json"})
            response = self.conn.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            status, answer = 0, str(e).encode()
        if status != 200:  # what went wrong, for the result
            self.failures.append({"status": status, "body": body, "answer": answer[:500].decode()})
        return status, time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


Job = tuple[str, str, dict[str, Any]]  # (kind, path, body)


def _requests(
    n: int, model: str, short: list[str], long: list[str], ids: list[str], seed: int
) -> list[Job]:
    """``n`` requests in a seeded mix: 45% embeddings, 15% similarity, 40% search."""
    rng = random.Random(seed)
    out: list[Job] = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.45:
            texts = (
                rng.sample(long, rng.randint(1, 4))
                if roll < 0.05
                else rng.sample(short, rng.randint(1, 16))
            )
            out.append(("embeddings", "/v1/embeddings", {"model": model, "input": texts}))
        elif roll < 0.60:
            texts = rng.sample(short, rng.randint(2, 5))
            out.append(("similarity", "/v1/similarity", {"model": model, "texts": texts}))
        else:
            scoring, facet = rng.choice(SCORINGS), rng.choice(FACETS)
            body: dict[str, Any] = {"scoring": scoring, "facet": facet, "k": 10}
            if rng.random() < 0.5:
                body["query_doc"] = rng.choice(ids)
            else:
                body["query"] = rng.choice(long if rng.random() < 0.3 else short)
            out.append((f"search {scoring}", "/v1/search", body))
    return out


def _drive(
    url: str,
    jobs: list[Job],
    clients: int,
    on_done: Callable[[int], None] | None = None,
    failures: list[dict[str, Any]] | None = None,
) -> list[tuple[str, int, float]]:
    """Send ``jobs`` from ``clients`` threads; (kind, status, seconds) for each, in order done;
    the requests not answered 200, with their answers, go to ``failures``."""
    lock, results = threading.Lock(), []
    queue = iter(jobs)

    def work() -> None:
        client = Client(url)
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                break
            kind, path, body = job
            status, seconds = client.post(path, body)
            with lock:
                results.append((kind, status, seconds))
                if on_done is not None:
                    on_done(len(results))
        client.close()
        if failures is not None:
            with lock:
                failures.extend(client.failures)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _soak(
    server: Server, url: str, jobs: list[Job], warmup: list[Job], clients: int
) -> dict[str, Any]:
    failures: list[dict[str, Any]] = []
    warm = _drive(url, warmup, clients, failures=failures)
    before = server.rss_mb
    samples = [(0, before)]

    def sample(done: int) -> None:
        if done % 500 == 0:
            samples.append((done, server.rss_mb))

    started = time.perf_counter()
    results = _drive(url, jobs, clients, sample, failures)
    wall = time.perf_counter() - started
    after = server.rss_mb
    statuses = Counter(str(status) for _, status, _ in results)
    kinds = sorted({kind for kind, _, _ in results})
    return {
        "requests": len(results),
        "warmup_requests": len(warm),
        "clients": clients,
        "errors": sum(status != 200 for _, status, _ in results)
        + sum(status != 200 for _, status, _ in warm),
        "statuses": dict(statuses),
        "failures": failures[:10],  # the first ones, with the server's answers
        "seconds": round(wall, 1),
        "requests_per_s": round(len(results) / wall, 1),
        "latency": {k: latency_ms([s for n, _, s in results if n == k]) for k in kinds},
        "rss_mb": {
            "after_warmup": before,
            "after_all": after,
            "change_pct": round(100 * (after - before) / before, 2),
            "flat_within_10pct": abs(after - before) <= 0.1 * before,
            "samples_every_500_requests": samples,
        },
    }


def _head_of_line(
    url: str, model: str, long: list[str], short: list[str], rounds: int = 2
) -> dict[str, Any]:
    """One-sentence latencies while a request of ``long`` texts runs (same two clients):
    every one-sentence request sent before the long one was answered counts."""
    big, small = Client(url), Client(url)
    small.post("/v1/embeddings", {"model": model, "input": short[0]})  # warm
    seconds: list[float] = []
    statuses: Counter[str] = Counter()
    longs = []
    for _ in range(rounds):
        done = threading.Event()
        answer: list[tuple[int, float]] = []

        def send_long(
            answer: list[tuple[int, float]] = answer, done: threading.Event = done
        ) -> None:
            answer.append(big.post("/v1/embeddings", {"model": model, "input": long}))
            done.set()

        thread = threading.Thread(target=send_long)
        thread.start()
        time.sleep(0.05)  # the long request is in first
        while not done.is_set():
            status, took = small.post(
                "/v1/embeddings", {"model": model, "input": short[len(seconds) % 100]}
            )
            statuses[str(status)] += 1
            seconds.append(took)
        thread.join()
        longs.append(answer[0])
    big.close()
    small.close()
    return {
        "long_requests": {
            "count": rounds,
            "statuses": sorted({status for status, _ in longs}),
            "seconds": [round(took, 2) for _, took in longs],
        },
        "one_sentence_requests": latency_ms(seconds),
        "one_sentence_statuses": dict(statuses),
    }


def _index_folder(model: str, backend: str | None, papers: int, folder: Path) -> list[str]:
    """Index the first ``papers`` CSFCube papers into ``folder``; their ids."""
    from finesim.data.csfcube import load_papers
    from finesim.models.encoder import Encoder
    from finesim.search.index import Index

    docs = [paper.document() for paper in list(load_papers().values())[:papers]]
    encoder = Encoder(model, backend=backend)
    Index.build(encoder, docs, kind="flat", cache=False).save(folder)
    return [d.id for d in docs]


def run_soak_bench(
    model: str = "minilm",
    backend: str | None = None,
    requests: int = 5000,
    clients: int = 4,
    papers: int = 300,
    long_texts: int = 256,
    max_batch_tokens: int = 1024,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """The soak (``requests`` mixed requests) and the head-of-line comparison, as JSON."""
    machine = machine_summary()  # before our own servers load the machine
    short = bench_texts("stsb")
    long = bench_texts("abstracts", max(long_texts, papers + 400))
    unseen = long[papers:]  # text queries and long inputs that are not indexed papers
    common = ["-m", model, "--threads", str(threads), "--log-level", "warning"]
    common += ["--max-queue", str(max(64, 4 * clients))]
    if backend is not None:
        common += ["--backend", backend]
    with tempfile.TemporaryDirectory(prefix="finesim-soak-") as tmp:
        folder = Path(tmp) / "csfcube"
        ids = _index_folder(model, backend, papers, folder)
        jobs = _requests(requests, model, short, unseen, ids, seed)
        warmup = _requests(300, model, short, unseen, ids, seed + 1)
        tokens = ["--max-batch-tokens", str(max_batch_tokens)]
        server = Server([*common, *tokens, "--index", f"csfcube={folder}"])
        with server as url:
            soak = _soak(server, url, jobs, warmup, clients)
        head = {}
        for name, budget in (("token_budget_off", 0), (f"token_budget_{max_batch_tokens}", None)):
            value = max_batch_tokens if budget is None else budget
            with Server([*common, "--max-batch-tokens", str(value)]) as url:
                head[name] = _head_of_line(url, model, long[:long_texts], short)
    off, on = head["token_budget_off"], head[f"token_budget_{max_batch_tokens}"]
    p99_off = off["one_sentence_requests"].get("p99_ms")
    p99_on = on["one_sentence_requests"].get("p99_ms")
    return {
        "benchmark": "soak",
        "model": model,
        "backend": backend or "the model's own (torch)",
        "server": "finesim serve in a child process, one encoder thread (--threads "
        f"{threads}), --max-batch-tokens {max_batch_tokens}, default limits; RSS measured "
        "after 300 warm-up requests and every 500 requests of the soak",
        "index": f"the first {papers} CSFCube papers (flat)",
        "mix": "45% embeddings (1-16 STS-B sentences; 1 in 9 of them 1-4 abstracts), 15% "
        "similarity (2-5 sentences), 40% search (half by paper id, half by text: 70% an STS-B "
        "sentence, 30% the title and abstract of a paper not in the index; scorings "
        f"{', '.join(SCORINGS)}; facets all/background/method/result)",
        "not_in_the_mix": "a text query equal to an indexed paper's own text: its ot Sinkhorn "
        "converges slowly (2-7 s for 8 such queries, 300 candidates), which the time budget "
        "answers with 503 but cannot interrupt; later searches wait for it, embeddings do not",
        "soak": soak,
        "head_of_line": {
            "what": f"one-sentence /v1/embeddings requests, one after another, while one "
            f"request of {long_texts} CSFCube abstracts (title + abstract, truncated at the "
            "model's max length) is encoded; same two clients, same run",
            **head,
            "p99_ratio_off_over_on": round(p99_off / p99_on, 1) if p99_off and p99_on else None,
        },
        "machine": machine,
        "seed": seed,
    }
