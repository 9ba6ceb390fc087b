"""The real Prometheus and Alertmanager binaries, started and stopped by tests.

Each context manager writes a config into a temp dir, starts the Debian binary on
127.0.0.1 with a free port, waits (with a deadline) until ``/-/ready`` answers, and on
exit terminates it, waiting and killing it if it will not stop, so no process leaks.
A binary that exits or never gets ready raises :class:`BinaryFailed` with the tail of
its log. ::

    async with MetricsEndpoint() as metrics:
        metrics.set("block_height", 100, advance_per_scrape=1)
        async with start_prometheus(tmp_path, scrape_targets=[metrics.target]) as prom:
            await prom.wait_for_target_up()
            ...

    async with WebhookRecorder() as hooks:
        async with start_alertmanager(tmp_path, hooks.url, bearer_token="t") as am:
            await am.post_alerts([make_alert({"alertname": "X"})])
            delivery = await hooks.next(timeout=15)

Timings seen here (NOTES.md): Alertmanager delivers a posted alert ~1.1 s later
(group_wait 1s) and a resolve one group_interval later; Prometheus scrapes and
evaluates every second with these configs. Tests pass the binary's path from
``tests.binaries.require_binary`` so a missing binary skips (or fails in CI) first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

T = TypeVar("T")

READY_TIMEOUT = 30.0
"""Seconds a binary gets to answer /-/ready (a cold Prometheus needs ~1 s here)."""
STOP_TIMEOUT = 10.0
"""Seconds a binary gets to exit after SIGTERM before it is killed."""
POLL_INTERVAL = 0.05
"""Seconds between two checks of a condition being waited on."""
LOG_TAIL_LINES = 25


class BinaryFailed(RuntimeError):
    """A binary exited early or never became ready; the message has its log's tail."""


# ---------------------------------------------------------------- waiting


async def wait_until(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    what: str,
    poll: float = POLL_INTERVAL,
) -> T:
    """Await ``condition()`` until it returns something truthy, and return that.

    Raises :class:`TimeoutError` naming ``what`` (and the last value seen) when the
    deadline passes first. Exceptions from ``condition`` propagate.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(poll)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------- processes


@dataclass
class _Process:
    """One running binary, its log file and its HTTP address."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    url: str

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the binary wrote to stdout/stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    async def stop(self) -> None:
        """Terminate the binary; kill it if it has not exited after STOP_TIMEOUT seconds."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()


async def _spawn_ready(
    name: str, binary: str, args: Callable[[int], list[str]], workdir: Path
) -> _Process:
    """Start ``binary`` on a free port until it is ready; retry if the port was taken."""
    last_error: BinaryFailed | None = None
    for attempt in range(3):
        port = free_port()
        log_path = workdir / f"{name}.{attempt}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                binary,
                *args(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=workdir,
            )
        running = _Process(name, process, log_path, f"http://127.0.0.1:{port}")
        try:
            await _wait_ready(running)
            return running
        except BinaryFailed as exc:
            await running.stop()
            last_error = exc
            if "address already in use" not in running.log_tail().lower():
                raise
        except BaseException:
            await running.stop()
            raise
    assert last_error is not None
    raise last_error


async def _wait_ready(running: _Process) -> None:
    """Poll /-/ready until it answers 200; BinaryFailed if the process dies or time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if running.process.returncode is not None:
                raise BinaryFailed(
                    f"{running.name} exited with {running.process.returncode} before it was "
                    f"ready; log tail:\n{running.log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{running.url}/-/ready") as response:
                    if response.status == 200:
                        return
            if time.monotonic() >= deadline:
                raise BinaryFailed(
                    f"{running.name} not ready at {running.url} after {READY_TIMEOUT:g}s; "
                    f"log tail:\n{running.log_tail()}"
                )
            await asyncio.sleep(POLL_INTERVAL)


