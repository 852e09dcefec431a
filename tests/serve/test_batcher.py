"""The micro-batcher without HTTP: merging, order, batching off, errors."""

import threading

import numpy as np
import pytest

from finesim.serve.batcher import Batcher, QueueFull


class Recorder:
    """An encode function that records its calls; text "n" becomes the vector [n, n]."""

    def __init__(self, gate=None):
        self.calls, self.gate = [], gate

    def __call__(self, texts):
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append(list(texts))
        values = np.array([float(t) for t in texts], dtype=np.float32)
        return np.stack([values, values], axis=1), np.ones(len(texts), dtype=np.int64)


def submit_all(batcher, requests):
    return [batcher.submit(texts) for texts in requests]


def test_waiting_requests_share_one_call_in_order():
    gate = threading.Event()
    encode = Recorder(gate)
    batcher = Batcher(encode, max_wait=0.05, max_texts=100)
    futures = submit_all(batcher, [["1"], ["2", "3"], ["4"], ["5", "6", "7"]])
    gate.set()
    results = [f.result(10) for f in futures]
    batcher.close()
    assert [r.vectors[:, 0].tolist() for r in results] == [[1], [2, 3], [4], [5, 6, 7]]
    assert len(encode.calls) < 4 and sum(map(len, encode.calls)) == 7
    assert batcher.calls == len(encode.calls) and batcher.requests == 4


def test_max_texts_caps_a_call_and_zero_turns_batching_off():
    encode = Recorder(threading.Event())
    batcher = Batcher(encode, max_wait=0.05, max_texts=3)
    futures = submit_all(batcher, [["1", "2"], ["3"], ["4", "5"], ["6"]])
    encode.gate.set()
    [f.result(10) for f in futures]
    batcher.close()
    assert all(len(call) <= 3 for call in encode.calls)
    off = Recorder(threading.Event())
    batcher = Batcher(off, max_wait=0.05, max_texts=0)
    futures = submit_all(batcher, [["1"], ["2"], ["3"]])
    off.gate.set()
    assert [f.result(10).vectors[0, 0] for f in futures] == [1, 2, 3]
    batcher.close()
    assert off.calls == [["1"], ["2"], ["3"]]


def test_full_queue_and_failures():
    gate = threading.Event()
    batcher = Batcher(Recorder(gate), max_queue=1, max_wait=0, max_texts=0)
    first = batcher.submit(["1"])
    while batcher.depth:  # the worker takes the first request and waits at the gate
        pass
    second = batcher.submit(["2"])
    with pytest.raises(QueueFull):
        batcher.submit(["3"])
    gate.set()
    assert first.result(10).vectors[0, 0] == 1 and second.result(10).vectors[0, 0] == 2
    bad = batcher.submit(["not a number"])
    with pytest.raises(ValueError):
        bad.result(10)
    assert batcher.submit(["4"]).result(10).vectors[0, 0] == 4  # the worker lives on
    batcher.close()


def test_a_cancelled_request_is_skipped_and_the_worker_lives_on():
    gate = threading.Event()
    encode = Recorder(gate)
    batcher = Batcher(encode, max_wait=0, max_texts=0)
    first = batcher.submit(["1"])
    while not first.running():  # the worker waits at the gate with the first request
        pass
    gone = batcher.submit(["2"])
    assert gone.cancel()  # its client disconnected while it waited
    assert not first.cancel()  # already being encoded
    gate.set()
    assert first.result(10).vectors[0, 0] == 1
    assert batcher.submit(["3"]).result(10).vectors[0, 0] == 3
    batcher.close()
    assert encode.calls == [["1"], ["3"]]
