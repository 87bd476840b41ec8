"""200 notes as a team saves them from Slack threads: about its own services, in its own words.

They are distractors for the quality bench: they share the eval questions' vocabulary (pods,
deploys, logs, disks, certificates, git) but answer questions about *this* team's systems, so
adding them must not push the right generic answer down. Made from templates with a fixed seed.
"""

from __future__ import annotations

import random

SERVICES = (
    "payments-api",
    "checkout",
    "auth-service",
    "search-indexer",
    "billing-worker",
    "notifications",
    "edge-gateway",
    "reporting-db",
    "user-profile",
    "inventory",
    "media-resizer",
    "ledger",
    "feature-flags",
    "webhooks-relay",
    "pricing",
    "session-store",
    "audit-log",
    "recommendations",
    "email-sender",
    "geo-lookup",
)
CHANNELS = ("ops", "incidents", "platform", "sre", "deploys")
PEOPLE = ("Ana", "Bilal", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana")

TEMPLATES = (
    (
        "Stuck rollout of {svc}",
        "The {svc} rollout hung with {n} of {m} new pods not ready. The readiness probe hit "
        "/healthz on port {port} but the new image listens on {port2}. {who} fixed the probe in "
        "the chart values and re-ran the pipeline; the old ReplicaSet scaled down on its own.",
    ),
    (
        "{svc} OOMKilled after the {month} upgrade",
        "After the {month} base image upgrade {svc} was OOMKilled every few hours. The JVM "
        "ignored the container limit; setting -XX:MaxRAMPercentage=75 and the limit to "
        "{mem}Mi stopped it. Dashboards: Grafana › {svc} › memory.",
    ),
    (
        "Rotating the {svc} database password",
        "Passwords for {svc} live in Vault under secret/{svc}/db. Rotate with the "
        "`rotate-db-creds {svc}` job in CI, then restart the pods so they read the new secret. "
        "{who} did it last in {month}; it takes about {n} minutes.",
    ),
    (
        "{svc} TLS certificate expired",
        "The {svc} ingress certificate expired because the cert-manager Issuer still used the "
        "staging ACME endpoint. Switched the annotation to letsencrypt-prod and deleted the old "
        "Certificate so it was re-issued. Alert added at 14 days before expiry.",
    ),
    (
        "Who owns {svc}",
        "{svc} is owned by team {team}; on-call rotation in PagerDuty '{team}-primary'. "
        "Escalate to {who} during business hours. Runbook: wiki › services › {svc}.",
    ),
    (
        "{svc} latency spike on {day}s",
        "Every {day} around {hour}:00 {svc} p99 latency triples: the weekly reporting export "
        "runs against the same replica. Moved the export to the read replica "
        "reporting-ro-{n}; latency is flat since.",
    ),
    (
        "Restoring {svc} from backup",
        "Backups of {svc} are nightly snapshots kept {n} days. To restore, pick the snapshot in "
        "the backups console, restore into a new instance, then switch the {svc} connection "
        "string secret and restart. Last drill by {who}: {m} minutes end to end.",
    ),
    (
        "{svc} queue backlog",
        "When the {svc} queue backs up past {n}k messages, scale the consumers with the "
        "{svc}-consumers HPA max raised to {m}; the backlog clears in about {hour} minutes. "
        "The root cause last time was a poison message; it now goes to the dead-letter queue.",
    ),
    (
        "Feature freeze for {svc}",
        "{svc} is frozen for deploys from the {n}th to the {m}th of {month} (quarter close). "
        "Only hotfixes approved by {who} go out, with the 'hotfix' label on the merge request.",
    ),
    (
        "{svc} staging environment reset",
        "Staging data for {svc} is reset every {day} night from an anonymised copy of "
        "production. If you need data kept, tag the rows with keep=true. Ask {who} before "
        "changing the reset job; it also seeds the {team} test accounts.",
    ),
)

MONTHS = ("January", "March", "May", "July", "September", "November")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
TEAMS = ("atlas", "borealis", "cobalt", "delta", "ember")


def team_notes(count: int = 200, seed: int = 11) -> list[dict[str, str]]:
    """`count` saved notes: title, section (the channel) and text, in a fixed order."""
    rng = random.Random(seed)
    notes = []
    pairs = [(s, t) for t in TEMPLATES for s in SERVICES]
    rng.shuffle(pairs)
    for i in range(count):
        svc, (title, body) = pairs[i % len(pairs)]
        values = {
            "svc": svc,
            "n": rng.randint(2, 30),
            "m": rng.randint(3, 60),
            "port": rng.choice((8080, 8081, 9000)),
            "port2": rng.choice((3000, 5000, 8443)),
            "who": rng.choice(PEOPLE),
            "month": rng.choice(MONTHS),
            "mem": rng.choice((512, 768, 1024, 2048)),
            "team": rng.choice(TEAMS),
            "day": rng.choice(DAYS),
            "hour": rng.randint(1, 23),
        }
        notes.append(
            {
                "title": title.format(**values),
                "section": rng.choice(CHANNELS),
                "text": body.format(**values),
            }
        )
    return notes
