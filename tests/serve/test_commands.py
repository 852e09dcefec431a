"""``finesim serve`` as a process, its one-line errors, and ``finesim bench serve``."""

import json
import re
import signal
import socket
import subprocess
import sys
import time

from tests.helpers import call, require_data
from tests.helpers import run_cli as run


def test_serve_process_binds_localhost_and_prints_the_url(tiny_st, tiny_index, tmp_path):
    tiny_index.save(tmp_path / "papers")
    command = [sys.executable, "-c", "from finesim.cli.main import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--index", f"demo={tmp_path / 'papers'}", "-m", tiny_st, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line, deadline = "", time.monotonic() + 120
        while "serving" not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "the server exited"
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line
        status, _, body = call(found.group(1), "/healthz")
        assert status == 200 and body["indexes"] == {"demo": 24}
        status, _, body = call(found.group(1), "/v1/search", {"query_doc": "p3", "k": 2})
        assert status == 200 and len(body["hits"]) == 2
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0


def test_serve_errors_are_one_line(capsys, monkeypatch, tmp_path, tiny_st):
    code, _, err = run(capsys, monkeypatch, "serve", "--index", tmp_path / "missing", "--port", 0)
    assert code == 2 and err.count("\n") == 1 and "missing" in err, err
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    code, _, err = run(capsys, monkeypatch, "serve", "-m", tiny_st, "--port", port)
    taken.close()
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def test_bench_serve_prints_json(capsys, monkeypatch, tmp_path, tiny_st):
    require_data("sts")
    out_file = tmp_path / "serve.json"
    code, out, err = run(
        capsys, monkeypatch, "bench", "serve", "-m", tiny_st, "--clients", 3, "--requests", 30,
        "--json", out_file,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert json.loads(out_file.read_text()) == result
    assert result["errors"] == 0 and result["clients"] == 3
    for mode in ("batching_off", "batching_on"):
        assert result[mode]["requests"] == 30 and result[mode]["errors"] == 0
        assert result[mode]["p50_ms"] <= result[mode]["p99_ms"]
    assert result["batching_off"]["requests_per_encoder_call"] == 1.0
    assert result["batching_throughput_ratio"] > 0
