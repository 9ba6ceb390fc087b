"""``/testnet sanity``: the release runbook's sanity check, done by the bot.

Four kinds of check, declared per network (``networks.<name>.sanity``): pods
(Ready, restarts, no crash loop), logs (a regex that must or must not appear),
prometheus (an instant query against a threshold) and http (status, body, JSON
field). All run concurrently, each under the per-check timeout; pod logs are read
concurrently up to ``log_concurrency`` at a time, and a log read by several checks
is fetched once per run. A check that cannot run is an error (⚠️), not a failure (❌).
"""

from __future__ import annotations

import asyncio
import json
import operator
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from bot.config import HttpCheck, LogCheck, NetworkConfig, PodsCheck, PrometheusCheck
from bot.context import Context, Services
from bot.core import Table
from bot.errors import AlreadyReported, CommandError
from bot.registry import Help, command
from commands.common import PROBES, CheckRound, kube_for
from integrations.kube_models import KubeError, Pod, same_repository
from integrations.probe_models import MetricSample, ProbeError, Probes
from state.store import Store

if TYPE_CHECKING:
    from integrations.kube import KubeClient

Status = Literal["pass", "fail", "error"]
ICONS: dict[str, str] = {"pass": "✅", "fail": "❌", "error": "⚠️"}
LINE_CHARS = 500
"""Longest log line kept for a report's details."""
OBSERVED_CHARS = 80
"""Longest observed value shown in the table (the details hold the whole value)."""
_STATUS_ORDER: dict[str, int] = {"fail": 0, "error": 1, "pass": 2}
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class CheckFailed(Exception):
    """The check ran and the network did not pass it; the message is what was seen,
    ``detail`` the evidence in full (e.g. the whole log line)."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Seen:
    """What a passing check saw: a short value and, optionally, the evidence in full."""

    observed: str
    detail: str = ""


class CheckError(Exception):
    """The check could not run; the message says why."""


@dataclass(frozen=True)
class CheckResult:
    """One row of the sanity table."""

    kind: str
    name: str
    status: Status
    observed: str
    seconds: float
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        """For the stored result."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "observed": self.observed,
            "seconds": round(self.seconds, 3),
        }
        if self.detail:
            data["detail"] = self.detail
        return data

    @property
    def cell(self) -> str:
        """The observed value as the table shows it: at most :data:`OBSERVED_CHARS`."""
        return clip(self.observed, OBSERVED_CHARS)

    @property
    def row(self) -> tuple[str, str, str, str]:
        """The table row: status icon, check, observed (shortened), duration."""
        return (ICONS[self.status], self.label, self.cell, f"{self.seconds:.2f}s")

    @property
    def evidence(self) -> str:
        """What a report's details add for this check: the evidence of a failure or an
        error, else "" (a passing check's matching line adds nothing worth reading)."""
        return self.detail if self.status != "pass" else ""

    @property
    def label(self) -> str:
        """``peer discovery (logs)``."""
        return self.name if self.name == self.kind else f"{self.name} ({self.kind})"


@dataclass(frozen=True)
class SanityReport:
    """Every check's result for one network at one time."""

    network: str
    results: tuple[CheckResult, ...]
    started_at: float
    seconds: float

    @property
    def verdict(self) -> Status:
        """``fail`` if any check failed, else ``error`` if any could not run, else ``pass``."""
        statuses = {r.status for r in self.results}
        if "fail" in statuses:
            return "fail"
        return "error" if "error" in statuses else "pass"

    def with_status(self, status: Status) -> list[CheckResult]:
        """The results with that status."""
        return [r for r in self.results if r.status == status]

    def counts(self) -> str:
        """``✅ 8 passed, ❌ 1 failed, ⚠️ 0 errors``."""
        passed, failed = len(self.with_status("pass")), len(self.with_status("fail"))
        errors = len(self.with_status("error"))
        return f"✅ {passed} passed, ❌ {failed} failed, ⚠️ {errors} errors"

    def headline(self) -> str:
        """The message above the table."""
        return (
            f"{ICONS[self.verdict]} Sanity of `{self.network}`: {self.counts()} "
            f"in {self.seconds:.1f}s"
        )

    def ordered(self) -> list[CheckResult]:
        """The results failing first, then errors, then passes (config order within each)."""
        return sorted(self.results, key=lambda r: _STATUS_ORDER[r.status])

    def table(self) -> Table:
        """Status, check, what was observed (shortened), how long it took; failing
        rows first."""
        return results_table(self.ordered())

    def details(self) -> str:
        """What the table shortened, in full, and the evidence of each failure (the
        whole log lines), failing checks first; "" when the table shows it all."""
        lines = []
        for r in self.ordered():
            if r.cell == r.observed and not r.evidence:
                continue
            lines.append(f"{ICONS[r.status]} *{r.label}*: {r.observed}")
            if r.evidence:
                lines.append(f"```{r.evidence}```")
        return "\n".join(lines)

    def problems(self) -> str:
        """The failing (else erroring) checks in one line, for a failure reason."""
        bad = self.with_status("fail") or self.with_status("error")
        return "; ".join(f"{r.label}: {r.observed}" for r in bad)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def results_table(results: Sequence[CheckResult]) -> Table:
    """The sanity table of ``results``, in the order given; the leading rows that did
    not pass are marked as needing attention."""
    attention = 0
    while attention < len(results) and results[attention].status != "pass":
        attention += 1
    return Table(("", "check", "observed", "took"), tuple(r.row for r in results), attention)


