"""The ``ray`` executor: the documents, order and events of ``local``, on Ray actors.

One local Ray (2 CPUs) serves the whole module; each run starts and releases its own
actors. Test stages live in a plugin file, so that Ray workers import them the way they
import a user's.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from docstage.config import load_config
from docstage.document import Document
from docstage.errors import ConfigError, RunError
from docstage.executors import LocalExecutor, make_executor, worker_spec
from docstage.plan import Plan
from docstage.resolve import make_plan
from docstage.segments import Segment
from docstage.testing import RunResult, run_pipeline

ray = pytest.importorskip("ray")

from docstage.executors import ray as ray_executor  # noqa: E402 - needs ray (skipped above)
from docstage.executors.ray import RayExecutor  # noqa: E402

#: test.die_on, in a plugin file of its own (the processes executor's tests use it too).
DIE_ON = Path(__file__).resolve().parent / "plugins" / "die_on.py"
#: test.slow, stuck in one C call on the documents that hold its ``stuck_on``.
SLOW = Path(__file__).resolve().parent / "plugins" / "slow.py"

PLUGIN = '''
"""Test stages for the ray executor."""
import os
import time
from typing import ClassVar

import attrs

from docstage import OptionError, hookimpl
from docstage.stages import Transform


@attrs.define(kw_only=True)
class Jitter(Transform):
    """Slow on some documents, so that later batches finish before earlier ones."""

    name: ClassVar[str] = "test.jitter"

    def process(self, doc):
        if int(doc.id.split(".")[0][-1]) % 3 == 0:
            time.sleep(0.02)
        return doc.evolve(text=doc.text + " [seen]")


@attrs.define(kw_only=True)
class FailOn(Transform):
    name: ClassVar[str] = "test.fail_on"
    word: str = "boom"

    def process(self, doc):
        if self.word in doc.text:
            raise ValueError(f"cannot handle {self.word!r} in {doc.id}")
        return doc


@attrs.define(kw_only=True)
class WorkerSetup(Transform):
    """Sets up in the coordinator (process ``coordinator``) only."""

    name: ClassVar[str] = "test.worker_setup"
    coordinator: int = 0

    option_error: bool = False

    def setup(self, context):
        if os.getpid() != self.coordinator:
            if self.option_error:
                raise OptionError("coordinator", "not this process")
            raise RuntimeError("no model in this worker")

    def process(self, doc):
        return doc


@hookimpl
def docstage_register_stages(registry):
    for cls in (Jitter, FailOn, WorkerSetup):
        registry.add(cls)
'''

TEXTS = (
    "date 2021-06-16 Leaders met in Geneva on Wednesday.\n\nThe talks lasted four hours.",
    "Posted on June 16, 2021\nHarbor cranes stood idle   at berth 7.\n\n\n\nUnions met.",
    "By Jane Doe | Reuters\nThe council voted on the budget.\n\nCategorized in:",
    "Markets opened higher; donâ€™t expect calm, traders said.\nTags: markets, trade",
    "Rain is expected over the weekend.\u200b\n\nRead more",
)


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    """A local Ray with two CPUs, started once and stopped at the end of the session."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    if started:
        ray.shutdown()


