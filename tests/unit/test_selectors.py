"""Label selectors matched the way the API server matches them (equality-based)."""

from __future__ import annotations

import pytest

from integrations.kube_models import selector_matches

POD = {"app": "validator", "app.kubernetes.io/instance": "alpha"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=validator", True),
        ("app==validator", True),
        ("app=prover", False),
        ("app!=prover", True),
        ("app!=validator", False),
        ("app", True),
        ("!app", False),
        ("tier", False),
        ("!tier", True),
        ("app=validator,app.kubernetes.io/instance=alpha", True),
        ("app=validator,app.kubernetes.io/instance=beta", False),
        ("", True),
        (None, True),
        ({"app": "validator"}, True),
        ({"app": "bot"}, False),
    ],
)
def test_equality_selectors(selector: str | None, matches: bool) -> None:
    assert selector_matches(selector, POD) is matches


@pytest.mark.parametrize("selector", ["app in (validator)", "a b", "!app=x"])
def test_anything_else_is_refused_not_guessed(selector: str) -> None:
    with pytest.raises(ValueError, match="not an equality-based label selector"):
        selector_matches(selector, POD)
