"""Unit tests of the with-items reset=False fix: index selection, completion, and how it is installed."""
from __future__ import annotations

import importlib
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from st2mistral_plugin import with_items_fix as fix  # noqa: E402


def ex(index: int, state: str, accepted: bool) -> Any:
    return SimpleNamespace(runtime_context={"index": index}, state=state, accepted=accepted)


def after_first_run_with_2_and_4_failed_then_reset_false() -> List[Any]:
    """Items 2 and 4 (indexes 1, 3) failed; a reset=False re-run un-accepted exactly those."""
    return [ex(0, "SUCCESS", True), ex(1, "ERROR", False), ex(2, "SUCCESS", True),
            ex(3, "ERROR", False), ex(4, "SUCCESS", True)]


def test_rerun_without_reset_schedules_only_the_failed_items():
    assert fix.next_indexes(5, None, after_first_run_with_2_and_4_failed_then_reset_false()) == [1, 3]


def test_capacity_caps_the_batch():
    assert fix.next_indexes(5, 1, after_first_run_with_2_and_4_failed_then_reset_false()) == [1]


def test_first_run_and_reset_true_schedule_everything():
    assert fix.next_indexes(3, None, []) == [0, 1, 2]
    reset_all = [ex(i, "SUCCESS" if i != 1 else "ERROR", False) for i in range(3)]
    assert fix.next_indexes(3, None, reset_all) == [0, 1, 2]


def test_running_items_are_not_scheduled_twice():
    execs = [ex(0, "SUCCESS", True), ex(1, "RUNNING", False), ex(1, "ERROR", False)]
    assert fix.next_indexes(3, 2, execs) == [2]


def test_completion_counts_distinct_items():
    execs = after_first_run_with_2_and_4_failed_then_reset_false()
    assert not fix.all_items_accepted(5, execs)
    execs += [ex(1, "SUCCESS", True), ex(3, "SUCCESS", True)]
    assert fix.all_items_accepted(5, execs)
    # A duplicate accepted execution of one item does not make 5 items look complete ...
    dup = [ex(i, "SUCCESS", True) for i in (0, 1, 2, 3, 3)]
    assert not fix.all_items_accepted(5, dup)
    # ... and an empty with-items list counts as one item, as Mistral does.
    assert not fix.all_items_accepted(0, [])


def test_more_items_to_schedule():
    execs = after_first_run_with_2_and_4_failed_then_reset_false()
    assert fix.more_items_to_schedule(5, execs)
    execs += [ex(1, "RUNNING", False), ex(3, "SUCCESS", True)]
    assert not fix.more_items_to_schedule(5, execs)


class FakeWithItemsTask:
    """Same method names as Mistral's WithItemsTask; the 'originals' return sentinels."""

    def __init__(self, execs: List[Any], count: int = 5, capacity: Any = None,
                 concurrency: Any = None) -> None:
        self.task_ex = SimpleNamespace(executions=execs)
        self._count, self._capacity, self._concurrency = count, capacity, concurrency

    def _get_with_items_count(self):
        return self._count

    def _get_with_items_capacity(self):
        return self._capacity

    def _get_concurrency(self):
        return self._concurrency

    def _get_next_indexes(self):
        return "original-next"

    def is_with_items_completed(self):
        return "original-completed"

    def _has_more_iterations(self):
        return "original-more"


@pytest.fixture
def patched_cls():
    cls = type("WithItemsTask", (FakeWithItemsTask,), {
        "_get_next_indexes": FakeWithItemsTask._get_next_indexes,
        "is_with_items_completed": FakeWithItemsTask.is_with_items_completed,
        "_has_more_iterations": FakeWithItemsTask._has_more_iterations,
    })
    assert fix.patch_class(cls) is True
    assert fix.patch_class(cls) is False  # idempotent
    return cls


def test_patched_methods_use_the_fix(patched_cls, monkeypatch):
    monkeypatch.delenv("ST2MISTRAL_WITH_ITEMS_FIX", raising=False)
    task = patched_cls(after_first_run_with_2_and_4_failed_then_reset_false())
    assert task._get_next_indexes() == [1, 3]
    assert task.is_with_items_completed() is False
    assert task._has_more_iterations() is True
    task.task_ex.executions += [ex(1, "SUCCESS", True), ex(3, "SUCCESS", True)]
    assert task.is_with_items_completed() is True


def test_completion_waits_for_full_capacity_and_stops_on_cancel(patched_cls, monkeypatch):
    monkeypatch.delenv("ST2MISTRAL_WITH_ITEMS_FIX", raising=False)
    done = [ex(i, "SUCCESS", True) for i in range(5)]
    assert patched_cls(done, capacity=1, concurrency=2).is_with_items_completed() is False
    assert patched_cls(done, capacity=2, concurrency=2).is_with_items_completed() is True
    cancelled = [ex(0, "CANCELLED", True), ex(1, "RUNNING", False)]
    assert patched_cls(cancelled).is_with_items_completed() is True


def test_switch_off_delegates_to_mistral(patched_cls, monkeypatch):
    monkeypatch.setenv("ST2MISTRAL_WITH_ITEMS_FIX", "0")
    task = patched_cls([])
    assert task._get_next_indexes() == "original-next"
    assert task.is_with_items_completed() == "original-completed"
    assert task._has_more_iterations() == "original-more"


@pytest.fixture
def fake_mistral(tmp_path, monkeypatch):
    """A throw-away `mistral.engine.tasks` package on sys.path (the dev venv has no Mistral)."""
    if importlib.util.find_spec("mistral") is not None:
        pytest.skip("a real mistral package is importable here")
    fix._uninstall_finder()  # importing st2mistral_plugin already installed the hook
    pkg = tmp_path / "mistral" / "engine"
    pkg.mkdir(parents=True)
    (tmp_path / "mistral" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(textwrap.dedent("""
        class WithItemsTask:
            def _get_next_indexes(self):
                return "original"

            def is_with_items_completed(self):
                return "original"

            def _has_more_iterations(self):
                return "original"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("mistral.engine.tasks", "mistral.engine", "mistral"):
        sys.modules.pop(name, None)
    fix._uninstall_finder()


def test_install_before_mistral_loads_patches_on_import(fake_mistral):
    assert fix.install() == "deferred"
    tasks = importlib.import_module("mistral.engine.tasks")
    assert getattr(tasks.WithItemsTask, "_st2mistral_with_items_fix", False) is True
    assert fix._PATCH.finder is None  # the hook removed itself


def test_install_after_mistral_loaded_patches_at_once(fake_mistral):
    tasks = importlib.import_module("mistral.engine.tasks")
    assert fix.install() == "patched"
    assert tasks.WithItemsTask._st2mistral_with_items_fix is True
    assert fix.install() == "already"
