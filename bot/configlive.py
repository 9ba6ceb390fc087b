"""``testnet-bot config check --live``: the configuration held against the cluster.

For each network, every workload selector, sanity-check pod selector and
connection-info Service is looked up in the network's namespace; whatever matches
nothing is a problem (with the config line that names it). What does match is
listed, with the image tags the network's workloads run, so the tag form a deploy
must use (``0.61.0`` or ``v0.61.0``) can be read off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config import BotConfig, NetworkConfig
from bot.configfile import Path_, format_path
from bot.kube_access import KubeAccess
from commands.info import resolve_service
from integrations.kube import KubeClient, KubeError
from integrations.kube_models import same_repository, split_image


@dataclass(frozen=True)
class LiveFinding:
    """One thing looked up in the cluster: found (``ok``) or matching nothing."""

    path: str
    message: str
    ok: bool
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None and not self.ok else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.path}: {self.message}{where}"


@dataclass
class NetworkReport:
    """What the live check found for one network."""

    network: str
    namespace: str
    findings: list[LiveFinding] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[LiveFinding]:
        """The findings that matched nothing."""
        return [f for f in self.findings if not f.ok]

    def tag_form(self) -> str:
        """A sentence naming the tags the network's image runs with, and their form."""
        if not self.tags:
            return "no workload runs the network's image, so its tag form is unknown"
        forms = {
            "with a leading v" if t.startswith("v") else "without a leading v" for t in self.tags
        }
        form = " and ".join(sorted(forms))
        return f"the workloads run tag {', '.join(self.tags)} ({form})"

    def render(self) -> str:
        """The report as terminal lines."""
        lines = [f"{self.network} (namespace {self.namespace}):"]
        lines += [f"  {finding}" for finding in self.findings]
        lines.append(f"  tags: {self.tag_form()}")
        return "\n".join(lines)


LineOf = Callable[[Path_], int | None]
"""Where a config path is in the file (its line), if known."""


async def check_network(
    kube: KubeClient, name: str, net: NetworkConfig, line_of: LineOf
) -> NetworkReport:
    """Look up everything ``net`` names in its namespace; KubeError if the API fails."""
    report = NetworkReport(name, net.namespace)
    ns = net.namespace

    def add(path: Path_, message: str, ok: bool) -> None:
        report.findings.append(LiveFinding(format_path(path), message, ok, line_of(path)))

    tags: list[str] = []
    for i, spec in enumerate(net.workloads):
        path: Path_ = ("networks", name, "workloads", i, "selector")
        found = await kube.list_workloads(ns, spec.selector, kinds=(spec.kind,))
        if not found:
            add(path, f"no {spec.kind} in namespace {ns} matches {spec.selector}", False)
            continue
        for workload in found:
            images = [
                c.image
                for c in (*workload.containers, *workload.init_containers)
                if same_repository(c.image, net.image)
            ]
            for image in images:
                tag = split_image(image)[1]
                if tag and tag not in tags:
                    tags.append(tag)
            running = ", ".join(sorted(set(images))) or f"no container runs {net.image}"
            add(path, f"{spec.kind} {workload.name} ({workload.replicas} pods): {running}", True)
    report.tags = tags

    pod_selectors: list[tuple[Path_, str]] = []
    if net.sanity.pods is not None and net.sanity.pods.selector:
        pod_selectors.append(
            (("networks", name, "sanity", "pods", "selector"), net.sanity.pods.selector)
        )
    pod_selectors += [
        (("networks", name, "sanity", "logs", i, "selector"), check.selector)
        for i, check in enumerate(net.sanity.logs)
    ]
    for path, selector in pod_selectors:
        pods = await kube.list_pods(ns, selector)
        if pods:
            add(path, f"{len(pods)} pod(s) match {selector}", True)
        else:
            add(path, f"no pod in namespace {ns} matches {selector}", False)

    if net.connection_info:
        services = await kube.list_services(ns)
        for i, entry in enumerate(net.connection_info):
            path = ("networks", name, "connection_info", i)
            match = resolve_service(entry, services)
            svc = match.service
            if svc is None:
                add(path, f"{entry.name}: {match.problem} in namespace {ns}", False)
            elif not any(p.port == entry.port and p.protocol == entry.protocol for p in svc.ports):
                add(
                    path,
                    f"{entry.name}: {svc.name} exposes no {entry.protocol} port {entry.port}",
                    False,
                )
            else:
                add(
                    path,
                    f"{entry.name}: Service {svc.name} ({svc.type}) {entry.protocol} {entry.port}",
                    True,
                )
    return report


async def check_live(config: BotConfig, line_of: LineOf) -> list[NetworkReport]:
    """A report per network; a network whose cluster cannot be reached gets one
    problem saying so (the others are still checked)."""
    reports: list[NetworkReport] = []
    access = KubeAccess(config.kubernetes)
    try:
        for name, net in config.networks.items():
            try:
                kube = await access.client(net.kube_context)
                reports.append(await check_network(kube, name, net, line_of))
            except KubeError as exc:
                report = NetworkReport(name, net.namespace)
                path: Path_ = ("networks", name)
                report.findings.append(
                    LiveFinding(format_path(path), f"cannot check: {exc}", False, line_of(path))
                )
                reports.append(report)
    finally:
        await access.close()
    return reports
