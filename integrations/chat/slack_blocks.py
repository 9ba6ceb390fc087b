"""Block Kit for the bot's messages. Plain data, no SDK: shared by the Slack
adapter and its tests."""

from __future__ import annotations

from typing import Any

from bot import markup
from bot.core import Table

SLACK = "slack"
"""The destination kind of Slack channels (``slack:C0123``)."""

SECTION_LIMIT = 3000
"""Slack refuses a section whose text is longer (``invalid_blocks``)."""
MESSAGE_BLOCKS = 50
"""Slack refuses a message with more blocks (``invalid_blocks``)."""
MESSAGE_BLOCK_TEXT = 11_000
"""Text we put in one message's blocks: Slack refuses messages whose blocks hold about
12,000 characters in all (``msg_blocks_too_long``), so a long message is split."""
TEXT_LIMIT = 40_000
"""Slack cuts a message's ``text`` beyond this many characters."""
FENCE = "```"
APPROVE_ACTION = "testnet_confirm_approve"
CANCEL_ACTION = "testnet_confirm_cancel"


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _pieces(line: str, limit: int) -> list[str]:
    """A line cut into pieces of at most ``limit`` characters (most lines are one)."""
    return [line[i : i + limit] for i in range(0, len(line), limit)] or [""]


def text_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """``text`` split at line ends into section texts of at most ``limit`` characters;
    a code block cut by a split is closed before it and reopened after it."""
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    fenced = False  # whether the chunk being built ends inside a code block
    room = limit - 2 * (len(FENCE) + 1)  # space for a closing and a reopening fence
    for line in text.split("\n"):
        for piece in _pieces(line, room):
            if lines and size + len(piece) + 1 > room:
                if fenced and lines[-1] == FENCE:  # the block has only just opened
                    lines.pop()
                    chunks.append("\n".join(lines))
                else:
                    chunks.append("\n".join([*lines, FENCE] if fenced else lines))
                lines, size = ([FENCE], len(FENCE) + 1) if fenced else ([], 0)
            lines.append(piece)
            size += len(piece) + 1
        if line.count(FENCE) % 2:
            fenced = not fenced
    if any(lines):
        chunks.append("\n".join(lines))
    return chunks


def table_sections(table: Table, limit: int = SECTION_LIMIT) -> list[str]:
    """A table as monospace section texts of at most ``limit`` characters, split
    between rows; every section repeats the header."""
    lines = [escape(line) for line in table.lines()]
    header, rows = lines[:2], lines[2:]
    head = [_clip(line, limit // 4) for line in header]
    room = limit - 2 * len(FENCE) - sum(len(h) + 1 for h in head)
    chunks: list[str] = []
    body: list[str] = []
    size = 0
    for row in rows:
        line = _clip(row, room)
        if body and size + len(line) + 1 > room:
            chunks.append(FENCE + "\n".join([*head, *body]) + FENCE)
            body, size = [], 0
        body.append(line)
        size += len(line) + 1
    if body or not chunks:
        chunks.append(FENCE + "\n".join([*head, *body]) + FENCE)
    return chunks


def render_parts(text: str) -> str:
    """The neutral message parts in ``text`` (:mod:`bot.markup`) in Slack's syntax: a
    group mention ``<!subteam^ID>``, a link ``<url|text>``, a channel ``<#C…>``."""
    return markup.render(text, _part)


def _part(part: markup.Part) -> str:
    if isinstance(part, markup.Mention):
        return f"<!subteam^{part.group}>"
    if isinstance(part, markup.Link):
        url = part.url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        return f"<{url}|{escape(part.text)}>"
    platform, _, channel = part.destination.partition(":")
    return f"<#{channel}>" if platform == SLACK else markup.plain(part)


def escape(text: str) -> str:
    """Plain text made safe for mrkdwn: Slack reads ``&``, ``<`` and ``>`` as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attention_sections(table: Table, limit: int = SECTION_LIMIT) -> list[str]:
    """The rows of ``table`` that need attention, one section each: the first cell,
    the second in bold, the rest after a dash (``❌ *peer discovery* — 1 pod · 0.10s``)."""
    sections = []
    for row in table.rows[: table.attention]:
        first, second, *rest = [*row, "", ""][: max(2, len(row))]
        text = " ".join(p for p in (first, f"*{second}*" if second else "") if p)
        details = " · ".join(escape(cell) for cell in rest if cell)
        sections.append(_clip(f"{text} — {details}" if details else text, limit))
    return sections


def message_parts(text: str, table: Table | None = None) -> list[list[dict[str, Any]]]:
    """A message as Block Kit, split into as many Slack messages as it needs: each
    within Slack's limits (:data:`SECTION_LIMIT` per section, fewer than
    :data:`MESSAGE_BLOCKS` blocks, :data:`MESSAGE_BLOCK_TEXT` characters in all).
    Rows needing attention come first as sections of their own, the others as a
    monospace table. Nothing is dropped; a table's rows keep their order."""
    texts = text_sections(text) if text else []
    if table is not None and table.attention:
        texts += attention_sections(table)
        rest = Table(table.headers, table.rows[table.attention :])
        texts += table_sections(rest) if rest.rows else []
    elif table is not None:
        texts += table_sections(table)
    parts: list[list[dict[str, Any]]] = []
    blocks: list[dict[str, Any]] = []
    size = 0
    for section in texts:
        if blocks and (
            len(blocks) >= MESSAGE_BLOCKS - 1 or size + len(section) > MESSAGE_BLOCK_TEXT
        ):
            parts.append(blocks)
            blocks, size = [], 0
        blocks.append(_section(section))
        size += len(section)
    if blocks or not parts:
        parts.append(blocks)
    return parts


def message_blocks(text: str, table: Table | None = None) -> list[dict[str, Any]]:
    """A message as the blocks of one Slack message (for edits, which cannot add
    messages): what does not fit is replaced by a note saying how much was left out."""
    first, *rest = message_parts(text, table)
    if rest:
        left = sum(len(b["text"]["text"].splitlines()) for part in rest for b in part)
        note = f"… {left} more lines did not fit in this message."
        first = [*first, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]
    return first


def fallback_text(blocks: list[dict[str, Any]]) -> str:
    """The ``text`` of a message made of ``blocks`` (what notifications show)."""
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
    return _clip("\n".join(texts), TEXT_LIMIT)


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
        *(_section(t) for t in text_sections(plan)[: MESSAGE_BLOCKS - 3]),
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
