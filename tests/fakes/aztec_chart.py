"""A network on the Kubernetes fake shaped like the public aztec-network Helm chart.

What the chart renders, as far as the bot can see it:

- Every object is named ``<release>-aztec-network-<component>`` and carries the
  chart's common labels (``app.kubernetes.io/name``, ``app.kubernetes.io/instance``,
  ``helm.sh/chart``, ``app.kubernetes.io/managed-by``). The ``app=<component>`` label
  is on the pod template and in the workload's selector, not on the workload itself.
- StatefulSets: ``validator`` (``podManagementPolicy: Parallel``), ``boot-node`` and
  ``prover-node``; Deployments: ``prover-broker``, ``prover-agent``, ``pxe``, ``bot`` and
  the Ethereum node (``ethereum``, a reth image).
- Init containers run the aztec image too (waiting for services, writing env files);
  others run curl or kubectl.
- Services: headless ones for the StatefulSets, ClusterIP ones for the rest, and
  LoadBalancers ``ethereum-lb``, ``boot-node-lb-tcp``, ``boot-node-lb-udp`` and
  ``pxe-lb`` whose labels are the chart's common ones only.

    chart = load_aztec_network(fake, release="alpha", namespace="alpha-testnet")
    chart.name("validator")  # 'alpha-aztec-network-validator'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.fakes.kube_api import KubeFake
from tests.fakes.kube_controller import Obj

CHART = "aztec-network"
CHART_VERSION = "0.1.0"
AZTEC_IMAGE = "aztecprotocol/aztec"
CURL_IMAGE = "curlimages/curl:7.81.0"
KUBECTL_IMAGE = "bitnami/kubectl"
RETH_IMAGE = "ghcr.io/paradigmxyz/reth:v1.0.8"
NODE_PORT, P2P_PORT, PXE_PORT, ETHEREUM_PORT = 8080, 40400, 8081, 8545


@dataclass(frozen=True)
class ChartNetwork:
    """The release loaded on the fake: names, namespace and the aztec image it runs."""

    release: str
    namespace: str
    image: str

    @property
    def fullname(self) -> str:
        """The chart's name prefix: the release name alone if it contains the chart's."""
        return self.release if CHART in self.release else f"{self.release}-{CHART}"

    def name(self, component: str) -> str:
        """The object name of a component, e.g. ``alpha-aztec-network-validator``."""
        return f"{self.fullname}-{component}"

    @property
    def selector_labels(self) -> dict[str, str]:
        """The chart's selector labels (on pods and in every selector)."""
        return {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": self.release}

    @property
    def labels(self) -> dict[str, str]:
        """The chart's common labels (on every object it renders)."""
        return {
            **self.selector_labels,
            "helm.sh/chart": f"{CHART}-{CHART_VERSION}",
            "app.kubernetes.io/managed-by": "Helm",
        }


def _containers(images: Mapping[str, str], ports: Sequence[int] = ()) -> list[Obj]:
    return [
        {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            **({"ports": [{"containerPort": p} for p in ports]} if ports else {}),
        }
        for name, image in images.items()
    ]


def _workload(
    chart: ChartNetwork,
    component: str,
    *,
    replicas: int,
    containers: Mapping[str, str],
    init_containers: Mapping[str, str],
    stateful: bool,
    pod_management: str = "OrderedReady",
) -> Obj:
    pod_labels = {**chart.selector_labels, "app": component}
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(pod_labels)},
        "template": {
            "metadata": {"labels": dict(pod_labels)},
            "spec": {
                "initContainers": _containers(init_containers),
                "containers": _containers(containers, (NODE_PORT,)),
            },
        },
    }
    if stateful:
        spec.update(
            serviceName=chart.name(component),
            podManagementPolicy=pod_management,
            updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        )
    else:
        spec.update(
            progressDeadlineSeconds=600,
            strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
        )
    return {
        "metadata": {
            "name": chart.name(component),
            "namespace": chart.namespace,
            "labels": dict(chart.labels),
        },
        "spec": spec,
    }


