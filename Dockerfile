# syntax=docker/dockerfile:1
# devopsbot: `docker build -t devopsbot .` then see the README ("Docker") for `docker run`.
# BASE_IMAGE exists for tests/docker/build_and_run.sh, which builds on a local stand-in where no
# registry is reachable; everywhere else leave it at the official image.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# -- builder: compilers and pip live only in this stage ----------------------------------------
FROM ${BASE_IMAGE} AS builder

# Only for hosts whose package index is not PyPI (a mirror or proxy); unset means PyPI.
ARG PIP_INDEX_URL=""
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Most dependencies ship wheels; the compiler is here for the platforms where one must be built.
# DL3008: build-essential is a metapackage whose exact version differs per Debian point release;
# pinning it would break the build on every base image refresh, and it never reaches the runtime.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
# A CA bundle for a TLS-intercepting proxy comes in as a build secret (`--secret id=pip_cert,src=…`)
# so it is never part of a layer. pip and setuptools leave the venv once the install is done: the
# runtime image cannot install anything. DL3013: this installs the project itself; its
# dependency ranges live in pyproject.toml.
# hadolint ignore=DL3013
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && pip install ".[postgres]" \
    && pip uninstall --yes pip setuptools wheel

# -- runtime: the virtualenv, a non-root user and a volume for the SQLite database ---------------
FROM ${BASE_IMAGE}

# The base interpreter's own pip, setuptools and wheel (and ensurepip's copies) go too.
RUN python -m pip uninstall --yes pip setuptools wheel \
    && rm -rf "$(python -c 'import ensurepip, os; print(os.path.dirname(ensurepip.__file__))')/_bundled" \
        /usr/share/python-wheels \
    && groupadd --system --gid 10001 devopsbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin devopsbot \
    && mkdir -p /data \
    && chown 10001:10001 /data

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEVOPSBOT_DATABASE_URL=sqlite:////data/devopsbot.db \
    DEVOPSBOT_HOST=0.0.0.0 \
    DEVOPSBOT_PORT=3000

COPY --from=builder /opt/venv /opt/venv

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

# HTTP mode: Slack's request URL is https://your-host/slack/events. Both modes serve /healthz.
EXPOSE 3000

# The slim image has no curl; urlopen fails on a refused connection or a 503 (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DEVOPSBOT_PORT', '3000'), timeout=4)"]

# Exec form: devopsbot is PID 1 and receives SIGTERM itself for a clean shutdown.
CMD ["devopsbot", "run"]
