"""``finesim bench serve-peer``: ``finesim serve`` against infinity (``infinity-emb``) under the
same load, same model, same backend class (ONNX fp32 against ONNX fp32, int8 against int8).

Both servers are child processes on free localhost ports, started one after the other (never
two at once: they would share the cores), driven by the same client code as ``bench serve``
(bounded concurrent keep-alive clients, one request at a time each, the same request bodies).

Each server is set up the way its own users do it. finesim: ``finesim serve --model M
--backend onnx|onnx-int8`` (finesim's export, made once into its cache). infinity: the
transformer's ``last_hidden_state`` graph (optimum's ``feature-extraction`` export), then
``infinity_emb v2 --engine optimum`` with the model's pooling, which applies its own ONNX
graph optimisation at start; for int8 the exported graph is quantised by the same
onnxruntime dynamic quantisation that finesim's export uses (per-channel int8 weights), saved
as ``model_quantized.onnx``, which infinity prefers on CPU. Before timing, both servers embed
the same texts and the JSON records how far their vectors are apart (fp32: ~1e-7, so they
compute the same function).

infinity lives in its own virtualenv (its pins clash with finesim's transformers), given by
``--peer-python`` (default ``$FINESIM_INFINITY_PYTHON``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch

from finesim._util.errors import FinesimError
from finesim.bench.machine import machine_summary
from finesim.bench.memory import _rss_mb
from finesim.bench.serve import run_load
from finesim.bench.soak import Server, stop_child
from finesim.bench.texts import bench_texts
from finesim.models import registry

BACKENDS = ("onnx", "onnx-int8")
TOKENIZER_FILES = (
    "config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pooling(folder: Path) -> str:
    """infinity's ``--pooling-method`` for the model's own pooling (it knows mean and cls)."""
    for config in sorted(folder.glob("*_Pooling/config.json")):
        settings = json.loads(config.read_text())
        if settings.get("pooling_mode_mean_tokens"):
            return "mean"
        if settings.get("pooling_mode_cls_token"):
            return "cls"
        raise FinesimError(f"{config}: infinity serves only mean or cls pooling")
    return "mean"


class _Hidden(torch.nn.Module):
    """Positional inputs to keyword ones, and the last hidden state out."""

    def __init__(self, network: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.network, self.names = network, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.network(**dict(zip(self.names, inputs, strict=True))).last_hidden_state


def export_features(model: Path, out: Path) -> None:
    """The transformer's ``last_hidden_state`` as ONNX (what infinity's optimum engine runs:
    it pools itself), traced as optimum's ``feature-extraction`` export does. Done here, not
    by optimum in the peer's virtualenv: optimum 1.24 (the last that infinity 0.0.78 runs
    with) fails under torch 2.13, whose exporter defaults to dynamo."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    network = AutoModel.from_pretrained(str(model), attn_implementation="eager").eval()
    features = dict(
        tokenizer(["a probe", "a longer probe sentence"], padding=True, return_tensors="pt")
    )
    names = list(features)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    out.mkdir(parents=True)
    with torch.inference_mode():
        torch.onnx.export(
            _Hidden(network, names), tuple(features[n] for n in names), str(out / "model.onnx"),
            input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
            opset_version=17, dynamo=False,
        )  # fmt: skip
    for name in TOKENIZER_FILES:
        if (model / name).is_file():
            shutil.copy(model / name, out / name)


def prepare_peer(model: Path, work: Path) -> dict[str, Path]:
    """The infinity folders: the fp32 graph, and an int8 copy quantised as finesim's."""
    from finesim.models.onnx.export import quantize_int8

    fp32, int8 = work / "infinity-fp32", work / "infinity-int8"
    export_features(model, fp32)
    int8.mkdir()
    for name in TOKENIZER_FILES:
        if (fp32 / name).is_file():
            shutil.copy(fp32 / name, int8 / name)
    quantize_int8(fp32 / "model.onnx", int8 / "model_quantized.onnx")
    return {"onnx": fp32, "onnx-int8": int8}


