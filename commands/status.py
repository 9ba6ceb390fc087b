"""``/testnet status``: the bot's health, and each network's workloads, freeze,
run in flight and last release."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from bot import __version__
from bot.config import NetworkConfig
from bot.context import Context
from bot.core import Table
from bot.errors import CommandError
from bot.registry import Help, command
from commands.common import kube_for
from commands.text import ago, duration
from integrations.kube_models import KubeError, same_repository, split_image

KUBE_TIMEOUT = 10.0


@command("status")
async def status(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("One network (default: all)")] = None,
) -> None:
    """Show each network's workloads, freeze, deploy in flight and last release,
    and the bot's own health."""
    names = [ctx.network(network)[0]] if network is not None else sorted(ctx.config.networks)
    for name in names:
        await _network(ctx, name, ctx.config.networks[name])
    await ctx.reply(_bot_health(ctx, show_networks=not names))


async def _network(ctx: Context, name: str, net: NetworkConfig) -> None:
    store = ctx.store
    now = ctx.services.clock()
    lines = [f"*{name}* (namespace `{net.namespace}`, image `{net.image}`)"]
    held = store.get_lock(name)
    lines.append(
        f"🔒 locked by {held.holder} {ago(held.since, now)}: {held.reason}"
        if held
        else "🔓 not locked"
    )
    active = store.active_exclusive_run(name)
    if active is not None:
        version = f" `{active.args['version']}`" if "version" in active.args else ""
        lines.append(
            f"⏳ {active.kind}{version} by {active.owner} since {ago(active.created_at, now)}"
            + (f" ({active.step})" if active.step else "")
        )
    release = next(
        (
            r
            for r in store.recent_runs(kinds=["deploy"], network=name, limit=50)
            if r.state == "succeeded"
        ),
        None,
    )
    if release is not None and release.finished_at is not None:
        lines.append(
            f"🏷️ last release `{release.args['version']}` by {release.owner}, "
            f"{ago(release.finished_at, now)}"
        )
    table = None
    if net.workloads:
        try:
            table = await asyncio.wait_for(_workloads(ctx, net), KUBE_TIMEOUT)
        except CommandError as exc:
            lines.append(f"⚠️ {exc.message}")
        except (KubeError, TimeoutError) as exc:
            lines.append(f"⚠️ cannot read Kubernetes: {exc or 'timed out'}")
    await ctx.reply("\n".join(lines), table=table)


async def _workloads(ctx: Context, net: NetworkConfig) -> Table:
    kube = await kube_for(ctx.services, net)
    now = datetime.now(UTC)
    rows = []
    for spec in net.workloads:
        for w in await kube.list_workloads(net.namespace, spec.selector, kinds=(spec.kind,)):
            pods = await kube.list_pods(net.namespace, w.label_selector)
            tags = sorted(
                {
                    split_image(c.image)[1] or c.image
                    for c in w.containers
                    if same_repository(c.image, net.image)
                }
            )
            oldest = min((p.created_at for p in pods if p.created_at), default=None)
            age = duration((now - oldest).total_seconds()) if oldest else "-"
            rows.append(
                (
                    f"{w.kind}/{w.name}",
                    ",".join(tags),
                    f"{w.ready_replicas}/{w.replicas}",
                    str(sum(p.restarts for p in pods)),
                    age,
                )
            )
    return Table(("workload", "image tag", "ready", "restarts", "oldest pod"), tuple(rows))


def _bot_health(ctx: Context, *, show_networks: bool) -> str:
    store = ctx.store
    now = ctx.services.clock()
    lines = [f"testnet-bot {__version__}, up {duration(now - ctx.services.started_at)}"]
    if show_networks:
        lines.append("Networks: none configured")
    runs = [r for r in store.unfinished_runs() if r.network not in ctx.config.networks]
    for run in runs:
        lines.append(f"In flight: {run.kind} by {run.owner}, started {ago(run.created_at, now)}")
    pending = dead = 0
    own = ctx.invocation.responder.destination  # this command's own replies are not news
    for (destination, state), n in store.outbox_counts(delivered=False).items():
        pending += n if state == "pending" and destination != own else 0
        dead += n if state == "dead" else 0
    health = "✅" if dead == 0 else "⚠️"
    lines.append(f"Outbox: {health} {pending} pending, {dead} dead")
    for item in store.dead_items(5):
        lines.append(f"  dead #{item.id} → {item.destination}: {item.last_error}")
    return "\n".join(lines)