def _service(
    chart: ChartNetwork,
    name: str,
    app: str,
    *,
    type_: str,
    ports: Sequence[tuple[int, str, str]],
    extra_labels: Mapping[str, str] | None = None,
    headless: bool = False,
) -> Obj:
    spec: Obj = {
        "type": type_,
        "clusterIP": "None" if headless else "",
        "selector": {**chart.selector_labels, "app": app},
        "ports": [
            {"name": n, "port": p, "protocol": proto, "targetPort": p} for p, proto, n in ports
        ],
    }
    return {
        "metadata": {
            "name": chart.name(name),
            "namespace": chart.namespace,
            "labels": {**chart.labels, **(extra_labels or {})},
        },
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def load_aztec_network(
    fake: KubeFake,
    *,
    release: str = "alpha",
    namespace: str = "alpha-testnet",
    version: str = "0.61.0",
    validators: int = 3,
    external: Mapping[str, str] | None = None,
) -> ChartNetwork:
    """Render the chart's objects for ``release`` into ``fake`` with every pod Ready.

    The aztec image runs at tag ``version`` (the chart's form: no ``v``). ``external``
    gives LoadBalancers their address (component → IP); by default all four have one.
    """
    image = f"{AZTEC_IMAGE}:{version}"
    chart = ChartNetwork(release, namespace, image)
    setup = {"setup-service-addresses": KUBECTL_IMAGE}
    p2p = {"setup-p2p-addresses": KUBECTL_IMAGE}
    stateful = [
        (
            "validator",
            validators,
            {"validator": image},
            {**p2p, **setup, "wait-for-services": image, "configure-validator-env": image},
            "Parallel",
        ),
        (
            "boot-node",
            1,
            {"boot-node": image},
            {"wait-for-ethereum": CURL_IMAGE, "deploy-contracts": image},
            "OrderedReady",
        ),
        (
            "prover-node",
            1,
            {"prover-node": image},
            {**setup, **p2p, "wait-for-services": image, "configure-prover-env": image},
            "OrderedReady",
        ),
    ]
    for component, replicas, containers, inits, policy in stateful:
        fake.cluster.bring_up(
            "statefulsets",
            _workload(
                chart,
                component,
                replicas=replicas,
                containers=containers,
                init_containers=inits,
                stateful=True,
                pod_management=policy,
            ),
        )
    deployments = [
        ("prover-broker", 1, {"prover-broker": image}, {**setup, "wait-for-prover-node": image}),
        ("prover-agent", 2, {"prover-agent": image}, {**setup, "wait-for-prover-node": image}),
        ("pxe", 1, {"pxe": image}, {**setup, "wait-for-boot-node": image}),
        ("bot", 1, {"transaction-bot": image}, {**setup, "wait-for-pxe": image}),
        ("ethereum", 1, {"ethereum": RETH_IMAGE}, {"prepare-genesis": "node:18-alpine"}),
    ]
    for component, replicas, containers, inits in deployments:
        fake.cluster.bring_up(
            "deployments",
            _workload(
                chart,
                component,
                replicas=replicas,
                containers=containers,
                init_containers=inits,
                stateful=False,
            ),
        )
    node_ports = [
        (P2P_PORT, "TCP", "p2p-tcp"),
        (P2P_PORT, "UDP", "p2p-udp"),
        (NODE_PORT, "TCP", "node"),
    ]
    services = [
        _service(
            chart, "validator", "validator", type_="ClusterIP", ports=node_ports, headless=True
        ),
        _service(
            chart, "boot-node", "boot-node", type_="ClusterIP", ports=node_ports, headless=True
        ),
        _service(
            chart,
            "prover-node",
            "prover-node",
            type_="ClusterIP",
            ports=node_ports,
            extra_labels={"app": "prover-node"},
        ),
        _service(
            chart,
            "prover-broker",
            "prover-broker",
            type_="ClusterIP",
            ports=[(8084, "TCP", "node")],
        ),
        _service(chart, "pxe", "pxe", type_="ClusterIP", ports=[(PXE_PORT, "TCP", "http")]),
        _service(
            chart, "ethereum", "ethereum", type_="ClusterIP", ports=[(ETHEREUM_PORT, "TCP", "rpc")]
        ),
        _service(
            chart,
            "ethereum-lb",
            "ethereum",
            type_="LoadBalancer",
            ports=[(ETHEREUM_PORT, "TCP", "rpc")],
        ),
        _service(
            chart,
            "boot-node-lb-tcp",
            "boot-node",
            type_="LoadBalancer",
            ports=[(P2P_PORT, "TCP", "p2p-tcp"), (NODE_PORT, "TCP", "node")],
        ),
        _service(
            chart,
            "boot-node-lb-udp",
            "boot-node",
            type_="LoadBalancer",
            ports=[(P2P_PORT, "UDP", "p2p-udp")],
        ),
        _service(chart, "pxe-lb", "pxe", type_="LoadBalancer", ports=[(PXE_PORT, "TCP", "http")]),
    ]
    for i, svc in enumerate(services):
        if svc["spec"]["clusterIP"] != "None":
            svc["spec"]["clusterIP"] = f"10.96.1.{10 + i}"
        fake.cluster.put("services", svc)
    addresses = (
        {
            "ethereum-lb": "34.1.2.3",
            "boot-node-lb-tcp": "34.1.2.4",
            "boot-node-lb-udp": "34.1.2.5",
            "pxe-lb": "34.1.2.6",
        }
        if external is None
        else external
    )
    for component, ip in addresses.items():
        fake.set_load_balancer_ingress(chart.name(component), namespace=namespace, ip=ip)
    return chart