class Infinity:
    """``infinity_emb v2`` in a child process: ``with Infinity(...) as url``."""

    def __init__(self, python: str, folder: Path, pooling: str) -> None:
        self.command = [
            str(Path(python).parent / "infinity_emb"), "v2", "--model-id", str(folder),
            "--engine", "optimum", "--device", "cpu", "--pooling-method", pooling,
            "--no-model-warmup", "--log-level", "warning", "--port",
        ]  # fmt: skip
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        port = _free_port()
        env = {**os.environ, **OFFLINE, "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
        self.process = subprocess.Popen(
            [*self.command, str(port)], stdout=self.log, stderr=subprocess.STDOUT, text=True,
            env=env,
        )  # fmt: skip
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                tail = self.log.read().strip().splitlines()[-1:] or ["no output"]
                raise FinesimError(f"infinity did not start: {tail[0]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    return url
            except OSError:
                time.sleep(1)
        raise FinesimError("infinity did not answer /health within 600 s")

    @property
    def rss_mb(self) -> float:
        assert self.process is not None
        return round(_rss_mb(self.process.pid) or 0.0, 1)

    def __exit__(self, *exc: object) -> None:
        stop_child(self.process, self.log)


def _vectors(url: str, path: str, name: str, texts: list[str]) -> np.ndarray:
    body = json.dumps({"model": name, "input": texts}).encode()
    request = urllib.request.Request(
        url + path, body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        data = json.loads(response.read())["data"]
    return np.array([d["embedding"] for d in sorted(data, key=lambda d: d["index"])])


def _measure(
    server: Any, path: str, name: str, texts: list[str], bodies: list[bytes], load: dict[str, int]
) -> tuple[dict[str, Any], np.ndarray]:
    with server as url:
        vectors = _vectors(url, path, name, texts[:16])
        run_load(url, bodies, min(load["requests"], 4 * load["clients"]), load["clients"], path)
        result = run_load(url, bodies, load["requests"], load["clients"], path)
        result["rss_mb_after"] = server.rss_mb
    return result, vectors


def run_peer_bench(
    model: str,
    peer_python: str,
    clients: int,
    requests: int,
    texts_per_request: int,
    backends: list[str],
    rounds: int,
) -> dict[str, Any]:
    """Requests/s, p50/p99 and errors of finesim serve and infinity, per backend and round."""
    if not Path(peer_python).is_file():
        raise FinesimError(f"--peer-python {peer_python}: no such file (infinity's virtualenv)")
    for backend in backends:
        if backend not in BACKENDS:
            raise FinesimError(f"--backends: {backend!r} is not one of {', '.join(BACKENDS)}")
    folder = registry.resolve(model)
    texts = bench_texts("stsb")
    chunks = [texts[i : i + texts_per_request] for i in range(0, len(texts), texts_per_request)]
    load = {"requests": requests, "clients": clients}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="finesim-peer-") as work:
        peer = prepare_peer(folder, Path(work))
        for backend in backends:
            rows: dict[str, list[dict[str, Any]]] = {"finesim": [], "infinity": []}
            gap = 0.0
            for _ in range(rounds):  # alternate, so drift in the machine hits both
                mine = Server(["--model", model, "--backend", backend])
                body = [json.dumps({"model": model, "input": c}).encode() for c in chunks]
                result, ours = _measure(mine, "/v1/embeddings", model, texts, body, load)
                rows["finesim"].append(result)
                name = peer[backend].name
                theirs_server = Infinity(peer_python, peer[backend], _pooling(folder))
                body = [json.dumps({"model": name, "input": c}).encode() for c in chunks]
                result, theirs = _measure(theirs_server, "/embeddings", name, texts, body, load)
                rows["infinity"].append(result)
                gap = max(gap, float(np.abs(ours - theirs).max()))
            out[backend] = _summary(rows, gap)
    return {
        "benchmark": "serve-peer",
        "model": model,
        "peers": {
            "finesim": "finesim serve --model M --backend B (finesim's ONNX export)",
            "infinity": "infinity_emb v2 --engine optimum --pooling-method P over the "
            "transformer's last_hidden_state ONNX graph (infinity optimises it at start; int8: "
            "quantised per channel as finesim's export)",
        },
        "endpoint": "POST /v1/embeddings (finesim), POST /embeddings (infinity)",
        "clients": clients,
        "requests_per_round": requests,
        "texts_per_request": texts_per_request,
        "texts": "STS-B train sentences",
        "rounds": rounds,
        "timing": "each server in its own child process, one at a time; warm-up of 4 requests "
        "a client, then the timed requests; rounds alternate finesim and infinity",
        **out,
        "machine": machine_summary(),
    }


def _summary(rows: dict[str, list[dict[str, Any]]], gap: float) -> dict[str, Any]:
    def median(name: str, key: str) -> float:
        return float(np.median([r[key] for r in rows[name]]))

    return {
        "max_abs_vector_difference": round(gap, 6),
        **rows,
        "median_requests_per_s": {n: median(n, "requests_per_s") for n in rows},
        "median_p50_ms": {n: median(n, "p50_ms") for n in rows},
        "median_p99_ms": {n: median(n, "p99_ms") for n in rows},
        "errors": {n: sum(r["errors"] for r in rows[n]) for n in rows},
        "throughput_ratio_finesim_to_infinity": round(
            median("finesim", "requests_per_s") / median("infinity", "requests_per_s"), 2
        ),
    }
