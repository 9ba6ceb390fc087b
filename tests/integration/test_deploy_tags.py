"""Which tag a deploy rolls and the registry check before it: versions typed with or
without a ``v`` roll the form the network runs, a change of form is a warning, a tag
missing from its registry is refused before any patch, and a registry that cannot be
asked refuses unless ``--skip-image-check``. Kubernetes fake + registry fake, through
the real clients and the shell adapter."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.configfile import parse_config
from tests.fakes.docker_registry import DockerRegistryFake
from tests.fakes.kube_api import KubeFake
from tests.harness import ShellBot, make_config
from tests.integration.kube_harness import IMAGE, NAMESPACE, SIDECAR, images, network_config

MANIFESTS = f"/v2/{IMAGE}/manifests"


def patches(fake: KubeFake) -> int:
    return sum(r.method == "PATCH" for r in fake.requests)


def build(fake: KubeFake, tag: str) -> None:
    """A small network whose aztec containers all run ``IMAGE:tag``."""
    image = f"{IMAGE}:{tag}"
    fake.add_statefulset(
        "validator",
        namespace=NAMESPACE,
        replicas=2,
        containers={"aztec": image, "fluent-bit": SIDECAR},
        labels={"app": "validator"},
    )
    fake.add_deployment(
        "prover",
        namespace=NAMESPACE,
        replicas=1,
        containers={"aztec": image},
        labels={"app": "prover"},
    )
    fake.add_deployment(
        "bot",
        namespace=NAMESPACE,
        replicas=1,
        containers={"aztec": image},
        labels={"app": "bot"},
    )


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def running_network(
    tmp_path: Path,
    *,
    running: str = "0.61.0",
    published: tuple[str, ...] = ("0.61.0", "0.62.0"),
    registry: dict[str, Any] | None = None,
    **net: Any,
) -> AsyncIterator[tuple[ShellBot, KubeFake, DockerRegistryFake]]:
    async with DockerRegistryFake() as hub, KubeFake(ready_delay=0.005) as fake:
        hub.add_image(IMAGE, *published)
        build(fake, running)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        net["registry"] = registry if registry is not None else {"url": hub.url}
        config = make_config(tmp_path, **network_config(kubeconfig, **net))
        async with ShellBot(config) as bot:
            yield bot, fake, hub


def aztec_images(fake: KubeFake) -> set[str]:
    return {
        images(fake, kind, name)["aztec"]
        for kind, name in [
            ("StatefulSet", "validator"),
            ("Deployment", "prover"),
            ("Deployment", "bot"),
        ]
    }


@pytest.mark.parametrize("typed", ["0.62.0", "v0.62.0"])
async def test_with_or_without_v_the_deploy_rolls_the_tag_form_the_network_runs(
    tmp_path: Path, typed: str
) -> None:
    async with running_network(tmp_path) as (bot, fake, hub):
        out = await bot.say(f"/testnet deploy {typed}", answer="y")
        assert f"`{IMAGE}:0.61.0` → `{IMAGE}:0.62.0`" in out
        assert "tag form changes" not in out
        assert "✅ Deployed `v0.62.0` to `alpha`" in out
        assert aztec_images(fake) == {f"{IMAGE}:0.62.0"}
        assert images(fake, "StatefulSet", "validator")["fluent-bit"] == SIDECAR
        (run,) = bot.store.recent_runs(kinds=["deploy"])
        assert run.args["version"] == "v0.62.0" and run.args["tag"] == "0.62.0"
        assert hub.count("HEAD", f"{MANIFESTS}/0.62.0") >= 1
        assert hub.count("HEAD", f"{MANIFESTS}/v0.62.0") == 0
        history = await bot.say("/testnet history")
        assert "0.61.0 → 0.62.0" in history and "v0.62.0" not in history.split("→")[-1]


async def test_a_network_running_v_tags_keeps_them(tmp_path: Path) -> None:
    async with running_network(tmp_path, running="v0.61.0", published=("v0.62.0",)) as (
        bot,
        fake,
        _,
    ):
        out = await bot.say("/testnet deploy 0.62.0", answer="y")
        assert "✅ Deployed `v0.62.0`" in out and "tag form changes" not in out
        assert aztec_images(fake) == {f"{IMAGE}:v0.62.0"}


async def test_a_pre_release_is_deployable(tmp_path: Path) -> None:
    async with running_network(tmp_path, published=("2.2.0-rc1",)) as (bot, fake, _):
        out = await bot.say("/testnet deploy v2.2.0-rc1", answer="y")
        assert "✅ Deployed `v2.2.0-rc1`" in out
        assert aztec_images(fake) == {f"{IMAGE}:2.2.0-rc1"}


async def test_an_explicit_template_that_changes_the_form_is_a_warning_in_the_plan(
    tmp_path: Path,
) -> None:
    async with running_network(tmp_path, published=("v0.62.0",), tag_template="{version}") as (
        bot,
        fake,
        _,
    ):
        out = await bot.say("/testnet deploy 0.62.0 --dry-run")
        assert f"`{IMAGE}:0.61.0` → `{IMAGE}:v0.62.0`" in out
        assert "⚠️ The tag form changes: `0.61.0` → `v0.62.0`" in out
        assert "dry run: nothing was changed" in out and patches(fake) == 0


async def test_a_tag_missing_from_the_registry_is_refused_before_any_patch(
    tmp_path: Path,
) -> None:
    async with running_network(tmp_path) as (bot, fake, hub):
        out = await bot.say("/testnet deploy 0.63.0")
        assert f"the image `{IMAGE}:0.63.0` does not exist in {hub.url}" in out
        assert bot.console.prompts == []  # never asked for approval
        assert patches(fake) == 0 and bot.store.recent_runs() == []
        assert hub.count("HEAD", f"{MANIFESTS}/0.63.0") == 2  # challenged, then with a token
        out = await bot.say("/testnet deploy 0.62.0", answer="y")  # the good case
        assert "✅ Deployed" in out and patches(fake) > 0


async def test_an_unreachable_registry_refuses_unless_the_check_is_skipped(
    tmp_path: Path,
) -> None:
    down = {"url": closed_port_url(), "timeout": "5s"}
    async with running_network(tmp_path, registry=down) as (bot, fake, _):
        out = await bot.say("/testnet deploy 0.62.0 --canary")
        assert "⚠️ Could not check that `aztecprotocol/aztec:0.62.0` exists" in out
        assert "/testnet deploy v0.62.0 --canary --skip-image-check" in out
        assert bot.console.prompts == [] and patches(fake) == 0
        assert bot.store.recent_runs() == []
        out = await bot.say("/testnet deploy 0.62.0 --skip-image-check", answer="y")
        assert "⚠️ Image check skipped (--skip-image-check)" in out
        assert "✅ Deployed `v0.62.0`" in out
        assert aztec_images(fake) == {f"{IMAGE}:0.62.0"}


async def test_a_failing_registry_is_a_warning_not_a_missing_tag(tmp_path: Path) -> None:
    async with running_network(tmp_path) as (bot, fake, hub):
        hub.fail_status = 503
        out = await bot.say("/testnet deploy 0.62.0")
        assert "Could not check" in out and "answered 503" in out and "does not exist" not in out
        assert patches(fake) == 0


@pytest.mark.parametrize(
    "version", ["v0.62", "0.62", "vv0.62.0", "0.62.0-", "V0.62.0", "v0.62.0;rm -rf /", "x" * 200]
)
async def test_malformed_versions_are_refused_before_any_request(
    tmp_path: Path, version: str
) -> None:
    async with running_network(tmp_path) as (bot, fake, hub):
        out = await bot.say(f"/testnet deploy {version}")
        assert "is not a release version" in out or "Unexpected argument" in out
        assert patches(fake) == 0 and hub.requests == []


async def test_a_sha_template_needs_the_commit_and_rolls_it(tmp_path: Path) -> None:
    """``${SEMVER}-${SHORT_SHA}`` tags: the form is derived from what runs."""
    async with running_network(
        tmp_path, running="v0.5.0-a1b2c3d", published=("v0.6.0-0f1e2d3",)
    ) as (
        bot,
        fake,
        _,
    ):
        out = await bot.say("/testnet deploy v0.6.0")
        assert "give the version with its short sha, e.g. `v0.6.0-a1b2c3d`" in out
        assert patches(fake) == 0
        out = await bot.say("/testnet deploy v0.6.0-0f1e2d3", answer="y")
        assert "✅ Deployed `v0.6.0-0f1e2d3`" in out
        assert aztec_images(fake) == {f"{IMAGE}:v0.6.0-0f1e2d3"}


async def test_a_private_registry_uses_the_password_from_the_environment(
    tmp_path: Path,
) -> None:
    async with DockerRegistryFake() as hub, KubeFake(ready_delay=0.005) as fake:
        hub.add_image(IMAGE, "0.62.0", private=True)
        hub.users["deployer"] = "hunter2-token"
        build(fake, "0.61.0")
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        registry = {"url": hub.url, "username": "deployer", "password": "${REGISTRY_PASSWORD}"}
        data = network_config(kubeconfig, registry=registry)
        data.update({"state": {"path": str(tmp_path / "bot.db")}, "http": {"port": 0}})
        text = yaml.safe_dump(data)
        wrong = parse_config(text, source="t.yaml", env={"REGISTRY_PASSWORD": "guess"})
        async with ShellBot(wrong) as bot:
            out = await bot.say("/testnet deploy 0.62.0")
            assert "refused the credentials" in out and patches(fake) == 0
            assert "guess" not in out
        right = parse_config(text, source="t.yaml", env={"REGISTRY_PASSWORD": "hunter2-token"})
        assert "hunter2-token" not in repr(right)
        async with ShellBot(right) as bot:
            out = await bot.say("/testnet deploy 0.62.0", answer="y")
            assert "✅ Deployed `v0.62.0`" in out
            assert aztec_images(fake) == {f"{IMAGE}:0.62.0"}