def has_checks(net: NetworkConfig) -> bool:
    """Whether the network declares any sanity check."""
    s = net.sanity
    return bool(s.pods or s.logs or s.http or (s.prometheus and s.prometheus.checks))


def probes_for(services: Services) -> Probes:
    """The Prometheus/HTTP probes the composition root made (:class:`CheckError` if none)."""
    probes = services.get(PROBES)
    if probes is None:
        raise CheckError("no HTTP probes are available in this bot")
    return probes


def record(store: Store, report: SanityReport, *, source: str) -> int:
    """Store a report; return its id."""
    return store.sanity.record(
        network=report.network,
        source=source,
        verdict=report.verdict,
        started_at=report.started_at,
        seconds=report.seconds,
        results=[r.as_json() for r in report.results],
    )


async def run_sanity(services: Services, name: str, net: NetworkConfig) -> SanityReport:
    """Run every check of ``net`` concurrently and gather the results in config order."""
    started_at, t0 = services.clock(), time.monotonic()
    sanity = net.sanity
    kube = _LazyKube(services, net)
    logs = _LogReader(kube, net, sanity.log_concurrency)
    checks: list[tuple[str, str, Callable[[], Awaitable[str | Seen]]]] = []
    if sanity.pods is not None:
        pods_check = sanity.pods
        checks.append(("pods", "pods", lambda: _pods(kube, net, pods_check)))
    for log_check in sanity.logs:
        checks.append(("logs", log_check.name, _bind(_logs, logs, log_check)))
    if sanity.prometheus is not None:
        url = str(sanity.prometheus.url)
        for prom in sanity.prometheus.checks:
            checks.append(
                ("prometheus", prom.name, _bind(_prometheus, services, url, prom, sanity.timeout))
            )
    for http in sanity.http:
        checks.append(("http", http.name, _bind(_http, services, http, sanity.timeout)))
    try:
        results = await asyncio.gather(
            *(_timed(kind, label, run, sanity.timeout) for kind, label, run in checks)
        )
    finally:
        await logs.close()
    return SanityReport(name, tuple(results), started_at, time.monotonic() - t0)


def _bind(
    fn: Callable[..., Awaitable[str | Seen]], *args: Any
) -> Callable[[], Awaitable[str | Seen]]:
    return lambda: fn(*args)


OUTER_TIMEOUT_GRACE = 0.5
"""Seconds a check may run past its timeout before it is cut off: a probe given the same
timeout reports its own, more specific reason first."""


async def _timed(
    kind: str, name: str, run: Callable[[], Awaitable[str | Seen]], timeout: float
) -> CheckResult:
    t0 = time.monotonic()
    status: Status = "pass"
    detail = ""
    try:  # a probe's own timeout, which says what it waited for, goes off first
        async with asyncio.timeout(timeout + OUTER_TIMEOUT_GRACE):
            seen = await run()
        observed, detail = (seen.observed, seen.detail) if isinstance(seen, Seen) else (seen, "")
    except CheckFailed as exc:
        status, observed, detail = "fail", str(exc), exc.detail
    except TimeoutError:
        status, observed = "error", f"timed out after {timeout:g}s"
    except (CheckError, ProbeError, KubeError, CommandError) as exc:
        status, observed = "error", str(exc)
    return CheckResult(kind, name, status, observed, time.monotonic() - t0, detail)


class _LazyKube:
    """The network's Kubernetes client, opened on first use by a check."""

    def __init__(self, services: Services, net: NetworkConfig) -> None:
        self.services = services
        self.net = net
        self._client: KubeClient | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> KubeClient:
        async with self._lock:
            if self._client is None:
                self._client = await kube_for(self.services, self.net)
            return self._client


# -- pods ----------------------------------------------------------------------


