"""The docker images run the server as an unprivileged user (a compromised process cannot take the image
or its volume's other files as root); compose's replicas share one home folder and one database behind the
load balancer, with settings ragtune reads."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from core.settings import Settings

DOCKER = Path(__file__).resolve().parents[1] / "docker"


@pytest.mark.parametrize("dockerfile", sorted(DOCKER.glob("Dockerfile.*")), ids=lambda p: p.name)
def test_the_server_runs_as_a_user_that_is_not_root(dockerfile):
    lines = [line.strip() for line in dockerfile.read_text(encoding="utf-8").splitlines()]
    users = [i for i, line in enumerate(lines) if line.startswith("USER ")]
    command = next(i for i, line in enumerate(lines) if line.startswith("CMD "))
    assert users and users[-1] < command, "no USER before CMD: the server would run as root"
    user = lines[users[-1]].split()[1].split(":")[0]
    assert user not in ("root", "0")
    assert any(line.startswith("RUN ") and "useradd" in line and user in line for line in lines)
    assert any(f"chown {user}" in line for line in lines)  # it owns RAGTUNE_HOME (/data)


def test_compose_runs_replicas_sharing_one_home_and_one_database_behind_the_load_balancer():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    replicas = sorted(name for name, service in services.items() if service.get("image") == "ragtune:cpu")
    assert len(replicas) >= 2
    home = re.search(r"RAGTUNE_HOME=(\S+)", (DOCKER / "Dockerfile.cpu").read_text(encoding="utf-8"))[1]
    assert {volume for name in replicas for volume in services[name]["volumes"]} == {f"ragtune-home:{home}"}
    upstream = re.findall(r"^\s*server ([\w-]+):8000\b", (DOCKER / "nginx.conf").read_text(), re.MULTILINE)
    assert sorted(upstream) == replicas
    for name in replicas:
        url = services[name]["environment"]["RAGTUNE_FEEDBACK__DATABASE_URL"]
        database = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", url)).hostname  # compose fills ${...} in
        assert services[database]["image"].startswith("postgres:")


@pytest.mark.parametrize("service", ["ragtune-1", "ragtune-gpu"])
def test_every_setting_compose_sets_is_one_ragtune_reads(service):
    environment = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))["services"][service][
        "environment"
    ]
    for variable in environment:
        section, field = variable.removeprefix("RAGTUNE_").lower().split("__")
        assert field in Settings.model_fields[section].annotation.model_fields, variable
