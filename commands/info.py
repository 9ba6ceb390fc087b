"""``/testnet info``: the release runbook's network connection info, read from the cluster.

The running image and, per configured entry, a Service's external address (its
LoadBalancer ingress IP or hostname) with the port and protocol. A LoadBalancer
still waiting for its address is shown as pending, not as an error. ``--post``
publishes to the network's connection-info channel; later posts (and deploys) edit
that same message instead of posting again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from bot.config import BotConfig, ConnectionEntry, NetworkConfig
from bot.context import Context, Services
from bot.core import Table
from bot.errors import CommandError
from bot.registry import Help, command
from bot.responder import table_payload
from commands.common import kube_for
from integrations.kube_models import KubeError, Service, same_repository, selector_matches

if TYPE_CHECKING:
    from integrations.kube import KubeClient


@dataclass(frozen=True)
class InfoLine:
    """One variable of the connection info."""

    name: str
    value: str
    note: str = ""
    pending: bool = False
    missing: bool = False


async def _running_image(kube: KubeClient, net: NetworkConfig) -> str | None:
    for spec in net.workloads:
        for workload in await kube.list_workloads(net.namespace, spec.selector, kinds=(spec.kind,)):
            for container in workload.containers:
                if same_repository(container.image, net.image):
                    return container.image
    return None


def _exposes_port(entry: ConnectionEntry) -> Callable[[Service], bool]:
    def exposes(svc: Service) -> bool:
        return any(p.port == entry.port and p.protocol == entry.protocol for p in svc.ports)

    return exposes


def _reachable(svc: Service) -> bool:
    return svc.type in ("LoadBalancer", "NodePort")


@dataclass(frozen=True)
class ServiceMatch:
    """What a connection-info entry found: its Service, or why there is none."""

    service: Service | None
    problem: str = ""


def resolve_service(entry: ConnectionEntry, services: Sequence[Service]) -> ServiceMatch:
    """The one Service of ``services`` that ``entry`` names (by exact name, by name
    suffix after a dash, or by label selector).

    When several match, those exposing the entry's port and protocol win, then those
    reachable from outside (LoadBalancer, NodePort); if that still leaves more than
    one, the entry is ambiguous and the problem names them.
    """
    if entry.service:
        found = [s for s in services if s.name == entry.service]
    elif entry.service_suffix:
        suffix = entry.service_suffix
        found = [s for s in services if s.name == suffix or s.name.endswith(f"-{suffix}")]
    else:
        found = [s for s in services if selector_matches(entry.service_selector, s.labels)]
    if not found:
        return ServiceMatch(None, f"no Service {entry.lookup}")
    for preferred in (_exposes_port(entry), _reachable):
        kept = [s for s in found if preferred(s)]
        if len(found) > 1 and kept:
            found = kept
    if len(found) > 1:
        names = ", ".join(f"`{s.name}`" for s in found)
        return ServiceMatch(
            None, f"{len(found)} Services match ({names}): name one with `service:`"
        )
    return ServiceMatch(found[0])


async def gather_info(services: Services, net: NetworkConfig) -> list[InfoLine]:
    """The image and every configured entry, read from Kubernetes now."""
    kube = await kube_for(services, net)
    try:
        image = await _running_image(kube, net)
        in_namespace = await kube.list_services(net.namespace)
    except KubeError as exc:
        raise CommandError(f"Cannot read the connection info: {exc}") from None
    lines = [
        InfoLine(net.info.image_name, image)
        if image
        else InfoLine(net.info.image_name, "?", f"no workload runs {net.image}", missing=True)
    ]
    for entry in net.connection_info:
        match = resolve_service(entry, in_namespace)
        svc = match.service
        if svc is None:
            lines.append(InfoLine(entry.name, "?", match.problem, missing=True))
            continue
        port = next(
            (p for p in svc.ports if p.port == entry.port and p.protocol == entry.protocol), None
        )
        note = "" if port else f"`{svc.name}` exposes no {entry.protocol} port {entry.port}"
        if svc.pending:
            lines.append(
                InfoLine(
                    entry.name,
                    "⏳ pending",
                    f"`{svc.name}` has no external address yet",
                    pending=True,
                )
            )
        elif not svc.external_addresses:
            lines.append(
                InfoLine(
                    entry.name,
                    "?",
                    f"`{svc.name}` is a {svc.type} Service with no external address",
                    missing=True,
                )
            )
        else:
            value = f"{svc.external_addresses[0]}:{entry.port}"
            lines.append(
                InfoLine(f"{entry.name}", value, note or entry.protocol, missing=bool(note))
            )
    return lines


def render_info(network: str, lines: list[InfoLine]) -> str:
    """The message: a copy-pasteable block of ``NAME value`` lines, with notes."""
    width = max(len(line.name) for line in lines)
    body = "\n".join(
        f"{line.name.ljust(width)}  {line.value}"
        + (f"  ({line.note})" if line.note and line.note not in ("TCP",) else "")
        for line in lines
    )
    return f"📡 Connection info for `{network}`:\n```\n{body}\n```"


def info_destinations(config: BotConfig, net: NetworkConfig) -> list[str]:
    """Where ``--post`` publishes: the Slack channel's and the Discord channel's
    destinations, each only when configured (Discord's default channel is the one
    named ``connection_info`` in ``chat.discord.channels``)."""
    found: list[str] = []
    if net.info.slack_channel is not None and config.chat.slack is not None:
        found.append(config.chat.slack.destination(net.info.slack_channel))
    discord = config.chat.discord
    if discord is not None:
        name = net.info.discord_channel or "connection_info"
        dest = discord.destination(name)
        if dest is None and name.isdigit():
            dest = f"{discord.platform}:{name}"
        if dest is not None:
            found.append(dest)
    return found


def info_table(lines: list[InfoLine]) -> Table:
    """The info as a two-column table (an embed in Discord)."""
    rows = tuple(
        (line.name, line.value + (f" ({line.note})" if line.note and line.note != "TCP" else ""))
        for line in lines
    )
    return Table(("Variable", "Value"), rows)


def publish_info(
    services: Services,
    network: str,
    destination: str,
    text: str,
    table: Table | None = None,
) -> str:
    """Post the info to ``destination``, or edit the message posted there before
    (Discord destinations get ``table`` as an embed under the first line of ``text``).

    Returns ``posted``, ``edited`` or ``unchanged``.
    """
    repo = services.store.sanity
    payload: dict[str, Any] = {"text": text}
    if table is not None and destination.startswith("discord:"):
        payload = {"text": text.split("\n", 1)[0], "table": table_payload(table)}
    earlier = repo.info_post(network, destination)
    if earlier is not None and not services.store.message_alive(earlier.message_key):
        earlier = None  # the first post was refused for good: post afresh
    if earlier is not None and earlier.text == text:
        return "unchanged"
    if earlier is not None:
        services.outbox.enqueue(destination, "update", payload, message_key=earlier.message_key)
        repo.save_info_post(network, destination, earlier.message_key, text)
        return "edited"
    key = services.outbox.post(destination, payload)
    repo.save_info_post(network, destination, key, text)
    return "posted"


async def refresh_after_deploy(services: Services, network: str, net: NetworkConfig) -> str | None:
    """After a deploy: publish the info when every address exists; return a note for
    the deploy's thread (None when no channel is configured)."""
    destinations = info_destinations(services.config, net)
    if not destinations or not net.connection_info:
        return None
    try:
        lines = await gather_info(services, net)
    except CommandError as exc:
        return f"📡 Connection info not posted: {exc}"
    waiting = [line for line in lines if line.pending or line.missing]
    if waiting:
        names = ", ".join(f"{line.name} ({line.note})" for line in waiting)
        return f"📡 Connection info not posted yet: {names}. `/testnet info {network} --post`."
    text = render_info(network, lines)
    table = info_table(lines)
    done = [f"{publish_info(services, network, d, text, table)} in {d}" for d in destinations]
    return f"📡 Connection info {'; '.join(done)}."


