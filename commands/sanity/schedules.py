"""Scheduled health: ``/testnet schedule sanity``, ``/testnet schedules``,
``/testnet unschedule``.

Schedules live in our own SQLite table and are registered with the bot's apscheduler
``AsyncIOScheduler`` at start-up (no pickled jobs, no SQLAlchemy job store). A
scheduled run stores its result and posts only when the verdict changes (the first
run always posts), plus an optional digest; it posts to the channel the schedule was
created from, or logs when that was a terminal.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Protocol

from bot.context import Context, ServiceKey, Services
from bot.core import Table
from bot.errors import CommandError
from bot.markup import ChannelRef
from bot.registry import Help, Rest, command
from bot.responder import OutboxResponder
from commands.sanity.commands import ICONS, SanityReport, has_checks, record, run_sanity
from commands.text import duration
from state.sanity import Schedule

log = logging.getLogger("testnet_bot.schedules")
JOB_PREFIX = "sanity-schedule:"


_UNIT_WORDS = {
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_SPOKEN = re.compile(r"^(\d+(?:\.\d+)?)?\s*([a-z]+)$")
_ADVERBS = {"hourly": 3600.0, "daily": 86400.0}


class Interval(float):
    """How often a schedule runs: ``15m``, ``every 15m``, ``15 minutes``,
    ``every 15 minutes``, ``every hour``, ``hourly``."""

    @classmethod
    def parse(cls, text: str) -> Interval:
        """``every 15 minutes`` → 900.0 seconds; ValueError with a hint otherwise."""
        spoken = " ".join(text.lower().split())
        spoken = spoken.removeprefix("every ").strip()
        if spoken in _ADVERBS:
            return cls(_ADVERBS[spoken])
        match = _SPOKEN.match(spoken)
        if match is None or match.group(2) not in _UNIT_WORDS:
            raise ValueError(
                f"not an interval: {text!r} (use e.g. `every 15m` or `every 15 minutes`)"
            )
        number, unit = match.groups()
        seconds = float(number or 1) * _UNIT_WORDS[unit]
        if seconds <= 0:
            raise ValueError("the interval must be longer than zero")
        return cls(seconds)


class SchedulerPort(Protocol):
    """What this module needs of apscheduler's ``AsyncIOScheduler``."""

    def add_job(self, func: Any, trigger: str, **kwargs: Any) -> Any: ...

    def remove_job(self, job_id: str) -> None: ...

    def get_job(self, job_id: str) -> Any: ...


SCHEDULER: ServiceKey[SchedulerPort] = ServiceKey(
    "scheduler", "This bot has no scheduler running (a one-off `exec` runs none)."
)
"""The scheduler sanity schedules run on."""


def _scheduler(services: Services) -> SchedulerPort:
    return services.need(SCHEDULER)


def register(services: Services, schedule: Schedule) -> None:
    """Add (or replace) the scheduler job of ``schedule``."""
    _scheduler(services).add_job(
        _tick,
        "interval",
        seconds=schedule.interval,
        id=f"{JOB_PREFIX}{schedule.id}",
        args=[services, schedule.id],
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )


def restore_schedules(services: Services) -> int:
    """Register every stored schedule (at start-up); return how many."""
    schedules = services.store.sanity.schedules()
    for schedule in schedules:
        register(services, schedule)
    if schedules:
        log.info(
            "sanity schedules registered: %d",
            len(schedules),
            extra={"event": "schedules_restored", "count": len(schedules)},
        )
    return len(schedules)


async def _tick(services: Services, schedule_id: int) -> None:
    """The scheduler's job: start the run as a supervised task unless one is running."""
    name = f"{JOB_PREFIX}{schedule_id}"
    if name in services.supervisor.running:
        log.info("schedule %s: previous run still going; skipped", schedule_id)
        return
    try:
        services.supervisor.spawn(name, run_scheduled(services, schedule_id))
    except RuntimeError:
        pass  # shutting down