def write_corpus(folder: Path, count: int, *, words: dict[int, str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        extra = f" {words[number]}" if words and number in words else ""
        text = f"{TEXTS[number % len(TEXTS)]}\nItem {number}.{extra}\n"
        (folder / f"a{number:03d}.txt").write_text(text, encoding="utf-8")


def write_config(folder: Path, executor: str, stages: str) -> Path:
    """A pipeline reading ``corpus/*.txt``, running ``stages``, writing ``<executor>/``."""
    (folder / "raytest.py").write_text(PLUGIN, encoding="utf-8")
    config = folder / f"{executor}.toml"
    head = f"""\
        [pipeline]
        name = "raytest"
        plugins = ["raytest.py", "{DIE_ON.as_posix()}", "{SLOW.as_posix()}"]

        [run]
        executor = "{executor}"
        workers = 2
        batch_size = 4
        incremental = false
        quarantine = "{executor}/quarantine.jsonl"
        state = "{executor}/state.sqlite"

        [[stages]]
        use = "read.files"
        path = "corpus/*.txt"
        """
    tail = f"""
        [[stages]]
        use = "render.jsonl"
        path = "{executor}/docs.jsonl"
        """
    config.write_text(textwrap.dedent(head) + stages + textwrap.dedent(tail), encoding="utf-8")
    return config


def run_both(folder: Path, stages: str) -> tuple[RunResult, RunResult]:
    stages = textwrap.dedent(stages)
    local = run_pipeline(write_config(folder, "local", stages))
    on_ray = run_pipeline(write_config(folder, "ray", stages))
    assert on_ray.summary.executor == "ray"
    return local, on_ray


def without_run_ids(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("run_id", "traceback")} for r in records]


def test_ray_writes_the_output_of_local(tmp_path: Path, local_ray: Any) -> None:
    write_corpus(tmp_path / "corpus", 36)
    local, on_ray = run_both(
        tmp_path,
        """
        [[stages]]
        use = "cleanup.normalize"

        [[stages]]
        use = "test.jitter"

        [[stages]]
        use = "dedup"
        stories = false
        passages = false

        [[stages]]
        use = "cleanup.metadata"
        """,
    )
    assert local.exit_code == on_ray.exit_code == 0
    assert len(on_ray.documents) == 36
    assert on_ray.documents == local.documents
    local_bytes = (tmp_path / "local" / "docs.jsonl").read_bytes()
    assert (tmp_path / "ray" / "docs.jsonl").read_bytes() == local_bytes
    counts = [(s.name, s.docs_in, s.docs_out) for s in local.summary.stages]
    assert [(s.name, s.docs_in, s.docs_out) for s in on_ray.summary.stages] == counts
    assert local_ray.is_initialized(), "a Ray the executor did not start must stay up"


def plan_of(folder: Path, stages: str) -> Plan:
    return make_plan(load_config(write_config(folder, "ray", textwrap.dedent(stages))))


def test_batches_come_back_in_input_order(tmp_path: Path, local_ray: Any) -> None:
    plan = plan_of(
        tmp_path,
        """
        [[stages]]
        use = "test.jitter"

        [[stages]]
        use = "cleanup.normalize"
        """,
    )
    segment = Segment((1, 2))
    batches = [[Document(id=f"d{n:03d}.txt", text=f"text {n}")] for n in range(90)]
    batches[5] = batches[40] = []  # all cached: passed through without a trip to Ray
    executor = make_executor(plan, worker_spec(plan, "run-1"))
    assert isinstance(executor, RayExecutor)
    try:
        mapped = list(executor.map(segment, iter(batches)))
        again = list(executor.map(segment, iter(batches[:10])))  # the same actors, reused
    finally:
        executor.close()
    assert [batch for batch, _ in mapped] == batches
    assert all(out is given for (out, _), given in zip(mapped, batches, strict=True))
    expected = list(LocalExecutor(plan).map(segment, iter(batches)))
    assert [r.documents for _, r in mapped] == [r.documents for _, r in expected]
    assert [r.documents for _, r in again] == [r.documents for _, r in expected[:10]]
    assert mapped[5][1].documents == []
    assert len(mapped[5][1].counts) == 2
    assert [doc.text for doc in mapped[0][1].documents] == ["text 0 [seen]"]


def test_failing_documents_give_the_events_of_local(tmp_path: Path, local_ray: Any) -> None:
    write_corpus(tmp_path / "corpus", 30, words={3: "boom", 17: "boom", 22: "boom"})
    local, on_ray = run_both(
        tmp_path,
        """
        [[stages]]
        use = "cleanup.normalize"

        [[stages]]
        use = "test.fail_on"
        """,
    )
    assert local.exit_code == on_ray.exit_code == 1
    assert without_run_ids(on_ray.quarantine) == without_run_ids(local.quarantine)
    assert [r["document"]["id"] for r in on_ray.quarantine] == ["a003.txt", "a017.txt", "a022.txt"]
    assert all("cannot handle 'boom'" in r["traceback"] for r in on_ray.quarantine)
    errors = [(s.name, s.errors) for s in local.summary.stages]
    assert [(s.name, s.errors) for s in on_ray.summary.stages] == errors
    assert on_ray.documents == local.documents


def test_a_stage_that_cannot_set_up_in_a_worker_is_named(tmp_path: Path, local_ray: Any) -> None:
    write_corpus(tmp_path / "corpus", 4)
    config = write_config(
        tmp_path,
        "ray",
        f'\n[[stages]]\nuse = "test.worker_setup"\ncoordinator = {os.getpid()}\n',
    )
    result = run_pipeline(config)
    assert result.exit_code == 3
    assert result.summary.failed == (
        "[[stages]] #2 (test.worker_setup): setup failed in a worker: "
        "RuntimeError: no model in this worker"
    )
    assert not (tmp_path / "ray" / "docs.jsonl").exists()


def test_an_option_error_in_an_actor_is_a_config_error(tmp_path: Path, local_ray: Any) -> None:
    write_corpus(tmp_path / "corpus", 4)
    stage = f'use = "test.worker_setup"\ncoordinator = {os.getpid()}\noption_error = true\n'
    config = write_config(tmp_path, "ray", f"\n[[stages]]\n{stage}")
    with pytest.raises(ConfigError) as raised:
        run_pipeline(config)
    assert str(raised.value).endswith(
        "[[stages]] #2 (test.worker_setup): option 'coordinator': not this process"
    )
    assert not (tmp_path / "ray" / "docs.jsonl").exists()


def test_a_worker_that_dies_stops_the_run(tmp_path: Path, local_ray: Any) -> None:
    write_corpus(tmp_path / "corpus", 12, words={9: "die"})
    config = write_config(tmp_path, "ray", '\n[[stages]]\nuse = "test.die_on"\n')
    result = run_pipeline(config)
    assert result.exit_code == 3
    failed = result.summary.failed or ""
    assert failed.startswith("a Ray worker died while running test.die_on (")
    assert failed.endswith("the run is stopped and its outputs are left as they were")
    assert "\n" not in failed
    assert not (tmp_path / "ray" / "docs.jsonl").exists()
    assert local_ray.is_initialized()


@pytest.mark.slow
def test_an_actor_stuck_in_c_is_replaced_and_the_run_goes_on(
    tmp_path: Path, local_ray: Any
) -> None:
    write_corpus(tmp_path / "corpus", 12, words={5: "stuck"})
    stage = '\n[[stages]]\nuse = "test.slow"\nseconds = 0.0\nstuck_on = "stuck"\n'
    config = write_config(tmp_path, "ray", stage)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[run]\n", "[run]\ndocument_timeout = 0.5\n"), encoding="utf-8")
    result = run_pipeline(config)
    assert result.exit_code == 1  # finished, with a quarantined document
    assert result.ids == [f"a{n:03d}.txt" for n in range(12) if n != 5]
    (record,) = result.quarantine
    assert record["document"]["id"] == "a005.txt"
    assert record["stage"] == "test.slow"
    assert record["error"].startswith("DocumentTimeout: stuck for over 6 s in a call")
    assert local_ray.is_initialized()


# --- connecting, without a Ray of its own ------------------------------------------------


def test_without_ray_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(tmp_path / "corpus", 1)
    plan = plan_of(tmp_path, '\n[[stages]]\nuse = "cleanup.normalize"\n')
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError) as caught:
        make_executor(plan, worker_spec(plan, "run-1"))
    message = str(caught.value)
    assert message.endswith(
        "[run] executor: the 'ray' executor needs the ray extra: pip install 'docstage[ray]'"
    )
    assert "ray.toml:6: " in message  # the line of [run] executor


