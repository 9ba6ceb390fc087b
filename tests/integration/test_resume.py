"""Runs left unfinished are handed back to their workflow at start-up."""

from __future__ import annotations

from pathlib import Path

from bot.app import Bot
from bot.context import Services
from bot.registry import Registry
from state.records import Run
from state.store import Store
from tests.harness import make_config, wait_until


async def test_a_run_left_in_progress_is_resumed_at_start_up(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store.open(config.state.path)
    run = store.create_run(
        kind="probe", network="alpha", args={"version": "v1.0.0"}, owner="alice", exclusive=True
    )
    store.update_run(run.id, state="running", step="rolling validators")
    orphan = store.create_run(kind="forgotten", network=None, args={}, owner="bob")
    store.close()

    registry = Registry()
    resumed: list[tuple[str, str, dict[str, object]]] = []

    @registry.workflow("probe")
    async def resume_probe(services: Services, run: Run) -> None:
        resumed.append((run.id, run.step, run.args))
        services.store.update_run(run.id, state="succeeded", step="done")

    async with Bot(config, registry=registry, serve_http=False) as bot:
        store = bot.services.store
        await wait_until(
            lambda: store.get_run(run.id).state == "succeeded",  # type: ignore[union-attr]
            what="the resumed run to finish",
        )
        assert resumed == [(run.id, "rolling validators", {"version": "v1.0.0"})]
        abandoned = store.get_run(orphan.id)
        assert abandoned is not None and abandoned.state == "failed"
        assert "no workflow resumes 'forgotten'" in abandoned.result["error"]


async def test_exec_style_start_does_not_resume(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store.open(config.state.path)
    run = store.create_run(kind="probe", network=None, args={}, owner="a")
    store.close()
    async with Bot(config, registry=Registry(), serve_http=False, resume_runs=False) as bot:
        got = bot.services.store.get_run(run.id)
        assert got is not None and got.state == "pending"
