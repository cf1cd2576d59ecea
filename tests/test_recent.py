"""ui.recent.Recent: a slow read keyed on a clock step is computed in the request the
first time, reused for its step, shown one step old (within the bound) while the new
step is computed in the background, and never replaced by an older step."""

from __future__ import annotations

import threading

from ui.recent import Recent


class Calls:
    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.threads: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.fail_at = fail_at

    def __call__(self, grp: str, at_ms: int) -> str:
        self.calls.append((grp, at_ms))
        self.threads.append(threading.current_thread().name)
        self.release.wait(10)
        if at_ms == self.fail_at:
            raise RuntimeError("boom")
        return f"{grp}@{at_ms}"


def test_first_request_computes_and_the_same_step_reuses_it():
    calls = Calls()
    r = Recent(calls, max_age_ms=100)
    assert r.get(("a",), 10) == (10, "a@10")
    assert r.get(("a",), 10) == (10, "a@10")
    assert calls.calls == [("a", 10)]
    assert calls.threads == [threading.current_thread().name]  # in the request


def test_a_newer_step_shows_the_held_one_and_computes_in_the_background():
    calls = Calls()
    r = Recent(calls, max_age_ms=100, name="t")
    r.get(("a",), 10)
    calls.release.clear()  # hold the background computation
    assert r.get(("a",), 50) == (10, "a@10")  # shown at once, one step old
    assert r.get(("a",), 50) == (10, "a@10")  # one computation in flight, not two
    calls.release.set()
    r.wait(10)
    assert calls.calls == [("a", 10), ("a", 50)]
    assert calls.threads[1] == "t-refresh"
    assert r.get(("a",), 50) == (50, "a@50")


def test_beyond_the_bound_or_for_other_args_it_computes_in_the_request():
    calls = Calls()
    r = Recent(calls, max_age_ms=100)
    r.get(("a",), 10)
    assert r.get(("a",), 111) == (111, "a@111")  # 101 past the held step
    assert r.get(("b",), 111) == (111, "b@111")  # nothing held for b
    assert calls.threads == [threading.current_thread().name] * 3


def test_an_older_step_never_replaces_a_newer_one():
    calls = Calls()
    r = Recent(calls, max_age_ms=100)
    r.get(("a",), 50)
    assert r.get(("a",), 20) == (20, "a@20")  # an earlier clock: computed, not held
    assert r.get(("a",), 50) == (50, "a@50")  # the newer value is still held
    assert calls.calls == [("a", 50), ("a", 20)]


def test_a_failed_background_computation_is_retried_by_the_next_request():
    calls = Calls(fail_at=50)
    r = Recent(calls, max_age_ms=100)
    r.get(("a",), 10)
    assert r.get(("a",), 50) == (10, "a@10")
    r.wait(10)
    calls.fail_at = None
    assert r.get(("a",), 50) == (10, "a@10")  # still held; a new background try
    r.wait(10)
    assert r.get(("a",), 50) == (50, "a@50")