def _write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` as JSON, which both binaries read as YAML."""
    path.write_text(json.dumps(config, indent=2))
    return path


# ---------------------------------------------------------------- Prometheus


@dataclass
class RunningPrometheus:
    """A Prometheus binary serving at :attr:`url`, with a session for test helpers."""

    url: str
    config_path: Path
    session: aiohttp.ClientSession
    _process: _Process

    def log_tail(self) -> str:
        """The last lines Prometheus logged."""
        return self._process.log_tail()

    async def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; AssertionError on an API error."""
        async with self.session.get(f"{self.url}/api/v1/{path}", params=params) as response:
            body = await response.json()
        assert body.get("status") == "success", body
        return body["data"]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        """The raw ``data.result`` of an instant query (a list for vectors)."""
        data = await self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def active_targets(self) -> list[dict[str, Any]]:
        """Prometheus's view of its scrape targets (``health``, ``lastError``, ...)."""
        data = await self.api("targets", state="active")
        targets: list[dict[str, Any]] = data["activeTargets"]
        return targets

    async def wait_for_target_up(self, *, timeout: float = 20.0) -> None:
        """Wait until every configured target has been scraped successfully."""

        async def all_up() -> bool:
            targets = await self.active_targets()
            return bool(targets) and all(t["health"] == "up" for t in targets)

        await wait_until(all_up, timeout=timeout, what="all Prometheus targets up")

    async def firing_alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus's rules currently report as firing."""
        data = await self.api("alerts")
        return [a for a in data["alerts"] if a["state"] == "firing"]


@contextlib.asynccontextmanager
async def start_prometheus(
    tmp_path: Path,
    *,
    binary: str = "prometheus",
    scrape_targets: Sequence[str] = (),
    rule_files: Sequence[Path | str] = (),
    alertmanager_url: str | None = None,
    interval: str = "1s",
) -> AsyncIterator[RunningPrometheus]:
    """Run a real Prometheus that scrapes ``scrape_targets`` (``host:port``) every ``interval``.

    Rules in ``rule_files`` (absolute paths) are evaluated every ``interval``; firing alerts are sent to
    ``alertmanager_url`` (re-sent every second, so a cold start does not delay them a
    minute). The process is stopped, and its temp dir left for post-mortems, on exit.
    """
    workdir = tmp_path / f"prometheus-{free_port()}"
    workdir.mkdir(parents=True)
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "scrape_configs": [
            {"job_name": "targets", "static_configs": [{"targets": list(scrape_targets)}]}
        ],
        "rule_files": [str(f) for f in rule_files],
    }
    if alertmanager_url is not None:
        parts = urlsplit(alertmanager_url)
        config["alerting"] = {
            "alertmanagers": [
                {
                    "scheme": parts.scheme or "http",
                    "path_prefix": parts.path or "/",
                    "static_configs": [{"targets": [parts.netloc]}],
                }
            ]
        }
    config_path = _write_config(workdir / "prometheus.yml", config)

    def args(port: int) -> list[str]:
        return [
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
        ]

    running = await _spawn_ready("prometheus", binary, args, workdir)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            yield RunningPrometheus(running.url, config_path, session, running)
    finally:
        await running.stop()


# ---------------------------------------------------------------- Alertmanager


def make_alert(
    labels: Mapping[str, str],
    *,
    annotations: Mapping[str, str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str = "",
) -> dict[str, Any]:
    """An alert in the shape Alertmanager's ``POST /api/v2/alerts`` takes.

    Pass ``ends_at=datetime.now(UTC)`` (same labels) to resolve an alert posted before.
    """
    alert: dict[str, Any] = {"labels": dict(labels), "annotations": dict(annotations or {})}
    if starts_at is not None:
        alert["startsAt"] = starts_at.isoformat()
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


def now() -> datetime:
    """The current time in UTC, for ``make_alert(..., ends_at=now())``."""
    return datetime.now(UTC)


@dataclass
class RunningAlertmanager:
    """An Alertmanager binary serving at :attr:`url`."""

    url: str
    config_path: Path
    session: aiohttp.ClientSession
    _process: _Process

    def log_tail(self) -> str:
        """The last lines Alertmanager logged."""
        return self._process.log_tail()

    async def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """POST ``alerts`` to ``/api/v2/alerts``; AssertionError unless Alertmanager takes them."""
        async with self.session.post(f"{self.url}/api/v2/alerts", json=list(alerts)) as response:
            text = await response.text()
            assert response.status == 200, f"{response.status}: {text}"

    async def alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's current alerts (``GET /api/v2/alerts``)."""
        async with self.session.get(f"{self.url}/api/v2/alerts") as response:
            assert response.status == 200, await response.text()
            result: list[dict[str, Any]] = await response.json()
            return result


@contextlib.asynccontextmanager
async def start_alertmanager(
    tmp_path: Path,
    webhook_url: str,
    *,
    binary: str = "prometheus-alertmanager",
    bearer_token: str | None = None,
    group_by: Sequence[str] = ("alertname",),
    group_wait: str = "1s",
    group_interval: str = "5s",
    repeat_interval: str = "1h",
    send_resolved: bool = True,
    receiver: str = "testnet-bot",
) -> AsyncIterator[RunningAlertmanager]:
    """Run a real Alertmanager whose only receiver is a webhook to ``webhook_url``.

    With ``bearer_token`` the webhook carries ``Authorization: Bearer <token>``.
    Clustering is off, so it is ready at once. Stopped on exit.
    """
    workdir = tmp_path / f"alertmanager-{free_port()}"
    workdir.mkdir(parents=True)
    webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": send_resolved}
    if bearer_token is not None:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    config = {
        "route": {
            "receiver": receiver,
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": receiver, "webhook_configs": [webhook]}],
    }
    config_path = _write_config(workdir / "alertmanager.yml", config)

    def args(port: int) -> list[str]:
        return [
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]

    running = await _spawn_ready("alertmanager", binary, args, workdir)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            yield RunningAlertmanager(running.url, config_path, session, running)
    finally:
        await running.stop()


# ---------------------------------------------------------------- HTTP helpers for the binaries


@dataclass
class _Gauge:
    value: float
    advance_per_scrape: float = 0.0


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass
class MetricsEndpoint:
    """An aiohttp server on 127.0.0.1 exposing gauges in Prometheus's text format.

    ``set("block_height", 100, advance_per_scrape=1)`` makes the height grow by one on
    every scrape (a producing chain); ``stall("block_height")`` freezes it. Gauges may
    carry labels. :attr:`scrapes` counts requests to ``/metrics``.
    """

    gauges: dict[tuple[str, tuple[tuple[str, str], ...]], _Gauge] = field(default_factory=dict)
    scrapes: int = 0
    url: str = ""
    target: str = ""
    _runner: web.AppRunner | None = None

    def set(
        self,
        name: str,
        value: float,
        *,
        labels: Mapping[str, str] | None = None,
        advance_per_scrape: float = 0.0,
    ) -> None:
        """Set a gauge, optionally growing by ``advance_per_scrape`` after every scrape."""
        assert _METRIC_NAME.fullmatch(name), name
        self.gauges[self._key(name, labels)] = _Gauge(value, advance_per_scrape)

    def stall(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Stop a gauge from advancing; it keeps its current value."""
        self.gauges[self._key(name, labels)].advance_per_scrape = 0.0

    def value(self, name: str, *, labels: Mapping[str, str] | None = None) -> float:
        """A gauge's current value."""
        return self.gauges[self._key(name, labels)].value

    @staticmethod
    def _key(
        name: str, labels: Mapping[str, str] | None
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted((labels or {}).items()))

    def exposition(self) -> str:
        """The text exposition served now (``# TYPE`` line, then one line per series)."""
        lines: list[str] = []
        typed: set[str] = set()
        for (name, labels), gauge in sorted(self.gauges.items()):
            if name not in typed:
                lines.append(f"# TYPE {name} gauge")
                typed.add(name)
            rendered = ",".join(f"{k}={json.dumps(v)}" for k, v in labels)
            series = f"{name}{{{rendered}}}" if rendered else name
            lines.append(f"{series} {gauge.value!r}")
        return "\n".join(lines) + "\n"

    async def _metrics(self, request: web.Request) -> web.Response:
        self.scrapes += 1
        body = self.exposition()
        for gauge in self.gauges.values():
            gauge.value += gauge.advance_per_scrape
        return web.Response(text=body, content_type="text/plain", charset="utf-8")

    async def __aenter__(self) -> MetricsEndpoint:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.target = f"127.0.0.1:{port}"
        self.url = f"http://{self.target}/metrics"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@dataclass(frozen=True)
class Delivery:
    """One webhook request as it arrived: path, headers and raw body."""

    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookRecorder:
    """An aiohttp server on 127.0.0.1 that records every POST and answers ``status``.

    Point Alertmanager at :attr:`url` and ``await recorder.next(timeout=...)`` for each
    delivery in arrival order; :attr:`deliveries` keeps them all.
    """

    status: int = 200
    path: str = "/hooks/alertmanager"
    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""
    _queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    _runner: web.AppRunner | None = None

    async def _record(self, request: web.Request) -> web.Response:
        delivery = Delivery(request.path, dict(request.headers), await request.read())
        self.deliveries.append(delivery)
        self._queue.put_nowait(delivery)
        return web.Response(status=self.status)

    async def next(self, *, timeout: float) -> Delivery:
        """The next delivery not yet returned; TimeoutError if none arrives in time."""
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            raise TimeoutError(
                f"no webhook at {self.url} within {timeout:g}s "
                f"({len(self.deliveries)} received so far)"
            ) from None

    async def __aenter__(self) -> WebhookRecorder:
        app = web.Application()
        app.router.add_post(self.path, self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