class FakeRay:
    """Records ``init`` calls; raises ``errors`` from them in turn."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)


def test_auto_starts_a_local_ray_when_none_runs(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", 1)
    plan = plan_of(tmp_path, '\n[[stages]]\nuse = "cleanup.normalize"\n')
    fake = FakeRay(ConnectionError("Could not find any running Ray instance."))
    assert ray_executor.connect(fake, plan, 3) is True  # type: ignore[arg-type]
    assert [call.get("address") for call in fake.calls] == ["auto", None]
    assert fake.calls[1]["num_cpus"] == 3
    assert fake.calls[1]["include_dashboard"] is False


def test_an_unreachable_address_is_named(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", 1)
    plan = plan_of(tmp_path, '\n[[stages]]\nuse = "cleanup.normalize"\n')
    run = attrs.evolve(plan.config.run, ray_address="ray://head:10001")
    plan = attrs.evolve(plan, config=attrs.evolve(plan.config, run=run))
    fake = FakeRay(ConnectionError("Failed to connect\nwith details"))
    with pytest.raises(RunError) as caught:
        ray_executor.connect(fake, plan, 2)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "[run] ray_address = 'ray://head:10001': cannot connect to Ray: Failed to connect"
    )
    assert len(fake.calls) == 1


def test_a_pipeline_without_transforms_does_not_need_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection(*args: object) -> bool:
        raise AssertionError("connected to Ray for a pipeline with nothing to run there")

    monkeypatch.setattr(ray_executor, "connect", no_connection)
    write_corpus(tmp_path / "corpus", 3)
    result = run_pipeline(write_config(tmp_path, "ray", ""))
    assert result.exit_code == 0
    assert result.summary.executor == "ray"
    assert len(result.documents) == 3
