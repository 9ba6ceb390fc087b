"""``/testnet incidents``, ``incident``, ``incident ack|resolve`` and ``matrix [explain]``
as a conversation with the real bot (shell adapter)."""

from __future__ import annotations

from pathlib import Path

from commands.incidents.desk import DESK, IncidentDesk
from integrations.alertmanager import parse_webhook
from tests.fakes.alert_payloads import alert, body
from tests.harness import ShellBot, make_config

STALLED = {"alertname": "BlockProductionStalled", "network": "alpha"}


def fire(bot: ShellBot, *alerts: dict[str, object]) -> None:
    desk = bot.bot.services.need(DESK)
    assert isinstance(desk, IncidentDesk)
    desk.intake(parse_webhook(body(list(alerts))))


async def test_list_show_ack_and_resolve_an_incident(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        assert "No open incidents" in await bot.say("/testnet incidents")
        fire(bot, alert(STALLED), alert({**STALLED, "instance": "v1"}))
        listing = await bot.say("/testnet incidents")
        assert "1 open incident" in listing and "block production stalls" in listing
        assert "2/2" in listing
        shown = await bot.say("/testnet incident 1")
        assert "Incident #1: [Blocker]" in shown and "BlockProductionStalled" in shown

        assert "acknowledged by operator" in await bot.say("/testnet incident ack 1")
        assert "already acknowledged" in await bot.say("/testnet incident ack 1")
        assert bot.store.incidents.get(1).acked_by == "operator"

        done = await bot.say("/testnet incident resolve 1 restarted the sequencer")
        assert "resolved and its issue closed" in done and "2 alert(s) still firing" in done
        inc = bot.store.incidents.get(1)
        assert inc.state == "closed" and inc.note == "restarted the sequencer"
        assert "No open incidents" in await bot.say("/testnet incidents")
        assert "closed" in await bot.say("/testnet incidents all")
        assert "already closed" in await bot.say("/testnet incident resolve 1")


async def test_bad_incident_arguments_change_nothing(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        fire(bot, alert(STALLED))
        assert "There is no incident #7" in await bot.say("/testnet incident 7")
        assert "not a whole number" in await bot.say("/testnet incident ack seven")
        assert "must be one of open, all" in await bot.say("/testnet incidents some")
        assert "There is no incident #9" in await bot.say("/testnet incident resolve 9")
        inc = bot.store.incidents.get(1)
        assert inc.state == "firing" and inc.acked_by == ""


async def test_ack_and_resolve_need_the_incident_permission(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        roles={"admin": {"shell_users": ["alice"]}, "oncall": {"shell_users": ["bob"]}},
        permissions={"incident": ["oncall"]},
        chat={"shell": {"user": "mallory", "roles": []}},
    )
    async with ShellBot(config, user="mallory") as bot:
        fire(bot, alert(STALLED))
        assert "`incident` permission" in await bot.say("/testnet incident ack 1")
        assert bot.store.incidents.get(1).acked_by == ""
        assert "1 open incident" in await bot.say("/testnet incidents")  # reading is open


async def test_matrix_and_explain(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        table = await bot.say("/testnet matrix")
        assert "Network instability: block production stalls" in table
        assert 'alertname=~"BlockProduction.*"' in table and "Minor operational issues" in table
        said = await bot.say(
            "/testnet matrix explain alertname=BlockProductionStalled network=alpha"
        )
        assert "→ row 1: Network instability: block production stalls (" in said  # bold, rendered
        assert (
            'alertname=~"BlockProduction.*" matches: alertname is "BlockProductionStalled"' in said
        )
        other = await bot.say("/testnet matrix explain alertname=ProvingJobsFailing")
        assert "→ row 2" in other and "✗ row 1" in other
        none = await bot.say("/testnet matrix explain alertname=DiskFull")
        assert "→ the default row: Minor operational issues (" in none
        assert "Could not read the labels" in await bot.say(
            "/testnet matrix explain alertname=~Foo"
        )
        assert "Missing `labels`" in await bot.say("/testnet matrix explain")
