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


class Stepper(Recorder):
    """Like Recorder, but each call waits for its own permit (``step()`` lets one through)."""

    def __init__(self):
        super().__init__()
        self.permits, self.entered = threading.Semaphore(0), threading.Semaphore(0)

    def __call__(self, texts):
        self.entered.release()
        assert self.permits.acquire(timeout=10)
        return super().__call__(texts)

    def step(self):
        assert self.entered.acquire(timeout=10)  # a call is waiting
        self.permits.release()


def tokens(texts):
    return [len(t) for t in texts]  # text "7" is 1 token, "77" 2 ...


def test_a_long_request_is_split_by_the_token_budget_and_a_short_one_goes_between():
    encode = Stepper()
    batcher = Batcher(encode, max_wait=0, max_texts=100, max_tokens=6, count=tokens)
    long = batcher.submit(["11", "22", "33", "44", "55", "66"])  # 2 tokens each: 3 a call
    assert encode.entered.acquire(timeout=10)  # the first piece is being encoded
    encode.entered.release()
    short = batcher.submit(["9"])
    for _ in range(3):
        encode.step()
    vectors = long.result(10).vectors[:, 0].tolist()
    batcher.close()
    assert vectors == [11, 22, 33, 44, 55, 66] and short.result(10).vectors[0, 0] == 9
    # the short request is in the second call, ahead of the long one's next piece
    assert encode.calls == [["11", "22", "33"], ["9", "44", "55"], ["66"]]
    assert batcher.requests == 2 and batcher.calls == 3


def test_a_text_over_the_budget_is_encoded_alone():
    encode = Recorder()
    batcher = Batcher(encode, max_wait=0.05, max_tokens=3, count=tokens)
    futures = submit_all(batcher, [["1"], ["22222"], ["3", "4"]])
    assert [f.result(10).vectors[:, 0].tolist() for f in futures] == [[1], [22222], [3, 4]]
    batcher.close()
    assert all(sum(map(len, call)) <= 3 or len(call) == 1 for call in encode.calls)


def test_cancelling_a_split_request_drops_its_remaining_pieces():
    encode = Stepper()
    batcher = Batcher(encode, max_wait=0, max_tokens=2, count=tokens)
    long = batcher.submit(["11", "22", "33", "44"])
    assert encode.entered.acquire(timeout=10)
    assert long.cancel()  # not finished: still cancellable between pieces
    encode.permits.release()
    after = batcher.submit(["5"])
    encode.step()
    assert after.result(10).vectors[0, 0] == 5
    batcher.close()
    assert encode.calls == [["11"], ["5"]]
    assert batcher.depth == 0


def test_a_request_under_way_is_not_starved_by_new_ones():
    encode = Stepper()
    batcher = Batcher(encode, max_wait=0, max_texts=1, max_tokens=10, count=tokens)
    long = batcher.submit(["1", "2", "3"])
    smalls = []
    for i in range(4):  # a new one-text request arrives before every call
        assert encode.entered.acquire(timeout=10)
        smalls.append(batcher.submit([str(5 + i)]))
        encode.permits.release()
    for _ in range(3):
        encode.step()
    assert long.result(10).vectors[:, 0].tolist() == [1, 2, 3]
    assert all(f.result(10) is not None for f in smalls)
    batcher.close()
    order = [call[0] for call in encode.calls]
    assert order == ["1", "5", "6", "2", "7", "8", "3"]  # new ones first, but at most two


def test_requests_encoded_differently_never_share_a_call():
    calls: list[tuple[list[str], object]] = []
    gate = threading.Event()

    def encode(texts, key=None):
        gate.wait(10)
        calls.append((list(texts), key))
        return np.array([[float(t)] for t in texts], np.float32), np.ones(len(texts), np.int64)

    batcher = Batcher(encode, max_wait=0.05, max_texts=16)
    futures = [
        batcher.submit(["1"]),
        batcher.submit(["2"], ("q: ", "query")),
        batcher.submit(["3"]),
        batcher.submit(["4"], ("q: ", "query")),
    ]
    gate.set()
    assert [f.result(10).vectors[0, 0] for f in futures] == [1, 2, 3, 4]
    batcher.close()
    for texts, key in calls:  # each call holds one kind of request
        expected = {None: {"1", "3"}, ("q: ", "query"): {"2", "4"}}[key]  # type: ignore[index]
        assert set(texts) <= expected
    assert {key for _, key in calls} == {None, ("q: ", "query")}
