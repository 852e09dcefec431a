"""Progress off a terminal: a log line at least every interval on stderr (done/total, rate,
time left), a last line when the job ends, nothing for a job shorter than the interval."""

import re
import time

from finesim._util.progress import LogProgress, duration, progress_bar

LINE = re.compile(r"^finesim: encoding: [\d,]+/1,000 \(\d+%\), [\d,.]+/s, about .+ left$")


def test_log_lines_say_done_total_rate_and_time_left(capsys):
    with LogProgress("encoding", 1000, every=0.05) as progress:
        for _ in range(10):
            progress.advance(100)
            time.sleep(0.03)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3, lines
    assert all(LINE.match(line) for line in lines[:-1]), lines
    assert re.match(r"^finesim: encoding: 1,000/1,000 \(100%\) in \d+ s \([\d,.]+/s\)$", lines[-1])


def test_a_short_job_logs_nothing_and_unknown_totals_have_no_eta(capsys):
    with LogProgress("encoding", 10, every=60) as progress:
        progress.advance(10)
    assert capsys.readouterr().err == ""
    with LogProgress("queries", None, every=0.02) as progress:
        time.sleep(0.07)
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("finesim: queries: 0, 0.0/s") and "left" not in first


def test_progress_bar_logs_off_a_terminal(capsys, monkeypatch):
    monkeypatch.setenv("FINESIM_PROGRESS_SECONDS", "0.02")
    with progress_bar(False, 5) as advance:
        assert advance is None
    with progress_bar(True, 5, "training") as advance:
        assert advance is not None
        advance(2)
        time.sleep(0.06)
    err = capsys.readouterr().err
    assert "finesim: training: 2/5 (40%)" in err and "in 0 s" in err
    assert duration(42) == "42 s" and duration(329) == "5 min 29 s"
    assert duration(7500) == "2 h 05 min"


def test_encoding_reports_progress_when_not_at_a_terminal(tiny_st, capsys, monkeypatch):
    from finesim import Encoder
    from finesim.models.cache import encode_cached

    monkeypatch.setenv("FINESIM_PROGRESS_SECONDS", "0.001")
    texts = [f"the man plays {i} guitar music" for i in range(1500)]
    encode_cached(Encoder(tiny_st), texts, cache=False)
    err = capsys.readouterr().err
    assert re.search(r"finesim: encoding: [\d,]+/1,500 \(\d+%\), [\d,.]+/s", err), err[-500:]
    assert "finesim: encoding: 1,500/1,500 (100%) in" in err
