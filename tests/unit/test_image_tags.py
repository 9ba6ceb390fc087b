"""Versions, tag templates, tag forms and image locations: the pure rules behind a
deploy's choice of tag."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import BotConfig, NetworkConfig
from bot.errors import CommandError
from commands.deploy.image_tags import choose_tag, running_template
from commands.deploy.rollout import Step
from commands.deploy.versions import Version
from integrations.image_refs import locate, tag_form, template_fields


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("v0.62.0", "v0.62.0"),
        ("0.62.0", "v0.62.0"),
        ("v2.2.0-rc1", "v2.2.0-rc1"),
        ("1.2.3-rc.1", "v1.2.3-rc.1"),
        ("v0.5.0-a1b2c3d", "v0.5.0-a1b2c3d"),
    ],
)
def test_versions_are_kept_with_their_v(typed: str, normal: str) -> None:
    version = Version.parse(typed)
    assert str(version) == normal and version.semver == normal[1:]
    assert Version.parse(typed) == Version.parse(normal)


@pytest.mark.parametrize(
    "bad", ["v0.62", "0.62", "vv0.62.0", "V0.62.0", "v01.2.3", "0.62.0-", "v0.62.0 ", ""]
)
def test_malformed_versions_are_refused_with_the_form(bad: str) -> None:
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        Version.parse(bad)


def test_templates_substitute_version_semver_and_sha() -> None:
    assert Version.parse("0.62.0").tag("{version}") == "v0.62.0"
    assert Version.parse("v0.62.0").tag("{semver}") == "0.62.0"
    assert Version.parse("v2.2.0-rc1").tag("{semver}") == "2.2.0-rc1"
    assert Version.parse("v0.5.0-a1b2c3d").tag("{version}-{sha}") == "v0.5.0-a1b2c3d"
    assert Version.parse("v0.5.0-a1b2c3d").tag("release-{semver}-{sha}") == "release-0.5.0-a1b2c3d"
    assert Version.parse("v0.5.0-a1b2c3d").tag("{sha}-{semver}") == "a1b2c3d-0.5.0"
    with pytest.raises(ValueError, match="short sha"):
        Version.parse("v0.5.0").tag("{version}-{sha}")
    with pytest.raises(ValueError, match="short sha"):
        Version.parse("v0.5.0-rc1").tag("{version}-{sha}")


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("v1", "must contain"),
        ("{sha}", "must contain"),
        ("{tag}", "cannot be substituted"),
        ("{version!r}", "cannot be substituted"),
        ("{version:>9}", "cannot be substituted"),
        ("{version", "not a valid template"),
    ],
)
def test_bad_templates_are_refused(template: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        template_fields(template)


def test_config_checks_the_template_and_the_credentials() -> None:
    base = {"namespace": "a", "image": "x"}
    assert NetworkConfig.model_validate(base).tag_template is None
    assert NetworkConfig.model_validate({**base, "tag_template": "{semver}"}).tag_template
    with pytest.raises(ValidationError, match="cannot be substituted"):
        NetworkConfig.model_validate({**base, "tag_template": "{version}-{commit}"})
    with pytest.raises(ValidationError, match="both username and password"):
        NetworkConfig.model_validate({**base, "registry": {"username": "u"}})
    net = NetworkConfig.model_validate(
        {**base, "registry": {"username": "u", "password": "p4ss", "timeout": "3s"}}
    )
    assert net.registry.timeout == 3.0 and "p4ss" not in repr(net)
    BotConfig.model_validate({"networks": {"alpha": base}})


@pytest.mark.parametrize(
    ("tag", "form"),
    [
        ("0.61.0", "{semver}"),
        ("v0.61.0", "{version}"),
        ("2.2.0-rc1", "{semver}"),
        ("v0.5.0-a1b2c3d", "{version}-{sha}"),
        ("0.5.0-a1b2c3d", "{semver}-{sha}"),
        ("v0.5.0-1234567", "{version}"),
        ("latest", None),
        (None, None),
        ("sha256:ab", None),
    ],
)
def test_tag_forms(tag: str | None, form: str | None) -> None:
    assert tag_form(tag) == form


def step(**before: str) -> Step:
    return Step("Deployment", "bot", 1, False, before=dict(before), after={})


def test_the_running_form_is_the_most_common_one() -> None:
    assert running_template([step(a="x:0.61.0"), step(a="x:0.61.0", b="x:v0.61.0")]) == "{semver}"
    assert running_template([step(a="x:latest"), step(a="x@sha256:00")]) is None


def test_choose_tag_follows_what_runs_and_warns_on_a_change_of_form() -> None:
    net = NetworkConfig.model_validate({"namespace": "a", "image": "x"})
    steps = [step(aztec="docker.io/x:0.61.0"), step(aztec="x:0.61.0", init="x:0.61.0")]
    plan = choose_tag(net, Version.parse("v0.62.0"), steps)
    assert plan.tag == "0.62.0" and plan.warnings == []
    assert steps[0].after == {"aztec": "docker.io/x:0.62.0"}
    assert steps[1].after == {"aztec": "x:0.62.0", "init": "x:0.62.0"}
    explicit = net.model_copy(update={"tag_template": "{version}"})
    plan = choose_tag(explicit, Version.parse("0.62.0"), steps)
    assert plan.tag == "v0.62.0"
    assert plan.warnings == [
        "⚠️ The tag form changes: `0.61.0` → `v0.62.0` (tag_template `{version}`). "
        "Check the registry publishes tags in this form."
    ]
    latest = [step(aztec="x:latest")]
    assert choose_tag(net, Version.parse("0.62.0"), latest).tag == "v0.62.0"
    with pytest.raises(CommandError, match="short sha"):
        choose_tag(net, Version.parse("0.6.0"), [step(aztec="x:v0.5.0-a1b2c3d")])


@pytest.mark.parametrize(
    ("image", "host", "path", "api"),
    [
        ("aztecprotocol/aztec", "docker.io", "aztecprotocol/aztec", "https://registry-1.docker.io"),
        ("ubuntu", "docker.io", "library/ubuntu", "https://registry-1.docker.io"),
        (
            "docker.io/library/ubuntu:22.04",
            "docker.io",
            "library/ubuntu",
            "https://registry-1.docker.io",
        ),
        (
            "index.docker.io/aztecprotocol/aztec",
            "docker.io",
            "aztecprotocol/aztec",
            "https://registry-1.docker.io",
        ),
        ("ghcr.io/org/animica-node:v1@sha256:ab", "ghcr.io", "org/animica-node", "https://ghcr.io"),
        ("localhost:5000/x/y:1", "localhost:5000", "x/y", "https://localhost:5000"),
        ("localhost/x", "localhost", "x", "https://localhost"),
    ],
)
def test_images_are_located_the_way_docker_resolves_names(
    image: str, host: str, path: str, api: str
) -> None:
    where = locate(image)
    assert (where.host, where.path, where.api_url) == (host, path, api)