def _every(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else duration(seconds)


def where(destination: str) -> str:
    """Where a schedule reports, in words: a channel reference, or the bot's log."""
    return "the bot's log" if _logs_only(destination) else str(ChannelRef(destination))


def _logs_only(destination: str) -> bool:
    return not destination or destination.startswith("shell")


async def _post(services: Services, schedule: Schedule, text: str, table: Table | None) -> None:
    if _logs_only(schedule.destination):
        body = text if table is None else f"{text}\n{table.as_text()}"
        log.info(
            "schedule %s: %s",
            schedule.id,
            body,
            extra={"event": "scheduled_sanity_post", "schedule": schedule.id},
        )
        return
    await OutboxResponder(services.outbox, schedule.destination).reply(text, table=table)


async def run_scheduled(services: Services, schedule_id: int) -> SanityReport | None:
    """One scheduled run: check, store, post on a verdict change, post the digest when due."""
    store = services.store
    schedule = store.sanity.schedule(schedule_id)
    if schedule is None:
        return None
    net = services.config.networks.get(schedule.network)
    if net is None or not has_checks(net):
        log.warning(
            "schedule %s: network %s is gone or has no checks",
            schedule.id,
            schedule.network,
            extra={"event": "schedule_orphaned"},
        )
        return None
    report = await run_sanity(services, schedule.network, net)
    record(store, report, source=f"schedule:{schedule.id}")
    now = services.clock()
    store.sanity.schedule_ran(schedule.id, report.verdict, now)
    every = _every(schedule.interval)
    if schedule.last_verdict is None:
        await _post(
            services,
            schedule,
            f"{report.headline()}\n(schedule #{schedule.id}, every {every}: "
            "I post again only when the verdict changes)",
            report.table(),
        )
    elif schedule.last_verdict != report.verdict:
        was = f"{ICONS.get(schedule.last_verdict, '')} {schedule.last_verdict}".strip()
        await _post(
            services,
            schedule,
            f"{ICONS[report.verdict]} `{schedule.network}` went from {was} to "
            f"{report.verdict}: {report.counts()} (schedule #{schedule.id})",
            report.table(),
        )
    if schedule.digest and now - schedule.last_digest_at >= net.sanity.digest_every:
        counts = store.sanity.verdict_counts(f"schedule:{schedule.id}", schedule.last_digest_at)
        total = sum(counts.values())
        await _post(
            services,
            schedule,
            f"📋 Sanity digest of `{schedule.network}` over the last "
            f"{duration(now - schedule.last_digest_at)}: {total} runs, "
            f"✅ {counts.get('pass', 0)} passed, ❌ {counts.get('fail', 0)} failed, "
            f"⚠️ {counts.get('error', 0)} with errors; now {ICONS[report.verdict]}",
            None,
        )
        store.sanity.digest_sent(schedule.id, now)
    return report


@command("schedule sanity", permission="deploy")
async def schedule_sanity(
    ctx: Context,
    *,
    network: Annotated[str, Help("Network to check")],
    interval: Annotated[Interval, Rest, Help("How often, e.g. `every 15m`")],
    digest: Annotated[bool, Help("Also post a daily digest")] = False,
) -> None:
    """Run a network's sanity checks on a schedule; post here when the verdict changes.

    The first run posts its table; later runs post only when the verdict changes
    (pass → fail, fail → pass). With --digest a summary is posted once a day.
    """
    name, net = ctx.network(network)
    if not has_checks(net):
        raise CommandError(
            f"`{name}` has no sanity checks configured (add them under `networks.{name}.sanity`)."
        )
    if interval < net.sanity.min_interval:
        raise CommandError(
            f"`every {_every(interval)}` is too often: the shortest interval for `{name}` "
            f"is {_every(net.sanity.min_interval)} (networks.{name}.sanity.min_interval)."
        )
    _scheduler(ctx.services)
    destination = ctx.invocation.responder.destination
    schedule = ctx.store.sanity.add_schedule(
        network=name,
        interval=float(interval),
        destination=destination,
        created_by=ctx.actor_name,
        digest=digest,
    )
    register(ctx.services, schedule)
    await ctx.reply(
        f"🗓️ Schedule #{schedule.id}: sanity of `{name}` every {_every(interval)}, "
        f"reporting to {where(destination)} when the verdict changes"
        + (" and with a daily digest" if digest else "")
        + f". `/testnet unschedule {schedule.id}` stops it."
    )


@command("schedules")
async def schedules(ctx: Context) -> None:
    """List the sanity schedules and each one's last verdict."""
    rows = ctx.store.sanity.schedules()
    if not rows:
        await ctx.reply("No sanity schedules. `/testnet schedule sanity <network> every 15m`.")
        return
    table = Table(
        ("id", "network", "every", "reports to", "last", "by"),
        tuple(
            (
                str(s.id),
                s.network,
                _every(s.interval),
                where(s.destination),
                ICONS.get(s.last_verdict or "", "·"),
                s.created_by,
            )
            for s in rows
        ),
    )
    await ctx.reply(f"{len(rows)} sanity schedule(s):", table=table)


@command("unschedule", permission="deploy")
async def unschedule(
    ctx: Context, *, schedule_id: Annotated[int, Help("Schedule id from /testnet schedules")]
) -> None:
    """Stop a sanity schedule."""
    removed = ctx.store.sanity.remove_schedule(schedule_id)
    if removed is None:
        raise CommandError(f"There is no schedule #{schedule_id} (see `/testnet schedules`).")
    scheduler = _scheduler(ctx.services)
    if scheduler.get_job(f"{JOB_PREFIX}{schedule_id}") is not None:
        scheduler.remove_job(f"{JOB_PREFIX}{schedule_id}")
    await ctx.reply(f"🗓️ Schedule #{schedule_id} (sanity of `{removed.network}`) stopped.")
