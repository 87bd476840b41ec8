# syntax=docker/dockerfile:1
# devopsbot: `docker build -t devopsbot .` then see the README ("Docker") for `docker run`.

# -- builder: compilers live only in this stage ------------------------------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Most dependencies ship wheels; the compiler is here for the platforms where one must be built.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install ".[postgres]"

# -- runtime: the virtualenv, a non-root user and a volume for the SQLite database ---------------
FROM python:3.11-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEVOPSBOT_DATABASE_URL=sqlite:////data/devopsbot.db \
    DEVOPSBOT_HOST=0.0.0.0 \
    DEVOPSBOT_PORT=3000

RUN groupadd --system --gid 10001 devopsbot \
    && useradd --system --uid 10001 --gid devopsbot --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin devopsbot \
    && mkdir -p /data \
    && chown devopsbot:devopsbot /data

COPY --from=builder /opt/venv /opt/venv

USER devopsbot
WORKDIR /data
VOLUME ["/data"]

# HTTP mode: Slack's request URL is https://your-host/slack/events. Both modes serve /healthz.
EXPOSE 3000

# The slim image has no curl; urlopen fails on a refused connection or a 503 (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DEVOPSBOT_PORT', '3000'), timeout=4)"

# Exec form: devopsbot is PID 1 and receives SIGTERM itself for a clean shutdown.
CMD ["devopsbot", "run"]
