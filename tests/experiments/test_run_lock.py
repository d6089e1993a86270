"""Run locks (RunRecords.claim): runners sharing a results folder compute each run once.

A tiny fake runner built on RunRecords stands in for the experiments: each "computation" appends
its run's name to a log file, so the test counts computations across processes."""
from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from vqcore.experiments.run_cache import RunRecords

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")

FORMAT = "fake-run/1"
SETTINGS = {"steps": 1}
KEYS = [f"run-{i}" for i in range(12)]


def fake_runner(root: str, log: str, start: float) -> None:
    """Every run of KEYS: stored ones read, the others "computed" (50 ms) and stored; a run another
    runner holds is left for later, then waited for and read (the toy runner's order)."""
    while time.time() < start:  # both runners start together
        time.sleep(0.001)
    records = RunRecords(root, FORMAT)
    results = {}

    def run(key: str) -> None:
        record = records.get(key, SETTINGS, fields={"value": int})
        if record is None:
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{key} {os.getpid()}\n")
            time.sleep(0.05)
            record = {"value": int(key.split("-")[1]) ** 2}
            records.put(key, SETTINGS, record)
        results[key] = record["value"]

    later = []
    for key in KEYS:
        with records.claim(key, wait=False) as held:
            if held:
                run(key)
            else:
                later.append(key)
    for key in later:
        with records.claim(key):
            run(key)
    assert results == {k: int(k.split("-")[1]) ** 2 for k in KEYS}


def _start(target, *args) -> multiprocessing.Process:
    proc = multiprocessing.get_context("fork").Process(target=target, args=args)
    proc.start()
    return proc


def test_two_runners_on_one_folder_compute_each_run_once(tmp_path):
    log = tmp_path / "computed.log"
    start = time.time() + 0.3
    procs = [_start(fake_runner, str(tmp_path / "runs"), str(log), start) for _ in range(2)]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = log.read_text(encoding="utf-8").split("\n")[:-1]
    computed = [line.split()[0] for line in lines]
    assert sorted(computed) == sorted(KEYS)  # each run once
    assert len({line.split()[1] for line in lines}) == 2  # and both runners did some of the work
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(f"{k}.json" for k in KEYS)


def _hold(root: str, key: str, ready: str, release: str, kill: bool) -> None:
    records = RunRecords(root, FORMAT)
    with records.claim(key):
        Path(ready).touch()
        if kill:
            os._exit(0)  # dies holding the lock: no clean-up
        while not Path(release).exists():
            time.sleep(0.01)


def _wait_for(path: Path) -> None:
    deadline = time.time() + 30
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_a_held_run_is_reported_or_waited_for(tmp_path):
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = _start(_hold, str(tmp_path / "runs"), "run-0", str(ready), str(release), False)
    _wait_for(ready)
    records = RunRecords(tmp_path / "runs", FORMAT)
    with records.claim("run-0", wait=False) as held:
        assert held is False
    with records.claim("run-1", wait=False) as held:  # another run is free
        assert held is True
    release.touch()
    t0 = time.time()
    with records.claim("run-0") as held:  # waits for the holder
        assert held is True
    proc.join(30)
    assert proc.exitcode == 0 and time.time() - t0 < 30
    assert not list((tmp_path / "runs").glob("*.lock"))


def test_a_lock_left_by_a_killed_runner_does_not_block(tmp_path):
    ready = tmp_path / "ready"
    proc = _start(_hold, str(tmp_path / "runs"), "run-0", str(ready), str(tmp_path / "never"), True)
    proc.join(30)
    assert (tmp_path / "runs" / "run-0.lock").is_file()  # stale: its owner died
    records = RunRecords(tmp_path / "runs", FORMAT)
    with records.claim("run-0", wait=False) as held:
        assert held is True
    assert not (tmp_path / "runs" / "run-0.lock").exists()


def test_claims_nest_and_clean_up_after_an_error(tmp_path):
    records = RunRecords(tmp_path, FORMAT)
    with records.claim("run-0") as outer, records.claim("run-0") as inner, records.claim("run-1") as other:
        assert outer and inner and other
        assert (tmp_path / "run-0.lock").read_text().strip() == str(os.getpid())
    with pytest.raises(KeyboardInterrupt), records.claim("run-0"):
        raise KeyboardInterrupt
    assert not list(tmp_path.glob("*.lock"))
