"""Discord's documented limits on messages and application commands, checked as Discord does.

Each ``*_errors`` function returns Discord's ``errors`` object for an ``Invalid Form Body``
(code 50035) answer, or an empty dict when the input is acceptable. The shape is Discord's:
nested keys follow the JSON path (list indices as strings) and end in
``{"_errors": [{"code": ..., "message": ...}]}``.

Limits (Discord developer docs, "Message Resource", "Embed Limits", "Application Commands"):
content 2,000 characters; 10 embeds; embed title 256, description 4,096, 25 fields
(name 256, value 1,024), footer 2,048, author name 256; all embeds of a message together at
most 6,000 characters; 5 action rows of 5 buttons, custom ids 100, button labels 80.
Commands: name 1-32 characters matching ``^[-_\\p{L}\\p{N}]{1,32}$`` in lowercase,
description 1-100, at most 25 options per level, 25 choices (name 1-100, string value at
most 100), subcommands only at the top or in a group, groups only at the top, options of a
level either all subcommands/groups or none, required options before optional ones, names
unique per level; at most 100 chat-input commands per scope.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

CONTENT_LIMIT = 2000
EMBEDS_MAX = 10
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_LIMIT = 256
EMBED_FIELD_VALUE_LIMIT = 1024
EMBED_FOOTER_LIMIT = 2048
EMBED_AUTHOR_LIMIT = 256
EMBEDS_TOTAL_LIMIT = 6000
ACTION_ROWS_MAX = 5
ROW_COMPONENTS_MAX = 5
CUSTOM_ID_LIMIT = 100
BUTTON_LABEL_LIMIT = 80
THREAD_NAME_LIMIT = 100
NONCE_LIMIT = 25

COMMAND_NAME_LIMIT = 32
COMMAND_DESCRIPTION_LIMIT = 100
COMMAND_OPTIONS_MAX = 25
COMMAND_CHOICES_MAX = 25
CHOICE_NAME_LIMIT = 100
CHOICE_VALUE_LIMIT = 100
COMMANDS_PER_SCOPE_MAX = 100

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
NUMBER = 10
OPTION_TYPES = frozenset(range(1, 12))

Errors = dict[str, Any]


def _error(code: str, message: str) -> Errors:
    return {"_errors": [{"code": code, "message": message}]}


def _max_length(limit: int) -> Errors:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _bad_length(low: int, high: int) -> Errors:
    return _error("BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _merge(into: Errors, key: str, errors: Errors) -> None:
    if errors:
        into.setdefault(key, {}).update(errors)


# ---------------------------------------------------------------- messages


def _embed_errors(embed: Any) -> tuple[Errors, int]:
    """One embed's errors and its character count toward the 6,000 total."""
    errors: Errors = {}
    if not isinstance(embed, Mapping):
        return _error("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"), 0
    size = 0
    checks = (
        ("title", embed.get("title"), EMBED_TITLE_LIMIT),
        ("description", embed.get("description"), EMBED_DESCRIPTION_LIMIT),
    )
    for key, value, limit in checks:
        if value is None:
            continue
        text = str(value)
        size += len(text)
        if len(text) > limit:
            errors[key] = _max_length(limit)
    footer = embed.get("footer")
    if isinstance(footer, Mapping) and footer.get("text") is not None:
        text = str(footer["text"])
        size += len(text)
        if len(text) > EMBED_FOOTER_LIMIT:
            errors["footer"] = {"text": _max_length(EMBED_FOOTER_LIMIT)}
    author = embed.get("author")
    if isinstance(author, Mapping) and author.get("name") is not None:
        text = str(author["name"])
        size += len(text)
        if len(text) > EMBED_AUTHOR_LIMIT:
            errors["author"] = {"name": _max_length(EMBED_AUTHOR_LIMIT)}
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS_MAX:
        errors["fields"] = _max_length(EMBED_FIELDS_MAX)
    else:
        field_errors: Errors = {}
        for index, field in enumerate(fields):
            one: Errors = {}
            name = str(field.get("name", ""))
            value = str(field.get("value", ""))
            size += len(name) + len(value)
            if not 1 <= len(name) <= EMBED_FIELD_NAME_LIMIT:
                one["name"] = _bad_length(1, EMBED_FIELD_NAME_LIMIT)
            if not 1 <= len(value) <= EMBED_FIELD_VALUE_LIMIT:
                one["value"] = _bad_length(1, EMBED_FIELD_VALUE_LIMIT)
            if one:
                field_errors[str(index)] = one
        if field_errors:
            errors["fields"] = field_errors
    return errors, size