async def _pods(kube: _LazyKube, net: NetworkConfig, check: PodsCheck) -> str:
    client = await kube.get()
    pods = await client.list_pods(net.namespace, check.selector or None)
    if not pods:
        raise CheckFailed(f"no pods match `{check.selector or '(all)'}`")
    problems = []
    for pod in pods:
        if pod.failing_reason:
            problems.append(f"{pod.name} {pod.failing_reason}")
        elif pod.restarts > check.max_restarts:
            problems.append(f"{pod.name} {pod.restarts} restarts (max {check.max_restarts})")
        elif not pod.ready:
            problems.append(f"{pod.name} not Ready ({pod.waiting_reason or pod.phase})")
    ready = sum(p.ready for p in pods)
    if problems:
        shown = ", ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise CheckFailed(f"{ready}/{len(pods)} Ready; {shown}")
    return f"{ready}/{len(pods)} Ready, most restarts {max(p.restarts for p in pods)}"


# -- logs ----------------------------------------------------------------------


class _LogReader:
    """Reads pod logs with a concurrency bound; each log is fetched once per run."""

    def __init__(self, kube: _LazyKube, net: NetworkConfig, limit: int) -> None:
        self.kube = kube
        self.net = net
        self._limit = asyncio.Semaphore(limit)
        self._fetches: dict[tuple[str, str | None, int, int | None], asyncio.Task[str]] = {}

    def container(self, pod: Pod, wanted: str | None) -> str | None:
        """The container a check reads: the named one, the only one, or the image's."""
        if wanted is not None or len(pod.containers) <= 1:
            return wanted
        own = [c.name for c in pod.containers if same_repository(c.image, self.net.image)]
        return own[0] if own else pod.containers[0].name

    async def read(self, pod: str, container: str | None, tail: int, since: int | None) -> str:
        """The log text (shared between checks asking for the same lines)."""
        key = (pod, container, tail, since)
        task = self._fetches.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(*key))
            self._fetches[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, pod: str, container: str | None, tail: int, since: int | None) -> str:
        client = await self.kube.get()
        async with self._limit:
            return await client.pod_logs(
                self.net.namespace, pod, container=container, tail_lines=tail, since_seconds=since
            )

    async def close(self) -> None:
        """Cancel reads nobody waits for any more."""
        pending = [t for t in self._fetches.values() if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._fetches.values(), return_exceptions=True)


def _line_of(text: str, match: re.Match[str]) -> str:
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start : end if end >= 0 else len(text)].strip()


_MESSAGE_FIELDS = ("msg", "message")


def excerpt(line: str) -> str:
    """A log line as a table shows it: a JSON line's ``msg`` (or ``message``) field,
    else the line itself; at most :data:`OBSERVED_CHARS` characters."""
    brace = line.find("{")
    if brace >= 0:
        try:
            data = json.loads(line[brace:])
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in _MESSAGE_FIELDS:
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    return clip(" ".join(value.split()), OBSERVED_CHARS)
    return clip(line, OBSERVED_CHARS)


async def _logs(reader: _LogReader, check: LogCheck) -> str | Seen:
    client = await reader.kube.get()
    pods = await client.list_pods(reader.net.namespace, check.selector)
    if not pods:
        raise CheckFailed(f"no pods match `{check.selector}`")
    rx = re.compile(check.expect or check.forbid or "")
    since = int(check.since) if check.since else None

    async def scan(pod: Pod) -> tuple[Pod, str | None, str | None]:
        """(pod, matching line or None, error or None)."""
        container = reader.container(pod, check.container)
        try:
            text = await reader.read(pod.name, container, check.tail_lines, since)
        except KubeError as exc:
            return pod, None, exc.message
        match = rx.search(text)
        return pod, _line_of(text, match) if match else None, None

    scanned = await asyncio.gather(*(scan(p) for p in pods))
    found = [(pod, line) for pod, line, _ in scanned if line is not None]
    unreadable = [(pod, error) for pod, _, error in scanned if error is not None]
    where = f"last {check.tail_lines} lines" + (f", {check.since:g}s" if check.since else "")
    if check.forbid is not None:
        if found:
            pod, line = found[0]
            more = f" (and {len(found) - 1} more pods)" if len(found) > 1 else ""
            evidence = "\n".join(f"{p.name}: {clip(text, LINE_CHARS)}" for p, text in found[:5])
            raise CheckFailed(f"`{pod.name}`{more}: {excerpt(line)}", detail=evidence)
        if unreadable:
            pod, error = unreadable[0]
            raise CheckError(f"cannot read {len(unreadable)} pod logs, e.g. {error}")
        return f"not in {len(pods)} pods ({where})"
    needed = check.min_pods
    if len(found) >= needed:
        pod, line = found[0]
        return Seen(
            f"{len(found)}/{len(pods)} pods, e.g. `{pod.name}`: {excerpt(line)}",
            detail=f"{pod.name}: {clip(line, LINE_CHARS)}",
        )
    if unreadable and len(found) + len(unreadable) >= needed:
        pod, error = unreadable[0]
        raise CheckError(f"cannot read {len(unreadable)} pod logs, e.g. {error}")
    matched = {pod.name for pod, _ in found}
    missing = [p.name for p in pods if p.name not in matched]
    shown = ", ".join(missing[:3]) + ("…" if len(missing) > 3 else "")
    raise CheckFailed(
        f"{len(found)}/{len(pods)} pods (need {needed}) in the {where}; none in {shown}"
    )


