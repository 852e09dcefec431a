"""What tests share besides fixtures: constants, builders of tiny models and corpora, and
``missing``, which skips a test whose data, browser or service is absent (and fails it under CI).

Test modules import from here only (``from tests.helpers import ...``), never from another
test module or a conftest; conftest files hold fixtures, built from these functions.
Heavy imports (transformers, the server, the index) happen inside the functions that need them,
so importing this module costs nothing.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import random
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WORDS = (
    "a the man woman cat dog is are plays playing guitar piano music sings eats food rice "
    "sleeps runs fast slow on in under table kitchen red blue green big small paper method "
    "result background we propose model sentence embedding similarity contrastive learning "
    "train test data bank rates rise fall market stock and or not very with of to"
).split()
SUBWORDS = ["##s", "##ing", "##ed", "##er", "##ly"]
SENTENCES = [
    "a man plays the guitar",
    "the woman sings",
    "a cat sleeps on the table",
    "we propose a contrastive model for sentence embedding",
    "bank rates rise and the stock market falls very fast",
    "dog",
    "the big red dog runs in the kitchen with a small blue cat",
    "result",
    "a woman eats rice and a man eats food",
    "train and test data",
] * 3


# --- what a test needs from outside: skipped locally, a failure under CI ----------------------


def in_ci() -> bool:
    """True when ``CI`` is set (``CI=true`` in .ci/run and on every CI service), where every
    requirement is installed on purpose, so a missing one is a broken machine, not a choice."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> NoReturn:
    """Stop a test whose data folder, browser or service is absent: a skip that says ``reason``,
    or, under ``CI=true``, a failure, so that CI never passes by skipping. The one place that
    decides; every test with an outside requirement comes here (also at module level)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing requirement fails, never skips)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def data_root() -> Path:
    """The data folder: ``FINESIM_DATA``, or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("FINESIM_DATA", REPO.parent / "shared" / "data"))


def require_data(*parts: str) -> Path:
    """``data_root() / parts...`` (a file or folder), or ``missing`` when it is not there."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        missing(f"{path} not found (set FINESIM_DATA to the data folder)")
    return path


def require_module(name: str, why: str = "") -> ModuleType:
    """``import name``, or ``missing`` when it is not installed (``make install`` installs it)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        missing(f"cannot import {name} ({e}){': ' + why if why else ''}; `make install` adds it")


# --- the tiny random BERT --------------------------------------------------------------------


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random BERT and its WordPiece tokenizer, saved as transformers does."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *SUBWORDS]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tok.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertModel(config)
    hf_logging.disable_progress_bar()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_cross(folder: Path, bert: Path, num_labels: int = 1, seed: int = 0) -> Path:
    """The tiny BERT with a random head, saved by sentence-transformers' own CrossEncoder.

    The random BERT's [CLS] vector hardly varies between inputs, so a fresh head scores every
    pair about 0.5; the pooler and head are drawn wider (and centred) so scores spread and
    rankings have no near-ties.
    """
    import torch
    from sentence_transformers import CrossEncoder
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its report of the fresh head's missing keys
    try:
        model = CrossEncoder(str(bert), num_labels=num_labels, device="cpu")
    finally:
        hf_logging.set_verbosity(level)
    with torch.no_grad():
        model.model.bert.pooler.dense.weight.normal_(0.0, 1.0)
        model.model.classifier.weight.normal_(0.0, 3.0)
        pairs = [(a, b) for a in SENTENCES[:10] for b in SENTENCES[:10]]
        logits = model.predict(pairs, activation_fn=torch.nn.Identity())
        model.model.classifier.bias.sub_(torch.from_numpy(logits.reshape(len(pairs), -1).mean(0)))
    model.save(str(folder))
    return folder


def stsb_sentences(n_pairs: int = 250) -> list[str]:
    """The first ``n_pairs`` STS-B test pairs as a flat list of sentences (raw variant)."""
    path = require_data("sts", "raw", "STSBenchmark", "sts-test.csv")
    rows = [line.rstrip("\n").split("\t") for line in path.open(encoding="utf-8")]
    return [s for row in rows[:n_pairs] for s in (row[5], row[6])]