def _components_errors(rows: Any) -> Errors:
    if not isinstance(rows, list):
        return _error("BASE_TYPE_ARRAY", "Must be an array.")
    if len(rows) > ACTION_ROWS_MAX:
        return _max_length(ACTION_ROWS_MAX)
    errors: Errors = {}
    for r, row in enumerate(rows):
        children = row.get("components") or [] if isinstance(row, Mapping) else []
        row_errors: Errors = {}
        if len(children) > ROW_COMPONENTS_MAX:
            row_errors["components"] = _max_length(ROW_COMPONENTS_MAX)
        else:
            child_errors: Errors = {}
            for c, child in enumerate(children):
                one: Errors = {}
                custom_id = child.get("custom_id")
                if custom_id is not None and not 1 <= len(str(custom_id)) <= CUSTOM_ID_LIMIT:
                    one["custom_id"] = _bad_length(1, CUSTOM_ID_LIMIT)
                label = child.get("label")
                if label is not None and len(str(label)) > BUTTON_LABEL_LIMIT:
                    one["label"] = _max_length(BUTTON_LABEL_LIMIT)
                if one:
                    child_errors[str(c)] = one
            if child_errors:
                row_errors["components"] = child_errors
        if row_errors:
            errors[str(r)] = row_errors
    return errors


def message_errors(body: Mapping[str, Any]) -> Errors:
    """Discord's ``errors`` for a message body (create or edit); empty when within the limits."""
    errors: Errors = {}
    content = body.get("content")
    if content is not None and len(str(content)) > CONTENT_LIMIT:
        errors["content"] = _max_length(CONTENT_LIMIT)
    embeds = body.get("embeds")
    if embeds is not None:
        if not isinstance(embeds, list):
            errors["embeds"] = _error("BASE_TYPE_ARRAY", "Must be an array.")
        elif len(embeds) > EMBEDS_MAX:
            errors["embeds"] = _max_length(EMBEDS_MAX)
        else:
            total = 0
            embed_errors: Errors = {}
            for index, embed in enumerate(embeds):
                one, size = _embed_errors(embed)
                total += size
                if one:
                    embed_errors[str(index)] = one
            if embed_errors:
                errors["embeds"] = embed_errors
            elif total > EMBEDS_TOTAL_LIMIT:
                errors["embeds"] = _error(
                    "MAX_EMBED_SIZE_EXCEEDED",
                    f"Embed size exceeds maximum size of {EMBEDS_TOTAL_LIMIT}",
                )
    if body.get("components") is not None:
        _merge(errors, "components", _components_errors(body["components"]))
    return errors


def is_empty_message(body: Mapping[str, Any]) -> bool:
    """True when a new message would have nothing to show (Discord: 50006)."""
    return not (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("attachments")
        or body.get("sticker_ids")
        or body.get("poll")
    )


# ---------------------------------------------------------------- application commands


def valid_command_name(name: Any) -> bool:
    """Discord's ``^[-_\\p{L}\\p{N}]{1,32}$`` with letters in their lowercase form."""
    if not isinstance(name, str) or not 1 <= len(name) <= COMMAND_NAME_LIMIT:
        return False
    for char in name:
        if char in "-_":
            continue
        category = unicodedata.category(char)
        if category[0] not in "LN":
            return False
        if char.lower() != char:
            return False
    return True