# -- prometheus ------------------------------------------------------------------


def _series(sample: MetricSample) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items())) + "}"


async def _prometheus(services: Services, url: str, check: PrometheusCheck, timeout: float) -> str:
    samples = await probes_for(services).query(url, check.query, timeout=timeout)
    want = f"{check.op} {check.value:g}"
    if not samples:
        raise CheckFailed(f"no data (needs {want})")
    compare = _OPS[check.op]
    bad = [s for s in samples if not compare(s.value, check.value)]
    if len(samples) == 1:
        value = samples[0].value
        if bad:
            raise CheckFailed(f"{value:g} (needs {want})")
        return f"{value:g} ({want})"
    if bad:
        first = bad[0]
        raise CheckFailed(
            f"{len(bad)}/{len(samples)} series fail {want}, e.g. {_series(first)} = {first.value:g}"
        )
    values = [s.value for s in samples]
    return f"{len(samples)} series {want}: {min(values):g}…{max(values):g}"


# -- http ------------------------------------------------------------------------


def _json_path(body: str, path: str) -> Any:
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise CheckFailed("the body is not JSON") from None
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise CheckFailed(f"no `{path}` in the JSON body")
    return data


async def _http(services: Services, check: HttpCheck, timeout: float) -> str:
    answer = await probes_for(services).get(str(check.url), timeout=timeout)
    if answer.status != check.expect_status:
        raise CheckFailed(f"HTTP {answer.status} (expected {check.expect_status})")
    seen = f"HTTP {answer.status}"
    if check.body_contains is not None:
        if check.body_contains not in answer.body:
            snippet = " ".join(answer.body.split())[:60]
            raise CheckFailed(f"{seen}, body lacks {check.body_contains!r}: {snippet!r}")
        seen += f", body has {check.body_contains!r}"
    if check.json_field is not None:
        value = _json_path(answer.body, check.json_field)
        shown = value if isinstance(value, str) else json.dumps(value)
        if check.json_equals is not None and shown != check.json_equals:
            raise CheckFailed(f"{seen}, {check.json_field}={shown} (expected {check.json_equals})")
        seen += f", {check.json_field}={shown}"
    return seen


# -- the command -------------------------------------------------------------------


def report_text(report: SanityReport, results: Sequence[CheckResult] | None = None) -> str:
    """The report as plain text with an aligned table (for threads and logs)."""
    table = report.table() if results is None else results_table(results)
    return f"{report.headline()}\n```\n{table.as_text()}\n```"


@command("sanity")
async def sanity(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: the only or default one)")] = None,
) -> None:
    """Run the network's sanity checks and show a pass/fail table.

    Runs every configured check (pods, log spot checks, Prometheus queries, HTTP
    endpoints) concurrently and shows ✅ pass / ❌ fail / ⚠️ error with what was
    observed, failing rows first; values too long for the table (whole log lines)
    follow in the thread. The result is stored.
    """
    name, net = ctx.network(network)
    if not has_checks(net):
        raise CommandError(
            f"`{name}` has no sanity checks configured (add them under `networks.{name}.sanity`)."
        )
    report = await run_sanity(ctx.services, name, net)
    record(ctx.store, report, source=f"command:{ctx.actor_name}")
    details = report.details()
    headline = report.headline() + (" (full values in the thread)" if details else "")
    ref = await ctx.reply(headline, table=report.table())
    if details:
        await ctx.reply_in_thread(ref, details)
    if report.verdict != "pass":
        raise AlreadyReported(f"sanity verdict: {report.verdict}")


class GateChecks:
    """The sanity checks behind :data:`commands.common.SANITY_CHECKS`."""

    def has_checks(self, net: NetworkConfig) -> bool:
        """Whether the network declares any check."""
        return has_checks(net)

    async def run(
        self, services: Services, name: str, net: NetworkConfig, *, source: str
    ) -> CheckRound:
        """Run the checks once, record the result under ``source``, and summarise it."""
        report = await run_sanity(services, name, net)
        record(services.store, report, source=source)
        return CheckRound(report.verdict, report.counts(), report.problems(), report_text(report))
