"""Neutral message parts: written once by the capabilities, rendered by each adapter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import markup
from bot.config import MatrixRow
from bot.markup import ChannelRef, Link, Mention
from commands.incidents.text import clean, slack_root
from commands.sanity.schedules import where
from integrations.chat.shell import render_markup
from integrations.chat.slack_blocks import render_parts
from state.incidents import Incident

ROW = MatrixRow(
    event="Network instability: block production stalls",
    action="Check the validators",
    criticality="Blocker",
    owner="Alpha Team",
    slack_group="S0ALPHA",
    runbook_url="https://wiki.example/stall",
)


def _incident() -> Incident:
    return Incident(
        id=7, network="alpha", event=ROW.event, criticality="Blocker", owner="Alpha Team",
        state="firing", opened_at=0.0, updated_at=0.0, resolved_at=None, closed_at=None,
        acked_by="", acked_at=None, note="", issue_number=12,
        issue_url="https://github.example/aztec/testnet/issues/12", issue_create_started=None,
        slack_destination="slack:C0INC", slack_root_key="k", last_comment_at=0.0,
        last_reminder_at=0.0, unreported=0, fired_count=1,
    )  # fmt: skip


def test_an_incident_root_renders_in_slack_and_in_the_shell() -> None:
    root = slack_root(_incident(), ROW, 2, 3, 60.0)
    assert "<!subteam^" not in root and "<http" not in root, "no Slack syntax in the capability"
    slack = render_parts(root)
    assert "owner <!subteam^S0ALPHA>" in slack
    assert "<https://github.example/aztec/testnet/issues/12|issue #12>" in slack
    assert "<https://wiki.example/stall|runbook>" in slack
    shell = render_markup(root, color=False)
    assert "owner @S0ALPHA" in shell
    assert "issue #12 (https://github.example/aztec/testnet/issues/12)" in shell
    assert "runbook (https://wiki.example/stall)" in shell
    assert "<" not in shell and "\u27e6" not in shell


def test_a_schedule_reply_names_its_channel_on_each_platform() -> None:
    reply = f"Scheduled: reporting to {where('slack:C0DEPLOY')} when the verdict changes"
    assert render_parts(reply).endswith("reporting to <#C0DEPLOY> when the verdict changes")
    assert "reporting to #C0DEPLOY when" in render_markup(reply, color=False)
    assert where("shell:alice") == "the bot's log"


def test_a_link_with_markup_characters_stays_one_link_in_slack() -> None:
    out = render_parts(str(Link("https://x.example/a|b>c", "a <b> & c")))
    assert out == "<https://x.example/a%7Cb%3Ec|a &lt;b&gt; &amp; c>"
    assert render_parts(str(ChannelRef("discord:123"))) == "#123"


@given(st.text())
def test_outside_text_never_becomes_a_part(value: str) -> None:
    cleaned = clean(value, 500)
    rendered = markup.render(cleaned, lambda part: "PART")
    assert "PART" not in rendered or "PART" in value
    assert str(Mention("S1")) not in cleaned