def _name_and_description_errors(item: Mapping[str, Any], *, chat_input: bool) -> Errors:
    errors: Errors = {}
    name = item.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= COMMAND_NAME_LIMIT:
        errors["name"] = _bad_length(1, COMMAND_NAME_LIMIT)
    elif chat_input and not valid_command_name(name):
        errors["name"] = _error("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if chat_input:
        description = item.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= COMMAND_DESCRIPTION_LIMIT:
            errors["description"] = _bad_length(1, COMMAND_DESCRIPTION_LIMIT)
    return errors


def _choices_errors(choices: Any) -> Errors:
    if not isinstance(choices, list):
        return _error("BASE_TYPE_ARRAY", "Must be an array.")
    if len(choices) > COMMAND_CHOICES_MAX:
        return _max_length(COMMAND_CHOICES_MAX)
    errors: Errors = {}
    for index, choice in enumerate(choices):
        one: Errors = {}
        name = choice.get("name") if isinstance(choice, Mapping) else None
        if not isinstance(name, str) or not 1 <= len(name) <= CHOICE_NAME_LIMIT:
            one["name"] = _bad_length(1, CHOICE_NAME_LIMIT)
        value = choice.get("value") if isinstance(choice, Mapping) else None
        if isinstance(value, str) and not 1 <= len(value) <= CHOICE_VALUE_LIMIT:
            one["value"] = _bad_length(1, CHOICE_VALUE_LIMIT)
        if one:
            errors[str(index)] = one
    return errors


def _options_errors(options: Any, *, level: str) -> Errors:
    """Errors of one level of options; ``level`` is "command", "group" or "subcommand"."""
    if not isinstance(options, list):
        return _error("BASE_TYPE_ARRAY", "Must be an array.")
    if len(options) > COMMAND_OPTIONS_MAX:
        return _max_length(COMMAND_OPTIONS_MAX)
    errors: Errors = {}
    types = [o.get("type") if isinstance(o, Mapping) else None for o in options]
    nested = [t in (SUB_COMMAND, SUB_COMMAND_GROUP) for t in types]
    if any(nested) and not all(nested):
        return _error(
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        )
    seen: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        if not isinstance(option, Mapping):
            errors[str(index)] = _error("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        one = _name_and_description_errors(option, chat_input=True)
        kind = option.get("type")
        if kind not in OPTION_TYPES:
            one["type"] = _error("ENUM_TYPE_COERCE", f"Value \"{kind}\" is not a valid enum value.")
        elif kind == SUB_COMMAND_GROUP and level != "command":
            one["type"] = _error(
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Sub-command groups can only be nested in a top-level command",
            )
        elif kind == SUB_COMMAND and level == "subcommand":
            one["type"] = _error(
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Sub-commands can only be nested in a command or a sub-command group",
            )
        elif kind != SUB_COMMAND and level == "group":
            one["type"] = _error(
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Sub-command groups can only contain sub-commands",
            )
        name = option.get("name")
        if isinstance(name, str):
            if name in seen:
                one.setdefault("name", {}).update(
                    _error("APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Option names must be unique")
                )
            seen.add(name)
        if kind not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if option.get("required"):
                if optional_seen:
                    one["required"] = _error(
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                optional_seen = True
        if option.get("choices") is not None:
            _merge(one, "choices", _choices_errors(option["choices"]))
        if kind == SUB_COMMAND_GROUP:
            _merge(one, "options", _options_errors(option.get("options") or [], level="group"))
        elif kind == SUB_COMMAND:
            _merge(one, "options", _options_errors(option.get("options") or [], level="subcommand"))
        if one:
            errors[str(index)] = one
    return errors


def command_errors(command: Any) -> Errors:
    """Discord's ``errors`` for one application command in a create or bulk overwrite."""
    if not isinstance(command, Mapping):
        return _error("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    kind = command.get("type", 1)
    errors = _name_and_description_errors(command, chat_input=kind == 1)
    options = command.get("options")
    if options is not None:
        if kind != 1 and options:
            errors["options"] = _error("APPLICATION_COMMAND_OPTIONS_INVALID", "Only chat input commands take options")
        else:
            _merge(errors, "options", _options_errors(options, level="command"))
    return errors


def commands_errors(commands: Any) -> Errors:
    """Errors of a bulk overwrite: each command's, duplicates and the per-scope cap."""
    if not isinstance(commands, Sequence) or isinstance(commands, str | bytes):
        return _error("BASE_TYPE_ARRAY", "Must be an array.")
    chat_input = [c for c in commands if isinstance(c, Mapping) and c.get("type", 1) == 1]
    if len(chat_input) > COMMANDS_PER_SCOPE_MAX:
        return _max_length(COMMANDS_PER_SCOPE_MAX)
    errors: Errors = {}
    seen: set[tuple[Any, Any]] = set()
    for index, command in enumerate(commands):
        one = command_errors(command)
        if isinstance(command, Mapping):
            key = (command.get("type", 1), command.get("name"))
            if key in seen:
                one.setdefault("name", {}).update(
                    _error("APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
                )
            seen.add(key)
        if one:
            errors[str(index)] = one
    return errors
