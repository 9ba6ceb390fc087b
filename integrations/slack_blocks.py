"""Block Kit for the bot's messages. Plain data, no SDK: shared by the Slack
adapter and its tests."""

from __future__ import annotations

from typing import Any

from bot.core import Table

SECTION_LIMIT = 2900
APPROVE_ACTION = "testnet_confirm_approve"
CANCEL_ACTION = "testnet_confirm_cancel"


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_blocks(text: str, table: Table | None = None) -> list[dict[str, Any]]:
    """A message as sections; a table becomes a monospace block."""
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}})
    if table is not None:
        body = _clip(table.as_text(), SECTION_LIMIT - 6)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}})
    return blocks


def confirmation_blocks(
    *, plan: str, confirmation_id: str, requester: str, approvals: int, expires_in: float
) -> list[dict[str, Any]]:
    """The plan with Approve / Cancel buttons."""
    minutes = max(1, round(expires_in / 60))
    who = (
        f"needs approval by someone other than <@{requester}>"
        if approvals >= 2
        else "approve to run it"
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(plan)}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Requested by <@{requester}>; {who}. Expires in {minutes} min.",
                }
            ],
        },
        {
            "type": "actions",
            "block_id": f"confirm:{confirmation_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": confirmation_id,
                },
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION,
                    "text": {"type": "plain_text", "text": "Cancel"},
                    "style": "danger",
                    "value": confirmation_id,
                },
            ],
        },
    ]
