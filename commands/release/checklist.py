"""A release's checklist: the release workflow's run, the release notes, every expected
asset, npm package, Docker image tag and the docs page.

Every check runs at the same time as the others, each within ``release.check_timeout``,
so the checklist takes about as long as its slowest check, and a check that hangs shows
as timed out while every other row is still shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot.config import ReleaseConfig
from bot.context import Services
from bot.core import Table
from commands.release.tools import ReleaseTools, branch_name
from commands.versions import Version
from integrations.github_models import Release, WorkflowRun

State = Literal["ok", "pending", "missing", "failed", "error"]
ICONS: dict[State, str] = {
    "ok": "✅",
    "pending": "⏳",
    "missing": "❌",
    "failed": "❌",
    "error": "⚠️",
}

_ORDER: dict[State, int] = {"failed": 0, "missing": 1, "error": 2, "pending": 3, "ok": 4}


@dataclass(frozen=True)
class Row:
    """One line of the checklist."""

    state: State
    item: str
    detail: str


@dataclass(frozen=True)
class Checklist:
    """Every row, in a fixed order, and what they add up to."""

    version: str
    branch: str
    rows: tuple[Row, ...]

    @property
    def green(self) -> bool:
        """Everything is there."""
        return all(r.state == "ok" for r in self.rows)

    @property
    def failed(self) -> bool:
        """The release workflow failed: waiting longer will not make it green."""
        return any(r.state == "failed" for r in self.rows)

    def summary(self) -> str:
        """``12/14 ready`` and what is not."""
        ready = sum(1 for r in self.rows if r.state == "ok")
        return f"{ready}/{len(self.rows)} ready"

    def table(self) -> Table:
        """The rows as a table, those needing attention first."""
        rows = self.table_rows()
        attention = sum(1 for r in rows if r.state in {"failed", "missing", "error"})
        return Table(
            headers=("", "artifact", "detail"),
            rows=tuple((ICONS[r.state], r.item, r.detail) for r in rows),
            attention=attention,
        )

    def text(self, title: str) -> str:
        """The title and the rows as lines (for logs and platforms without tables)."""
        lines = [f"{title} — {self.summary()}"]
        lines += [f"{ICONS[r.state]} {r.item}: {r.detail}" for r in self.table_rows()]
        return "\n".join(lines)

    def table_rows(self) -> list[Row]:
        """The rows in the order :meth:`table` shows them."""
        return sorted(self.rows, key=lambda r: _ORDER[r.state])


Check = Callable[[], Awaitable[list[Row]]]


async def build_checklist(services: Services, kit: ReleaseTools, version: Version) -> Checklist:
    """Run every check of ``version`` concurrently (each bounded by the configured
    timeout) and return the checklist; it never raises for a check that fails."""
    config = services.config.release
    branch = branch_name(config, kit.repo_name, version)
    named: list[tuple[list[str], Check]] = [
        (["release workflow"], lambda: _workflow(kit, config, branch)),
        (["release notes", *config.assets], lambda: _release(kit, config, branch)),
    ]
    for package in config.npm_packages:
        named.append(([f"npm {package}"], _npm(kit, package, version.semver, config)))
    tag = config.docker_tag_template.format(version=version.text, semver=version.semver)
    for image in config.docker_images:
        named.append(([f"image {image}:{tag}"], _image(kit, image, tag)))
    if config.docs_url:
        url = config.docs_url.format(version=version.text, semver=version.semver)
        named.append((["docs"], _docs(kit, url, config)))
    results = await asyncio.gather(
        *(_bounded(items, check, config.check_timeout) for items, check in named)
    )
    rows = tuple(row for group in results for row in group)
    return Checklist(version=str(version), branch=branch, rows=rows)


async def _bounded(items: list[str], check: Check, timeout: float) -> list[Row]:
    """``check``'s rows, or one ⚠️ row per item when it times out or cannot answer."""
    try:
        async with asyncio.timeout(timeout):
            return await check()
    except TimeoutError:
        return [Row("error", item, f"no answer within {timeout:g}s") for item in items]
    except Exception as exc:  # one row's failure must not hide the others
        reason = str(exc) or type(exc).__name__
        return [Row("error", item, f"cannot check: {reason}") for item in items]


async def _workflow(kit: ReleaseTools, config: ReleaseConfig, branch: str) -> list[Row]:
    runs = await kit.github.list_workflow_runs(workflow=config.workflow, branch=branch, limit=1)
    if not runs:
        return [Row("pending", "release workflow", f"no run of {config.workflow} yet")]
    return [run_row(runs[0])]


def run_row(run: WorkflowRun) -> Row:
    """The checklist row of a workflow run."""
    where = f"run #{run.run_number} {run.html_url}"
    if run.status != "completed":
        shown = "running" if run.status == "in_progress" else run.status
        return Row("pending", "release workflow", f"{shown}: {where}")
    if run.conclusion == "success":
        return Row("ok", "release workflow", f"success: {where}")
    return Row("failed", "release workflow", f"{run.conclusion or 'failed'}: {where}")


async def _release(kit: ReleaseTools, config: ReleaseConfig, tag: str) -> list[Row]:
    release: Release | None = await kit.github.get_release_by_tag(tag)
    if release is None:
        return [Row("missing", "release notes", f"no GitHub release tagged `{tag}` yet")] + [
            Row("missing", name, "no release yet") for name in config.assets
        ]
    notes = (
        Row("ok", "release notes", release.html_url)
        if release.body.strip()
        else Row("missing", "release notes", f"the release has no notes: {release.html_url}")
    )
    uploaded = {a.name for a in release.assets if a.state == "uploaded"}
    assets = [
        Row("ok", name, "attached")
        if name in uploaded
        else Row("missing", name, f"not attached to {release.tag_name}")
        for name in config.assets
    ]
    return [notes, *assets]


def _npm(kit: ReleaseTools, package: str, version: str, config: ReleaseConfig) -> Check:
    async def check() -> list[Row]:
        found = await kit.packages.has_version(package, version, timeout=config.check_timeout)
        where = str(config.npm_registry).rstrip("/")
        if found:
            return [Row("ok", f"npm {package}", f"{version} published")]
        return [Row("missing", f"npm {package}", f"{version} not on {where}")]

    return check


def _image(kit: ReleaseTools, image: str, tag: str) -> Check:
    async def check() -> list[Row]:
        found = await kit.images.tag_exists(image, tag)
        if found:
            return [Row("ok", f"image {image}:{tag}", "pushed")]
        return [Row("missing", f"image {image}:{tag}", "no such tag")]

    return check


def _docs(kit: ReleaseTools, url: str, config: ReleaseConfig) -> Check:
    async def check() -> list[Row]:
        status = await kit.pages.status(url, timeout=config.check_timeout)
        if status == 200:
            return [Row("ok", "docs", url)]
        return [Row("missing", "docs", f"{url} answered {status}")]

    return check
