#!/usr/bin/env bash
# Build the Dockerfile with buildah and run the image with podman, no Docker engine needed:
# /healthz answers 200 (from the host and through the image's HEALTHCHECK), `devopsbot ask`
# answers from the bundled sample data, the process runs as uid 10001, nothing in the image can
# import or bootstrap pip, SIGTERM stops it cleanly (exit 0), and the image size is printed.
# Exits non-zero on the first failure. Needs root and `apt-get install buildah podman runc
# debootstrap`; takes a few minutes. See README "Docker".
#
# Environment:
#   BASE_IMAGE  base for both stages (default: a local stand-in for python:3.11-slim-bookworm,
#               built by standin_base.sh when missing, since no image registry is reachable here;
#               set BASE_IMAGE=python:3.11-slim-bookworm PULL=missing where one is)
#   PULL        buildah --pull policy (default: never)
#   IMAGE       tag to build (default: localhost/devopsbot:image-test); KEEP_IMAGE=1 keeps it.
#               The stand-in base and buildah's layer cache stay for fast reruns
#               (`buildah rmi --prune` drops the cache).
#   NO_CACHE=1  build without buildah's layer cache (a cold build)
#   PYTHON      host interpreter for the fake Slack API and the HTTP checks (default: python3)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
STANDIN="localhost/devopsbot-standin-python:3.11-slim-bookworm"
BASE_IMAGE="${BASE_IMAGE:-$STANDIN}"
PULL="${PULL:-never}"
IMAGE="${IMAGE:-localhost/devopsbot:image-test}"
PYTHON="${PYTHON:-python3}"
QUESTION="how do I tail multiple pods"
name="devopsbot-image-test-$$"

step() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

for tool in buildah podman runc "$PYTHON"; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install -y buildah podman runc debootstrap)"
done
[[ "$(id -u)" == 0 ]] || fail "run as root: buildah and podman here use root's container storage"

# This sandbox has no CAP_SYS_RESOURCE, so podman's default rlimits (nofile 1048576, a high
# nproc) cannot be set; ask for what the host already allows instead. Harmless elsewhere.
nproc_max="$(ulimit -Hu)"
[[ "$nproc_max" == unlimited || "$nproc_max" -gt 4096 ]] && nproc_max=4096
ulimits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$nproc_max:$nproc_max")
podman_run=(podman run --runtime runc --cgroup-manager=cgroupfs "${ulimits[@]}")

