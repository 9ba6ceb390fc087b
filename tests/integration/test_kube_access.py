"""The Kubernetes access commands use: a clear message when it cannot be had, a
working client when it can, and a fixed kubeconfig picked up without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import KubeConfig
from bot.kube_access import KubeAccess, KubeNotConfigured
from tests.fakes.kube_api import KubeFake


async def test_a_configured_kubeconfig_that_is_missing_is_named_then_picked_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kubeconfig"
    access = KubeAccess(
        KubeConfig(kubeconfig=path), service_account=tmp_path / "no-service-account"
    )
    try:
        with pytest.raises(KubeNotConfigured) as refused:
            await access.client()
        assert f"no kubeconfig at {path} (`kubernetes.kubeconfig`)" in refused.value.message
        async with KubeFake() as fake:
            fake.write_kubeconfig(path)
            client = await access.client()  # nothing was cached by the failure
            assert await client.list_pods("default", None) == []
            assert await access.client() is client
    finally:
        await access.close()


async def test_an_unknown_context_is_named(tmp_path: Path) -> None:
    async with KubeFake() as fake:
        path = fake.write_kubeconfig(tmp_path / "kubeconfig")
        access = KubeAccess(KubeConfig(kubeconfig=path), service_account=tmp_path / "none")
        try:
            with pytest.raises(KubeNotConfigured, match="has no context `staging`"):
                await access.client("staging")
            assert await access.client("fake") is not None
        finally:
            await access.close()
