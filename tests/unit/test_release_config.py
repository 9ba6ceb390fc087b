"""The ``release:`` section: v0.6x defaults, templates and URLs checked when read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import BotConfig


def test_defaults_name_the_v06x_artifacts() -> None:
    release = BotConfig().release
    assert release.branch_template == "{repo_name}-{version}"
    assert "barretenberg-x86_64-linux-gnu.tar.gz" in release.assets
    assert "@aztec/bb.js" in release.npm_packages
    assert "aztecprotocol/aztec" in release.docker_images


def test_durations_are_read_as_seconds() -> None:
    config = BotConfig.model_validate({"release": {"check_timeout": "2s", "watch_timeout": "1h"}})
    assert config.release.check_timeout == 2.0
    assert config.release.watch_timeout == 3600.0


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("branch_template", "{repo_name}-{nope}", "use only"),
        ("branch_template", "release-branch", "use only"),
        ("docker_tag_template", "{repo_name}", "use only"),
        ("git_url", "https://x:secret@github.com/o/r.git", "credentials"),
        ("git_author", "just a name", "Name <email>"),
    ],
)
def test_bad_values_are_refused_with_the_reason(field: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BotConfig.model_validate({"release": {field: value}})
    assert says in str(caught.value)
    assert f"release.{field}" in str(caught.value)


def test_webhook_secret_is_masked() -> None:
    config = BotConfig.model_validate({"release": {"webhook_secret": "s3cret"}})
    assert "s3cret" not in repr(config.release)
    assert "s3cret" in config.secrets()


def test_the_release_example_is_a_valid_config() -> None:
    from pathlib import Path

    from bot.configfile import parse_config

    example = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "release.yaml"
    config = parse_config(
        example.read_text(),
        source=str(example),
        env={"GITHUB_TOKEN": "t", "GITHUB_WEBHOOK_SECRET": "s"},
    )
    assert config.release.workflow == "release-please.yml"
    assert config.networks["devnet"].deploy.driver == "github-workflow"
    assert config.networks["devnet"].deploy.inputs["namespace"] == "{network}"


def test_a_ci_driver_needs_its_workflow_and_known_input_fields() -> None:
    net = {"namespace": "a", "image": "x/y"}
    with pytest.raises(ValidationError, match="needs `workflow`"):
        BotConfig.model_validate(
            {"networks": {"a": {**net, "deploy": {"driver": "github-workflow"}}}}
        )
    with pytest.raises(ValidationError, match="use only"):
        BotConfig.model_validate(
            {
                "networks": {
                    "a": {
                        **net,
                        "deploy": {
                            "driver": "github-workflow",
                            "workflow": "d.yml",
                            "inputs": {"v": "{tag}"},
                        },
                    }
                }
            }
        )
