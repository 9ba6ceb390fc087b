"""Reference documentation generated from the registry and the config models, so
the README's command list and the configuration reference never drift."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.config import BotConfig
from bot.registry import Registry


def commands_markdown(registry: Registry) -> str:
    """A Markdown table of every command: usage, what it does, who may run it."""
    lines = ["| command | what it does | permission |", "|---|---|---|"]
    for spec in registry.specs():
        perm = f"`{spec.permission}`" if spec.permission else "anyone"
        if spec.dangerous:
            perm += ", asks to confirm"
        usage = spec.usage().replace("|", "\\|")  # a choice list must not split the cell
        lines.append(f"| `/testnet {usage}` | {spec.summary} | {perm} |")
    return "\n".join(lines) + "\n"


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or repr(annotation)
    return text.replace("typing.", "").replace("pydantic.types.", "")


def config_markdown() -> str:
    """Every configuration key with its type, default and description."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the models in `bot/config.py` (`testnet-bot docs config`).",
        "Durations accept `30s`, `15m`, `2h`; `${VAR}` and `${VAR:-default}` read the",
        "environment. Unknown keys are errors.",
        "",
    ]
    seen: set[type[BaseModel]] = set()

    def section(model: type[BaseModel], prefix: str) -> None:
        if model in seen:
            return
        seen.add(model)
        out.append(f"## `{prefix or '(top level)'}`")
        out.append("")
        if model.__doc__:
            out.append(model.__doc__.strip().splitlines()[0])
            out.append("")
        out.append("| key | default | description |")
        out.append("|---|---|---|")
        nested: list[tuple[type[BaseModel], str]] = []
        for name, field in model.model_fields.items():
            if field.is_required():
                default = "required"
            elif field.default_factory is not None:
                default = "see below" if _model_of(field.annotation) else "(built in)"
            else:
                default = f"`{field.default}`"
            out.append(f"| `{name}` | {default} | {field.description or ''} |")
            sub = _model_of(field.annotation)
            if sub is not None:
                key = f"{prefix}.{name}" if prefix else name
                if _is_mapping(field.annotation):
                    key += ".<name>"
                elif _is_list(field.annotation):
                    key += "[]"
                nested.append((sub, key))
        out.append("")
        for sub, key in nested:
            section(sub, key)

    section(BotConfig, "")
    return "\n".join(out).rstrip() + "\n"


def _args(annotation: Any) -> tuple[Any, ...]:
    return tuple(getattr(annotation, "__args__", ()) or ())


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in _args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_mapping(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is dict


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list
