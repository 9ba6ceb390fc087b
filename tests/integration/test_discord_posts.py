"""What the bot posts to Discord channels on its own: connection info (posted once,
then edited) and the redacted public status of incidents (edited as they resolve)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.fakes.alert_payloads import alert, body
from tests.fakes.discord_api import ALICE, DEVREL, GENERAL
from tests.fakes.kube_api import KubeFake
from tests.integration.discord_harness import discord_bot
from tests.integration.kube_harness import NAMESPACE, build_testnet, network_config
from tests.integration.sanity_harness import CONNECTION_INFO, add_connection_services

ROLES = {"roles": {"admin": {"discord_roles": [DEVREL]}}}


async def test_info_post_is_an_embed_posted_once_then_edited(tmp_path: Path) -> None:
    async with KubeFake() as kube:
        build_testnet(kube, validators=1)
        add_connection_services(kube)
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        config = {**network_config(kubeconfig, connection_info=CONNECTION_INFO), **ROLES}
        async with discord_bot(tmp_path, **config) as db:
            denied = await db.command("info", {"network": "alpha", "post": True}, user=ALICE, roles=[])
            await db.fake.wait_until(lambda: bool(denied.followups))
            assert "`deploy` permission" in denied.followups[0].content

            first = await db.command("info", {"network": "alpha", "post": True}, user=ALICE, roles=[DEVREL])
            await db.answered(first)
            assert await db.bot.services.outbox.wait_delivered(timeout=10)
            [posted] = [m for m in db.fake.messages(GENERAL) if m.interaction_id is None and m.webhook_id is None]
            [embed] = posted.embeds
            values = {f["name"]: f["value"] for f in embed["fields"]}
            assert values["ETHEREUM_HOST"] == "34.1.2.3:8545"
            assert "Connection info for `alpha`" in posted.content

            kube.set_load_balancer_ingress("ethereum-lb", namespace=NAMESPACE, ip="34.9.9.9")
            again = await db.command("info", {"network": "alpha", "post": True}, user=ALICE, roles=[DEVREL])
            reply = await db.answered(again)
            assert "Edited in discord:" in reply.content
            await db.fake.wait_until(
                lambda: {f["name"]: f["value"] for f in posted.embeds[0]["fields"]}["ETHEREUM_HOST"] == "34.9.9.9:8545"
            )
            assert [m.id for m in db.fake.messages(GENERAL) if m.webhook_id is None] == [posted.id]


async def test_a_public_incident_status_is_posted_once_and_edited_when_resolved(tmp_path: Path) -> None:
    token = "am-token"
    row = {"event": "Block production stalled", "matchers": ['alertname="BlockStall"'],
           "action": "page", "criticality": "Blocker", "public": True}
    labels = {"alertname": "BlockStall", "network": "alpha", "instance": "validator-0.internal:8080"}
    config = {"alertmanager": {"bearer_token": token}, "resolution_matrix": [row]}
    async with discord_bot(tmp_path, serve_http=True, **config) as db, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"{db.bot.url}/hooks/alertmanager"
        async with http.post(url, data=body([alert(labels)]), headers=headers) as resp:
            assert resp.status == 200
        await db.fake.wait_until(lambda: bool(db.texts()))
        [status] = db.fake.messages(GENERAL)
        assert "investigating" in status.content and "internal" not in status.content
        async with http.post(url, data=body([alert(labels, resolved=True)]), headers=headers) as resp:
            assert resp.status == 200
        await db.fake.wait_until(lambda: "resolved" in status.content)
        assert len(db.fake.messages(GENERAL)) == 1  # edited in place, not posted again
        assert "BlockStall fired" not in status.content  # no annotations in public