@command("info")
async def info(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: the only or default one)")] = None,
    post: Annotated[bool, Help("Publish to the network's connection-info channel")] = False,
) -> None:
    """Show a network's connection info (image, external addresses and ports).

    Reads the configured Services (LoadBalancer IP or hostname, port, TCP/UDP) and the
    running image. With --post, publishes it to the configured channel, editing the
    message posted there before rather than posting again.
    """
    name, net = ctx.network(network)
    if not net.connection_info:
        raise CommandError(
            f"`{name}` has no connection info configured (`networks.{name}.connection_info`)."
        )
    destinations: list[str] = []
    if post:
        ctx.services.permissions.require(ctx.invocation.actor, "deploy", "info --post")
        destinations = info_destinations(ctx.config, net)
        if not destinations:
            raise CommandError(
                f"No channel to post to: set `networks.{name}.info.slack_channel` with "
                "`chat.slack`, or `chat.discord.channels.connection_info` (or "
                f"`networks.{name}.info.discord_channel`) with `chat.discord`."
            )
    lines = await gather_info(ctx.services, net)
    text = render_info(name, lines)
    if not destinations:
        await ctx.reply(text)
        return
    waiting = [line for line in lines if line.pending or line.missing]
    if waiting:
        names = ", ".join(line.name for line in waiting)
        raise CommandError(f"{text}\nNot posted: {names} not ready yet; try again later.")
    table = info_table(lines)
    done = [
        f"{publish_info(ctx.services, name, d, text, table).capitalize()} in {d}"
        for d in destinations
    ]
    await ctx.reply(f"{text}\n{'; '.join(done)}.")
