"""Block Kit rendering: long texts and tables split within Slack's limits, nothing lost."""

from __future__ import annotations

from bot.core import Table
from integrations.chat.slack_blocks import (
    MESSAGE_BLOCK_TEXT,
    MESSAGE_BLOCKS,
    SECTION_LIMIT,
    message_blocks,
    message_parts,
    table_sections,
    text_sections,
)


def test_a_short_message_is_one_section() -> None:
    assert text_sections("deployed `v0.62.0`") == ["deployed `v0.62.0`"]
    assert message_parts("hello") == [
        [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
    ]


def test_long_text_splits_at_line_ends_and_keeps_code_blocks_closed() -> None:
    lines = [f"line {n:04} " + "x" * 60 for n in range(200)]
    text = "Report:\n```\n" + "\n".join(lines) + "\n```\nend"
    sections = text_sections(text)
    assert len(sections) > 1
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    assert all(s.count("```") % 2 == 0 for s in sections)  # every fence closed where cut
    joined = "\n".join(sections)
    assert all(line in joined for line in lines) and joined.endswith("end")
    one_line = "y" * (3 * SECTION_LIMIT)  # a single line longer than a section
    assert "".join(text_sections(one_line)) == one_line


def test_a_long_table_repeats_its_header_and_keeps_every_row_in_order() -> None:
    rows = tuple((f"check-{n:03}", "observed " * 8) for n in range(120))
    table = Table(("check", "observed"), rows)
    sections = table_sections(table)
    assert len(sections) > 1
    assert all(len(s) <= SECTION_LIMIT and s.startswith("```check") for s in sections)
    names = [line.split()[0] for s in sections for line in s.strip("`").splitlines()[2:]]
    assert names == [r[0] for r in rows]


def test_parts_stay_within_a_messages_blocks_and_text() -> None:
    rows = tuple((f"row-{n:04}", "v" * 70) for n in range(1000))
    parts = message_parts("a big table", Table(("name", "value"), rows))
    assert len(parts) > 1
    for blocks in parts:
        assert len(blocks) < MESSAGE_BLOCKS
        assert sum(len(b["text"]["text"]) for b in blocks) <= MESSAGE_BLOCK_TEXT
    single = message_blocks("a big table", Table(("name", "value"), rows))
    assert single[-1]["type"] == "context" and "more lines did not fit" in str(single[-1])
    assert message_blocks("short")[-1]["type"] == "section"  # no note when it all fits


def test_rows_needing_attention_get_sections_of_their_own_and_data_is_escaped() -> None:
    table = Table(
        ("", "check", "observed", "took"),
        (
            ("❌", "rpc health (http)", "HTTP 503, body lacks 'ok': '<html>a & b</html>'", "0.1s"),
            ("✅", "pods", "3/3 Ready", "0.2s"),
        ),
        attention=1,
    )
    [blocks] = message_parts("❌ Sanity of `alpha`", table)
    texts = [b["text"]["text"] for b in blocks]
    assert texts[0] == "❌ Sanity of `alpha`"  # the message's own markup is left alone
    assert texts[1] == (
        "❌ *rpc health (http)* — HTTP 503, body lacks 'ok': "
        "'&lt;html&gt;a &amp; b&lt;/html&gt;' · 0.1s"
    )
    assert texts[2].startswith("```") and "pods" in texts[2] and "rpc health" not in texts[2]
    plain = message_parts("", Table(("a",), (("<x>",),)))
    assert "&lt;x&gt;" in plain[0][0]["text"]["text"]