fake_pid=""
cleanup() {
  local rc=$?
  podman rm --force --time 0 "$name" >/dev/null 2>&1 || true
  podman volume rm --force "$name" >/dev/null 2>&1 || true
  if [[ -n "$fake_pid" ]]; then kill "$fake_pid" 2>/dev/null || true; fi
  if [[ "${KEEP_IMAGE:-0}" != 1 ]]; then
    podman rmi "$IMAGE" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# -- base image --------------------------------------------------------------------------------
if [[ "$BASE_IMAGE" == "$STANDIN" ]] && ! buildah inspect --type image "$STANDIN" >/dev/null 2>&1; then
  step "stand-in base $STANDIN is missing: building it with debootstrap"
  start=$SECONDS
  "$here/standin_base.sh" "$STANDIN"
  echo "stand-in base built in $((SECONDS - start))s"
fi

# -- build ---------------------------------------------------------------------------------------
# pip inside the build uses the host's index only when it is an http(s) URL (file:// indexes are
# host paths the build cannot see) and the host's CA bundle as a secret, never a layer.
pip_conf() { "$PYTHON" -m pip config get "$1" 2>/dev/null || true; }
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
index_url="${PIP_INDEX_URL:-$(pip_conf global.index-url)}"
extra_urls="${PIP_EXTRA_INDEX_URL:-$(pip_conf global.extra-index-url)}"
extra_http="$(tr ' ' '\n' <<<"$extra_urls" | grep -E '^https?://' | paste -sd' ' || true)"
[[ "$index_url" =~ ^https?:// ]] && build_args+=(--build-arg "PIP_INDEX_URL=$index_url")
[[ -n "$extra_http" ]] && build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra_http")
cert="${PIP_CERT:-$(pip_conf global.cert)}"
[[ -z "$cert" && -s /etc/ssl/certs/ca-certificates.crt ]] && cert=/etc/ssl/certs/ca-certificates.crt
secret=()
[[ -n "$cert" && -s "$cert" ]] && secret=(--secret "id=pip_cert,src=$cert")
cache=(--layers)
[[ "${NO_CACHE:-0}" == 1 ]] && cache=(--no-cache)

step "buildah bud $IMAGE (base $BASE_IMAGE)"
start=$SECONDS
# --format docker: the OCI format has no HEALTHCHECK and buildah would drop it.
buildah bud --pull="$PULL" --network host --format docker "${cache[@]}" "${ulimits[@]}" \
  "${build_args[@]}" "${secret[@]}" --tag "$IMAGE" --file "$repo/Dockerfile" "$repo"
build_seconds=$((SECONDS - start))
echo "build time: ${build_seconds}s"

user="$(podman image inspect --format '{{.Config.User}}' "$IMAGE")"
[[ "$user" == "10001:10001" ]] || fail "image USER is '$user', expected 10001:10001"
health_cfg="$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")"
[[ "$health_cfg" == *healthz* ]] || fail "image has no HEALTHCHECK calling /healthz: $health_cfg"

# -- run: the bot against a fake Slack Web API on loopback, with a throwaway volume --------------
step "start the fake Slack Web API and the container"
fifo="$(mktemp -u)"
mkfifo "$fifo"
PYTHONPATH="$repo/tests" "$PYTHON" -c '
import sys, time
from fakes import FakeSlack
fake = FakeSlack().start()
print(fake.api_url, flush=True)
time.sleep(3600)
' >"$fifo" &
fake_pid=$!
read -r slack_api_url <"$fifo"
rm -f "$fifo"
port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

podman volume create "$name" >/dev/null
# --no-healthcheck: podman schedules health checks with systemd timers, and there is no systemd
# here; the image's HEALTHCHECK command is run once by hand below instead.
"${podman_run[@]}" --detach --name "$name" --network host --no-healthcheck \
  --volume "$name:/data" \
  --env SLACK_BOT_TOKEN=xoxb-image-test \
  --env SLACK_SIGNING_SECRET=0123456789abcdef0123456789abcdef \
  --env "SLACK_API_URL=$slack_api_url" \
  --env DEVOPSBOT_HOST=127.0.0.1 --env "DEVOPSBOT_PORT=$port" \
  "$IMAGE" >/dev/null

step "GET http://127.0.0.1:$port/healthz"
start=$SECONDS
if ! "$PYTHON" - "$port" <<'EOF'; then
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
deadline = time.monotonic() + 180
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(response.status, response.read().decode()[:200])
            sys.exit(0 if response.status == 200 else 1)
    except OSError as exc:
        if time.monotonic() > deadline:
            print(f"no 200 from {url}: {exc}")
            sys.exit(1)
        time.sleep(1)
EOF
  podman logs "$name" >&2 || true
  fail "/healthz did not answer 200"
fi
echo "healthy after $((SECONDS - start))s"

# The HEALTHCHECK's exec-form test, ["CMD", argv...], run the way the engine runs it.
mapfile -d '' health_argv < <("$PYTHON" -c '
import json, sys
test = json.loads(sys.argv[1])["Test"]
assert test[0] == "CMD", f"HEALTHCHECK is not exec form: {test}"
sys.stdout.write("".join(arg + "\0" for arg in test[1:]))
' "$health_cfg")
podman exec "$name" "${health_argv[@]}" || fail "the image's HEALTHCHECK command reports unhealthy"
echo "HEALTHCHECK command (${health_argv[*]:0:2} …) inside the container: exit 0, healthy"

step "devopsbot ask \"$QUESTION\" inside the container"
answer="$(podman exec "$name" devopsbot ask "$QUESTION")"
printf '%s\n' "$answer"
[[ "$answer" == *stern* ]] || fail "ask did not print the stern answer"
podman exec "$name" devopsbot ask --json "$QUESTION" | "$PYTHON" -c '
import json, sys
answer = json.load(sys.stdin)
first = answer["results"][0] if answer["results"] else {}
sys.exit(0 if first.get("title") == "stern" else f"stern is not the first result: {answer}")
' || fail "ask --json did not put the stern note first"

step "user and packaging"
uid="$(podman exec "$name" awk '/^Uid:/ {print $2}' /proc/1/status)"
[[ "$uid" == 10001 ]] || fail "PID 1 runs as uid $uid, expected 10001"
echo "PID 1 runs as uid $uid"
# The venv's interpreter (on PATH) and the base one must both lack pip, setuptools and wheel, and
# ensurepip must have nothing to bootstrap from.
if ! podman exec "$name" sh -c '
  found=0
  for py in python /usr/local/bin/python3 /usr/bin/python3; do
    command -v "$py" >/dev/null || continue
    for mod in pip setuptools wheel; do
      if "$py" -c "import $mod" 2>/dev/null; then echo "$py can import $mod"; found=1; fi
    done
  done
  if command -v pip pip3 >/dev/null; then echo "a pip command is on PATH"; found=1; fi
  if python -m ensurepip --user >/dev/null 2>&1; then echo "ensurepip installed pip"; found=1; fi
  exit $found'; then
  fail "pip or its tools are in the final image"
fi
podman exec "$name" python -c "import pip" 2>/dev/null && fail "python -c 'import pip' succeeded"
echo "python -c 'import pip' fails; no setuptools, wheel, pip command or ensurepip wheels"

step "SIGTERM"
podman stop --time 30 "$name" >/dev/null
code="$(podman inspect --format '{{.State.ExitCode}}' "$name")"
[[ "$code" == 0 ]] || fail "devopsbot exited $code on SIGTERM, expected a clean 0"
echo "stopped cleanly on SIGTERM (exit 0)"

step "size"
size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
base_size="$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")"
echo "image $IMAGE: $((size / 1000000)) MB (base $BASE_IMAGE: $((base_size / 1000000)) MB," \
  "devopsbot adds $(((size - base_size) / 1000000)) MB); build ${build_seconds}s"
echo "OK: docker image built, healthy, answers, uid 10001, no pip"
