"""The docker images run the server as an unprivileged user (a compromised process cannot take the image
or its volume's other files as root)."""

from pathlib import Path

import pytest

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