# --- the command line in this process ----------------------------------------------------------


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: object
) -> tuple[int, str, str]:
    """Run ``finesim ARGS`` in this process: exit status, stdout, stderr."""
    import sys

    from finesim.cli.main import main

    monkeypatch.setattr(sys, "argv", ["finesim", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """``records`` written one JSON object a line to ``path``."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def paper_records(
    n: int, seed: int = 0, labelled: bool = True, prefix: str = "p"
) -> list[dict[str, Any]]:
    """``n`` random papers as --docs records: labelled sentence lists, or one abstract string."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(3, 6))
        sentences = [" ".join(rng.choice(WORDS, 6)) + "." for _ in range(k)]
        record: dict[str, Any] = {"id": f"{prefix}{i}", "title": f"paper {i}"}
        if labelled:
            record["abstract"] = sentences
            record["labels"] = ["background", *["method"] * (k - 2), "result"]
        else:
            record["abstract"] = " ".join(sentences)
        out.append(record)
    return out


# --- labelled abstracts and synthetic vector corpora -------------------------------------------

TOPICS = [
    ["the cat sleeps on the table.", "a dog runs in the kitchen."],
    ["we propose a contrastive model for sentence embedding.", "we train the model on data."],
    ["bank rates rise and the stock market falls.", "the market is very slow."],
    ["a man plays the guitar.", "the woman sings with music."],
]
LABELS = ["background", "objective", "method", "result", "other"]


def papers(n: int = 24, seed: int = 0) -> list[Any]:
    """Labelled abstracts (background, method..., result) made of the tiny vocabulary."""
    from finesim.data.documents import Document

    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        filler = [" ".join(rng.choice(WORDS, 6)) + "." for _ in range(int(rng.integers(1, 3)))]
        sentences = [topic[0], *filler, topic[1]]
        labels = ["background", *["method"] * len(filler), "result"]
        docs.append(Document(f"p{i}", sentences, labels, f"Paper {i}: {topic[0][:-1]}"))
    return docs


def corpus(
    n_docs: int = 60, dim: int = 16, seed: int = 0, prefix: str = "d"
) -> tuple[list[Any], list[np.ndarray]]:
    """A synthetic corpus: documents of random unit sentence vectors with facet labels."""
    from finesim.data.documents import Document

    rng = np.random.default_rng(seed)
    docs, blocks = [], []
    for i in range(n_docs):
        n = int(rng.integers(1, 7))
        v = rng.standard_normal((n, dim)).astype(np.float32)
        blocks.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        labels = list(rng.choice(LABELS, n)) if i % 7 else None
        docs.append(
            Document(
                f"{prefix}{i}",
                [f"{prefix}{i} sentence {j}" for j in range(n)],
                labels,
                f"title {i}",
            )
        )
    return docs, blocks


def wholes_of(docs: list[Any], dim: int = 16, seed: int = 1) -> np.ndarray:
    """One random unit title+abstract vector per document (hybrid scoring's ``abstract``)."""
    rows = np.random.default_rng(seed).standard_normal((len(docs), dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def index_of(
    docs: list[Any], blocks: list[np.ndarray], wholes: np.ndarray | None = None, **kwargs: Any
) -> Any:
    """A flat float32 ``Index`` of ``corpus()``'s vectors (``kwargs`` override the options)."""
    from finesim.search import Index

    options = {"precision": "float32", "kind": "flat", **kwargs}
    index = Index.new(
        blocks[0].shape[1],
        model="synthetic",
        fingerprint="fp",
        expected=sum(map(len, blocks)),
        **options,
    )
    index.add_vectors(docs, np.concatenate(blocks), wholes)
    return index


def as_docs(docs: list[Any], blocks: list[np.ndarray]) -> dict[str, Any]:
    """``corpus()`` as exhaustive scoring's ``{id: Doc}``."""
    from finesim.docsim import Doc

    return {d.id: Doc(b, d.labels) for d, b in zip(docs, blocks, strict=True)}


def make_beir(folder: Path, *, gz: bool = False, seed: int = 0) -> Path:
    """40 documents (three identical ones, so scores tie), 8 judged queries and one unjudged;
    query ``doc5`` has a document's id and text, which BEIR's ignore_identical_ids must skip."""
    rng = random.Random(seed)
    docs = []
    for i in range(40):
        title = rng.choice(["", " ".join(rng.choices(WORDS, k=2))])
        docs.append({"_id": f"doc{i}", "title": title, "text": " ".join(rng.choices(WORDS, k=8))})
    docs[17] = dict(docs[3], _id="doc17")
    docs[30] = dict(docs[3], _id="doc30")
    queries = [{"_id": f"q{i}", "text": " ".join(rng.choices(WORDS, k=4))} for i in range(8)]
    queries[0] = {"_id": "doc5", "text": f"{docs[5]['title']} {docs[5]['text']}".strip()}
    queries[1]["text"] = docs[3]["text"]
    rows = ["query-id\tcorpus-id\tscore"]
    for q in queries[:-1]:
        for d in rng.sample(docs, 7):
            rows.append(f"{q['_id']}\t{d['_id']}\t{rng.choice([0, 1, 1, 2, 3])}")
    rows += ["q1\tdoc17\t2", "q1\tdoc30\t1", "doc5\tdoc5\t3", "q2\tnot-in-corpus\t2"]
    rows += [f"q7\tdoc{i}\t0" for i in range(3)]  # a judged query with nothing relevant
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(d) + "\n" for d in docs).encode()
    if gz:
        (folder / "corpus.jsonl.gz").write_bytes(gzip.compress(lines))
    else:
        (folder / "corpus.jsonl").write_bytes(lines)
    unjudged = {"_id": "q-unjudged", "text": "never searched"}
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in [*queries, unjudged])
    )
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


# --- a live server -----------------------------------------------------------------------------


def start(encoder: Any, name: str, index: Any = None, **options: Any) -> tuple[Any, Any]:
    """A ``Service`` and a ``LiveServer`` context for it (closed by the caller's ``with``)."""
    from finesim.serve.app import create_app
    from finesim.serve.server import LiveServer
    from finesim.serve.service import Limits, Service

    api_key = options.pop("api_key", None)
    rerank = {k: options.pop(k, None) for k in ("reranker", "reranker_name")}
    indexes = {"papers": index} if index else {}
    service = Service(encoder, name, indexes, Limits(**options), api_key, **rerank)
    return service, LiveServer(create_app(service))


def call(
    url: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    method: str | None = None,
) -> tuple[int, Any, Any]:
    """(status, headers, parsed JSON or text) of one request; errors are answers too."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, head, text = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        status, head, text = e.code, e.headers, e.read().decode()
    try:
        return status, head, json.loads(text)
    except json.JSONDecodeError:
        return status, head, text


def assert_error(status: int, body: Any, expected: int, *words: str) -> str:
    """A JSON error of OpenAI's shape, one line, no traceback, mentioning ``words``."""
    assert status == expected, body
    message = body["error"]["message"]
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


# --- kill -9 drills: finesim commands in forked children of one warm process -------------------

# What a drill may kill a command at: every rename, exchange, fsync, new folder or symlink and
# folder removal, the steps where a crash could leave a half-replaced result.
DRILL_EVENTS = (
    ("os", "replace"),
    ("os", "rename"),
    ("os", "mkdir"),
    ("os", "symlink"),
    ("os", "fsync"),
    ("shutil", "rmtree"),
    ("finesim._util.atomic", "_exchange"),
)


class ForkServer:
    """Runs ``finesim ARGS`` in a child forked from one process that imported finesim, torch
    and faiss once (5 s a command otherwise), and SIGKILLs it when asked: after ``delay``
    seconds, or just before its ``event``-th step of ``DRILL_EVENTS``. The hooks that count
    steps live in the child only, put there by ``fork_server_main``; finesim has none."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        import subprocess
        import sys

        environment = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'src'}", **(env or {})}
        environment.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        command = "from tests.helpers import fork_server_main; fork_server_main()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            cwd=REPO,
            text=True,
        )

    def run(
        self,
        *args: object,
        cwd: Path,
        event: int | None = None,
        delay: float | None = None,
        timeout: float = 120,
    ) -> dict[str, Any]:
        """``{"code", "signal", "timed_out", "seconds", "events", "at", "stdout", "stderr"}``
        of one command: ``events`` the steps it took, ``at`` the one it was killed before."""
        job = {
            "argv": [str(a) for a in args],
            "cwd": str(cwd),
            "stdout": str(cwd / ".drill-stdout"),
            "stderr": str(cwd / ".drill-stderr"),
            "counts": str(cwd / ".drill-events"),
            "event": event,
            "delay": delay,
            "timeout": timeout,
        }
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fork server died"
        result: dict[str, Any] = json.loads(line)
        for key in ("stdout", "stderr", "counts"):
            path = Path(job[key])
            result[key] = path.read_text() if path.exists() else ""
            path.unlink(missing_ok=True)
        counts = json.loads(result.pop("counts") or "{}")
        result["events"], result["at"] = counts.get("events", 0), counts.get("at")
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def fork_server_main() -> None:
    """The far end of ``ForkServer`` (in its own process): import once, then for each job on
    stdin fork a child that runs the command, and answer on stdout how it ended."""
    import signal
    import sys
    import time

    import faiss  # noqa: F401
    import torch  # noqa: F401

    import finesim.cli.main  # noqa: F401
    import finesim.engine.local  # noqa: F401
    import finesim.search.index  # noqa: F401
    import finesim.training.trainer  # noqa: F401

    for line in sys.stdin:
        job = json.loads(line)
        begin = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _drill_child(job)
        reason = None
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            elapsed = time.monotonic() - begin
            if job["delay"] is not None and elapsed >= job["delay"]:
                reason = "delay"
            elif elapsed > job["timeout"]:
                reason = "timeout"
            if reason is not None:
                os.kill(pid, signal.SIGKILL)  # not yet reaped: the pid is still the child's
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.002)
        answer = {
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": reason == "timeout",
            "seconds": time.monotonic() - begin,
        }
        print(json.dumps(answer), flush=True)


def _drill_child(job: dict[str, Any]) -> None:
    """In the forked child: output to files, the step hooks, then ``finesim.cli.main``."""
    import importlib
    import signal
    import sys

    import torch

    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(job["cwd"])
    torch.set_num_threads(1)
    count = [0]

    def hooked(real: Any, name: str) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            if count[0] == job["event"]:
                where = f"{name}({', '.join(Path(str(a)).name for a in args[:2])})"
                with open(job["counts"], "w") as f:
                    f.write(json.dumps({"events": count[0], "at": where}))
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return step

    for module_name, attribute in DRILL_EVENTS:
        module = importlib.import_module(module_name)
        name = f"{module_name.rpartition('.')[2]}.{attribute}"
        setattr(module, attribute, hooked(getattr(module, attribute), name))
    from finesim.cli.main import main

    sys.argv = ["finesim", *job["argv"]]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0) if not isinstance(e.code, str) else 1
    except BaseException:  # noqa: BLE001 - a traceback is a result too (code 1)
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    with open(job["counts"], "w") as f:
        f.write(json.dumps({"events": count[0]}))
    os._exit(code)


# --- headless Chromium -------------------------------------------------------------------------

ARTIFACTS = REPO / "test-artifacts"  # screenshots the browser tests keep (git ignores it)
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The Chromium to drive, or ``missing`` (a failure under CI) when none is installed."""
    import shutil

    for name in CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    missing(
        "no Chromium found (looked for " + ", ".join(CHROMIUMS) + "): install the Debian "
        "package with `apt-get install -y chromium` (.ci/run does) to run the browser test"
    )


def run_browser(url: str, *args: str, budget_ms: int = 15000) -> str:
    """Headless Chromium on ``url`` with a fresh profile (``--dump-dom``, ``--screenshot=...``
    in ``args``); returns its stdout. As tests/serve/test_browser.py launches it."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="finesim-chromium-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *args,
            url,
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": profile},
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def is_png(path: Path, min_bytes: int = 10_000) -> bool:
    """A PNG file of at least ``min_bytes`` (a rendered page, not a blank one)."""
    return (
        path.is_file()
        and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        and (path.stat().st_size > min_bytes)
    )


# --- a researcher's library --------------------------------------------------------------------

LIBRARY_TOPICS = [  # task, method, measure, data
    ("molecule property prediction", "a graph neural network with message passing", "accuracy",
     "the QM9 molecules"),
    ("machine translation", "a transformer encoder-decoder with shared vocabularies", "BLEU",
     "WMT news sentences"),
    ("robot control", "model-based reinforcement learning with a learned simulator", "reward",
     "simulated robot arms"),
    ("sentence embeddings", "contrastive learning on paraphrase pairs", "correlation",
     "paraphrases mined from the web"),
    ("dependency parsing", "a biaffine parser over character embeddings", "attachment scores",
     "Universal Dependencies treebanks"),
    ("medical image segmentation", "a U-Net with attention gates", "Dice scores",
     "annotated CT scans"),
]  # fmt: skip


def bibtex_library(n: int = 30, seed: int = 0, changed: int | None = None) -> str:
    """``n`` papers on six topics as a BibTeX file: background, method and result sentences,
    LaTeX accents and braces in titles and authors, one ``@string`` (``changed``: the abstract
    of that paper is rewritten, as a user editing an entry)."""
    rng = random.Random(seed)
    entries = ['@string{conf = "Proceedings of the Conference"}\n']
    for i in range(n):
        task, method, measure, data = LIBRARY_TOPICS[i % len(LIBRARY_TOPICS)]
        gain = rng.randint(2, 9)
        sentences = [
            f"{task.capitalize()} is an important problem, and prior work needs large labelled "
            "data sets.",
            f"We propose {method} for {task}.",
            f"It is trained end to end on {data}.",
            f"Experiments show that our approach improves {measure} by {gain} points over "
            "strong baselines.",
        ]
        if changed == i:
            sentences[-1] = "We find no improvement at all."
        entries.append(
            f"@inproceedings{{paper{i:02d},\n"
            f"  title = {{{{{method[0].upper()}}}{method[1:]} for {task} (part {i}) in "
            f"G{{\\\"o}}del's style}},\n"
            f"  author = {{M{{\\\"u}}ller, Anna and Garc{{\\'\\i}}a, Luis}},\n"
            f"  booktitle = conf,\n  year = {2010 + i % 12},\n"
            f"  abstract = {{{' '.join(sentences)}}}\n}}\n"
        )
    return "\n".join(entries)
