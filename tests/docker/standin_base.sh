#!/usr/bin/env bash
# Build a stand-in for python:3.11-slim-bookworm where no image registry is reachable:
# Debian bookworm minbase from the mirror apt already uses, Debian's python3 (3.11) with venv,
# and pip/setuptools/wheel installed system-wide as the official image has them, so the
# Dockerfile's step that removes them is exercised too. Usage: standin_base.sh [IMAGE_NAME]
set -euo pipefail

IMAGE="${1:-localhost/devopsbot-standin-python:3.11-slim-bookworm}"

for tool in buildah debootstrap apt-cache; do
  command -v "$tool" >/dev/null || {
    echo "standin_base.sh: $tool is missing (apt-get install -y buildah podman runc debootstrap)" >&2
    exit 2
  }
done

# The archive apt already uses for bookworm/main; never a host of our own choosing.
mirror="$(apt-cache policy | awk '$3 == "bookworm/main" {print $2; exit}')"
if [[ -z "$mirror" ]]; then
  echo "standin_base.sh: apt knows no bookworm/main archive; run apt-get update first" >&2
  exit 2
fi

ctr="$(buildah from scratch)"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
root="$(buildah mount "$ctr")"

echo "standin_base.sh: debootstrap bookworm (minbase) from $mirror" >&2
debootstrap --variant=minbase \
  --include=ca-certificates,python3,python3-venv,python-is-python3 \
  bookworm "$root" "$mirror" >&2

# The official image's interpreter is not "externally managed" and has pip, setuptools and
# wheel in its site-packages; give the stand-in the same, from the wheels Debian ships.
rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
# shellcheck disable=SC2016  # expanded by the chroot's shell, not this one
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root sh -ec '
  pip_whl=$(ls /usr/share/python-wheels/pip-*.whl)
  wanted="pip setuptools"
  ls /usr/share/python-wheels/wheel-*.whl >/dev/null 2>&1 && wanted="$wanted wheel"
  python3 "$pip_whl/pip" install --quiet --no-index --find-links /usr/share/python-wheels \
    --disable-pip-version-check $wanted
  python3 -m pip --version
'
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /root/.cache'

buildah config \
  --env LANG=C.UTF-8 \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd python3 \
  --label org.opencontainers.image.description="stand-in for python:3.11-slim-bookworm (Debian python3)" \
  "$ctr"
buildah umount "$ctr" >/dev/null
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
trap - EXIT
echo "standin_base.sh: committed $IMAGE" >&2
