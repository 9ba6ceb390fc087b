"""/testnet info: connection info read from LoadBalancer Services and the running
image; --post publishes to Slack and later posts edit the same message."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.kube_api import KubeFake
from tests.fakes.slack_api import ALICE
from tests.harness import ShellBot, make_config
from tests.integration.kube_harness import NAMESPACE, OLD, build_testnet, network_config
from tests.integration.sanity_harness import CONNECTION_INFO, add_connection_services
from tests.integration.slack_harness import slack_bot

TEAM_ALPHA = "C0TEAMALPHA"
INFO = {"image_name": "AZTEC_IMAGE", "slack_channel": "team-alpha"}


async def test_info_shows_addresses_and_a_pending_service_is_not_an_error(
    tmp_path: Path,
) -> None:
    async with KubeFake() as fake:
        build_testnet(fake, validators=1)
        add_connection_services(fake, pending_udp=True)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        net = network_config(kubeconfig, connection_info=CONNECTION_INFO, info=INFO)
        async with ShellBot(make_config(tmp_path, **net)) as bot:
            out = await bot.say("/testnet info alpha")
            assert "📡 Connection info for `alpha`" in out
            assert f"AZTEC_IMAGE    {OLD}" in out
            assert "ETHEREUM_HOST  34.1.2.3:8545" in out
            assert "BOOT_NODE_URL  boot.alpha.example.org:40400" in out
            assert (
                "BOOT_NODE_URL  ⏳ pending  (`boot-node-lb-udp` has no external address yet)" in out
            )
            assert bot.last_outcome is not None and bot.last_outcome.success
            out = await bot.say("/testnet info alpha --post")
            assert "No channel to post to" in out and "chat.discord.channels.connection_info" in out
            assert bot.store.sanity.info_posts("alpha") == []


async def test_post_publishes_once_then_edits_the_same_message(tmp_path: Path) -> None:
    async with KubeFake() as fake:
        build_testnet(fake, validators=1)
        add_connection_services(fake, pending_udp=True)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = {
            **network_config(kubeconfig, connection_info=CONNECTION_INFO, info=INFO),
            "roles": {"admin": {"slack_users": [ALICE]}},
            "slack": {"channels": {"team-alpha": TEAM_ALPHA}},
        }
        async with slack_bot(tmp_path, **config) as sb:
            sb.slack.add_channel(TEAM_ALPHA, "team-alpha")
            await sb.command("info alpha --post", user=ALICE)
            await sb.slack.wait_until(
                lambda: any("Not posted: BOOT_NODE_URL not ready" in t for t in sb.texts()),
                within=10,
            )
            assert sb.slack.messages(TEAM_ALPHA) == []  # pending: nothing published

            fake.set_load_balancer_ingress("boot-node-lb-udp", namespace=NAMESPACE, ip="34.1.2.5")
            await sb.command("info alpha --post", user=ALICE)
            await sb.slack.wait_until(lambda: bool(sb.slack.messages(TEAM_ALPHA)), within=10)
            (message,) = sb.slack.messages(TEAM_ALPHA)
            assert "34.1.2.5:40400" in message.text and "(UDP)" in message.text

            fake.set_load_balancer_ingress("ethereum-lb", namespace=NAMESPACE, ip="34.9.9.9")
            await sb.command("info alpha --post", user=ALICE)
            await sb.slack.wait_until(
                lambda: "34.9.9.9:8545" in sb.slack.messages(TEAM_ALPHA)[0].text, within=10
            )
            assert len(sb.slack.messages(TEAM_ALPHA)) == 1  # edited in place
            assert sb.slack.count("chat.update") >= 1
