"""Discord message bodies for the bot's neutral messages. Plain data, no SDK.

Text is split at line ends into messages of at most 2,000 characters (a code block
cut by a split is closed and reopened); a :class:`~bot.core.Table` becomes embeds
(fields for short two-column tables, else monospace descriptions of at most 4,096
characters), never more than 10 embeds or 6,000 characters a message. The bot's
neutral markup (``*bold*``, ``<url|label>`` links) is turned into Discord's
(``**bold**``, ``[label](<url>)``) outside code.
"""

from __future__ import annotations

import re
from typing import Any

from bot import markup
from bot.core import Table

CONTENT_LIMIT = 2000
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_MAX = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
EMBEDS_MAX = 10
EMBEDS_TOTAL_LIMIT = 6000
THREAD_NAME_LIMIT = 100
FENCE = "```"
ATTENTION_COLOUR = 0xE74C3C
TABLE_COLOUR = 0x5865F2
CONFIRM_PREFIX = "testnet:confirm"
"""Buttons carry ``testnet:confirm:<approve|cancel>:<confirmation id>``."""
NO_MENTIONS: dict[str, Any] = {"parse": ["users"]}
"""Mention only people named in the text, never @everyone (roles: see
:func:`mentioned_roles`)."""

_LINK = re.compile(r"<((?:https?|ftp)://[^|>\s]+)\|([^>]+)>")
_BOLD = re.compile(r"(?<![*\w])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![*\w])")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_ROLE = re.compile(r"<@&(\d+)>")


def render_part(part: markup.Part) -> str:
    """A neutral message part in Discord's syntax: a role mention ``<@&id>``, a link
    ``[text](<url>)``, a channel ``<#id>``; plain words where Discord has no match."""
    if isinstance(part, markup.Mention):
        return f"<@&{part.group}>" if part.group.isdigit() else markup.plain(part)
    if isinstance(part, markup.Link):
        url = part.url.replace(">", "%3E").replace("<", "%3C")
        label = part.text.replace("[", "(").replace("]", ")")
        return f"[{label}](<{url}>)"
    platform, _, channel = part.destination.partition(":")
    return f"<#{channel}>" if platform == "discord" and channel.isdigit() else markup.plain(part)


def mentioned_roles(content: str) -> list[str]:
    """The role ids a message mentions (the only roles it may ping)."""
    return sorted(set(_ROLE.findall(content)))


def markdown(text: str) -> str:
    """The bot's neutral markup as Discord markdown; code spans are left alone."""
    text = markup.render(text, render_part)
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_prose(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_prose(text[last:]))
    return "".join(out)


def _prose(text: str) -> str:
    text = _LINK.sub(lambda m: f"[{m.group(2)}](<{m.group(1)}>)", text)
    return _BOLD.sub(r"**\1**", text)


def split_text(text: str, limit: int = CONTENT_LIMIT) -> list[str]:
    """``text`` split at line ends into pieces of at most ``limit`` characters; a code
    block cut by a split is closed before it and reopened after it. Nothing is
    dropped (a line longer than a piece is cut across pieces)."""
    room = limit - 2 * (len(FENCE) + 1)
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    fenced = False
    for line in text.split("\n"):
        pieces = [line[i : i + room] for i in range(0, len(line), room)] or [""]
        for piece in pieces:
            if lines and size + len(piece) + 1 > room:
                chunks.append("\n".join([*lines, FENCE] if fenced else lines))
                lines, size = ([FENCE], len(FENCE) + 1) if fenced else ([], 0)
            lines.append(piece)
            size += len(piece) + 1
        if line.count(FENCE) % 2:
            fenced = not fenced
    if any(lines):
        chunks.append("\n".join(lines))
    return chunks or [""]


def table_embeds(table: Table) -> list[dict[str, Any]]:
    """A table as embeds: one with a field per row when it has two columns and at most
    25 rows, else monospace descriptions split between rows (the header repeated)."""
    colour = ATTENTION_COLOUR if table.attention else TABLE_COLOUR
    if len(table.headers) == 2 and 0 < len(table.rows) <= EMBED_FIELDS_MAX:
        fields = [
            {
                "name": _cut(row[0] or "—", FIELD_NAME_LIMIT),
                "value": _cut(row[1] or "—", FIELD_VALUE_LIMIT),
                "inline": False,
            }
            for row in table.rows
        ]
        title = _cut(" / ".join(table.headers), 256)
        return [{"title": title, "color": colour, "fields": fields}]
    lines = table.lines()
    head, rows = lines[:2], lines[2:]
    room = EMBED_DESCRIPTION_LIMIT - 2 * (len(FENCE) + 1) - sum(len(h) + 1 for h in head)
    embeds: list[dict[str, Any]] = []
    body: list[str] = []
    size = 0
    for row in rows:
        line = _cut(row, room)
        if body and size + len(line) + 1 > room:
            embeds.append(_code_embed(head, body, colour))
            body, size = [], 0
        body.append(line)
        size += len(line) + 1
    if body or not embeds:
        embeds.append(_code_embed(head, body, colour))
    return embeds


def _code_embed(head: list[str], body: list[str], colour: int) -> dict[str, Any]:
    text = "\n".join([*head, *body]).replace(FENCE, "ˋˋˋ")
    return {"description": f"{FENCE}\n{text}\n{FENCE}", "color": colour}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _embed_size(embed: dict[str, Any]) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def message_bodies(text: str, table: Table | None = None) -> list[dict[str, Any]]:
    """Every message needed to show ``text`` (and ``table``), each within Discord's
    limits: the text's pieces first, the table's embeds on the last of them (or on
    further messages when they do not fit)."""
    contents = split_text(markdown(text)) if text else [""]
    bodies: list[dict[str, Any]] = [{"content": c} for c in contents]
    if table is None:
        return [b for b in bodies if b["content"]] or [{"content": "…"}]
    target = bodies[-1]
    for embed in table_embeds(table):
        embeds = target.setdefault("embeds", [])
        used = sum(_embed_size(e) for e in embeds)
        if len(embeds) >= EMBEDS_MAX or used + _embed_size(embed) > EMBEDS_TOTAL_LIMIT:
            target = {"content": "", "embeds": []}
            bodies.append(target)
        target["embeds"].append(embed)
    return [b for b in bodies if b.get("content") or b.get("embeds")]


def thread_name(text: str) -> str:
    """A thread's name from its first message: the first line, plain, cut to 100."""
    first = next((line for line in text.splitlines() if line.strip()), "details")
    plain = re.sub(r"[`*_~<>|]", "", first).strip() or "details"
    return _cut(plain, THREAD_NAME_LIMIT)


def confirm_id(action: str, confirmation_id: str) -> str:
    """The custom id of a confirmation button."""
    return f"{CONFIRM_PREFIX}:{action}:{confirmation_id}"


def confirmation_components(confirmation_id: str) -> list[dict[str, Any]]:
    """One action row: Approve (green) and Cancel (grey)."""
    return [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 3,
                    "label": "Approve",
                    "custom_id": confirm_id("approve", confirmation_id),
                },
                {
                    "type": 2,
                    "style": 2,
                    "label": "Cancel",
                    "custom_id": confirm_id("cancel", confirmation_id),
                },
            ],
        }
    ]
