"""The notes chunker on the team's real notes: chunks as people wrote them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.knowledge.notes import chunk_markdown, note_title


@pytest.fixture
def chunks(seed_notes):
    return chunk_markdown(seed_notes)


def _one(chunks, predicate):
    found = [c for c in chunks if predicate(c)]
    assert found, "no chunk matched"
    return found[0]


def test_a_bullet_keeps_its_heading_path(chunks):
    stern = _one(chunks, lambda c: c.text.startswith("stern:"))
    assert stern.section == "Kubernetes › Core Tools"
    assert stern.title == "stern"
    assert stern.text == (
        "stern: nice log viewer/tailer that can follow multiple pods: "
        "`stern img-optimizer-deployment`"
    )


def test_a_nested_bullet_keeps_its_parent(chunks):
    execsnoop = _one(chunks, lambda c: c.text.startswith("execsnoop"))
    assert execsnoop.section == "Tools › bcc-tools"
    parent = _one(chunks, lambda c: c.title == "bcc-tools")
    # The parent bullet carries its children, so a question about the group finds them all.
    assert "execsnoop" in parent.text and "biosnoop" in parent.text


def test_kafka_code_blocks_keep_their_bold_titles(chunks):
    kafka = [c for c in chunks if c.section == "Kafka › Tips" and "```" in c.text]
    titles = [c.title for c in kafka]
    assert titles[0] == "Inspect topics and partitions"
    assert "kafkacat -b localhost:9092 -L" in kafka[0].text
    assert "Inspect topics and partitions: Example output" in titles
    # Notion's split bold (`**L****ist consumer groups**`) reads as the words people see.
    assert "List consumer groups" in titles
    assert "Inspect consumer group" in titles


def test_loose_paragraphs_and_quotes_are_chunks(chunks):
    quote = _one(chunks, lambda c: "If you use GKE, you have been spoiled" in c.text)
    assert quote.section == "Kubernetes › Services comparison"
    assert not quote.text.startswith(">")


def test_line_ranges_point_back_into_the_file(seed_notes, chunks):
    lines = seed_notes.splitlines()
    stern = _one(chunks, lambda c: c.title == "stern")
    assert lines[stern.line_start - 1].lstrip("- ").startswith("stern:")


def test_odd_markdown_does_not_break_the_chunker():
    text = (
        "# T\n\n- \n- a\n    - b\n\n```\n```\n\n![img](x.png)\n\n> quoted\n\nplain **bold** end\n"
    )
    chunks = chunk_markdown(text)
    texts = [c.text for c in chunks]
    assert "a\n- b" in texts and "b" in texts
    assert "quoted" in texts
    assert "plain **bold** end" in texts
    assert all(c.text.strip() for c in chunks)


FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def _titles_end_on_words(chunks) -> None:
    """A title that was shortened ends with "…" after a whole word of the text."""
    for c in chunks:
        if c.title.endswith("…"):
            kept = c.title[:-1]
            flat = " ".join(c.text.split())
            assert flat.startswith(kept) and flat[len(kept)] in " ,;:", c.title


# -- 1. soft-wrapped text is one chunk with a whole title ----------------------------------------


def test_a_soft_wrapped_paragraph_is_one_chunk_with_a_sentence_title():
    text = (
        "When a node runs out of disk the kubelet starts evicting pods, which looks\n"
        "like a crash loop from the outside. Check `df -h` on the node first.\n"
    )
    (chunk,) = chunk_markdown(text)
    assert chunk.text == (
        "When a node runs out of disk the kubelet starts evicting pods, which looks like a "
        "crash loop from the outside. Check `df -h` on the node first."
    )
    assert (chunk.line_start, chunk.line_end) == (1, 2)
    # The first sentence is too long for a title: cut after a whole word, never mid-line.
    assert (
        chunk.title
        == "When a node runs out of disk the kubelet starts evicting pods, which looks like…"
    )
    _titles_end_on_words([chunk])


def test_a_wrapped_bullet_is_not_named_by_its_first_line():
    text = (
        "# Deployments\n\n"
        "- Restart a deployment with\n"
        "  `kubectl rollout restart deploy/web` and wait for it.\n"
        "- stern: tail many pods at once,\n"
        "  even across namespaces\n"
    )
    restart, stern = chunk_markdown(text)
    # "Restart a deployment with" is no name: the bullet is about its heading.
    assert restart.title == "Deployments"
    assert restart.text == (
        "Restart a deployment with `kubectl rollout restart deploy/web` and wait for it."
    )
    assert stern.title == "stern"
    assert stern.text == "stern: tail many pods at once, even across namespaces"


def test_a_wrapped_lead_paragraph_titles_its_code_block_whole():
    text = (
        "Restart every pod of a deployment\n"
        "without downtime\n"
        "```\n"
        "kubectl rollout restart deploy/web\n"
        "```\n"
    )
    (chunk,) = chunk_markdown(text)
    assert chunk.title == "Restart every pod of a deployment without downtime"
    assert chunk.text == "```\nkubectl rollout restart deploy/web\n```"
    assert (chunk.line_start, chunk.line_end) == (1, 5)


def test_a_long_lead_paragraph_is_shortened_and_kept_in_the_text():
    lead = (
        "Drain the node before maintenance so that its pods are rescheduled elsewhere and "
        "nothing is lost. Then cordon it."
    )
    (chunk,) = chunk_markdown(lead + "\n```\nkubectl drain NODE --ignore-daemonsets\n```\n")
    assert chunk.title.endswith("…") and len(chunk.title) <= 81
    assert chunk.text.startswith(lead + "\n```\n")
    _titles_end_on_words([chunk])


# -- 2. a numbered procedure stays whole -------------------------------------------------------


def test_a_numbered_procedure_is_one_chunk_under_its_heading():
    text = (
        "## Rotate the TLS certificate\n\n"
        "1. Renew it:\n"
        "   ```\n"
        "   certbot renew --force-renewal\n"
        "   ```\n"
        "2. Check the nginx config\n"
        "   - `nginx -t` must say ok\n"
        "3. Reload nginx: `systemctl reload nginx`\n"
        "\n"
        "- certbot: free certificates from Let's Encrypt\n"
        "- nginx: the proxy in front\n"
    )
    chunks = chunk_markdown(text)
    steps = [c for c in chunks if "1. Renew it:" in c.text]
    assert len(steps) == 1
    (proc,) = steps
    assert proc.title == "Rotate the TLS certificate"
    assert proc.section == "Rotate the TLS certificate"
    for part in ("certbot renew --force-renewal", "- `nginx -t` must say ok", "3. Reload nginx"):
        assert part in proc.text
    assert (proc.line_start, proc.line_end) == (3, 10)
    # No step is a chunk of its own; bullets after it keep one chunk each.
    assert [c.title for c in chunks] == ["Rotate the TLS certificate", "certbot", "nginx"]


# -- 3. tables ---------------------------------------------------------------------------------


TABLE_NOTE = (
    "# Networking\n\n"
    "## Ports\n\n"
    "| Service | Port | Protocol |\n"
    "|---------|-----:|----------|\n"
    "| ssh     | 22   | TCP      |\n"
    "| dns     | 53   | UDP      |\n"
    "\n"
    "Ports to open on the bastion:\n\n"
    "| Port | Why |\n"
    "|---|---|\n"
    "| 22 | ssh |\n"
)


def test_a_table_is_one_chunk_titled_by_its_heading_or_its_lead_line():
    ports, bastion = chunk_markdown(TABLE_NOTE)
    assert ports.title == "Ports" and ports.section == "Networking › Ports"
    assert ports.text.splitlines()[0] == "| Service | Port | Protocol |"
    assert "| dns     | 53   | UDP      |" in ports.text
    assert (ports.line_start, ports.line_end) == (5, 8)
    assert bastion.title == "Ports to open on the bastion"
    assert bastion.text.startswith("Ports to open on the bastion:\n| Port | Why |")


# -- 4. nothing empty, nothing that is only a fence ----------------------------------------------


def _assert_no_bare_chunks(chunks) -> None:
    for c in chunks:
        words = "".join(
            ln for ln in c.text.splitlines() if not ln.strip().startswith(("```", "~~~"))
        )
        assert any(ch.isalnum() for ch in words), c


def test_a_closing_fence_outside_its_bullet_does_not_swallow_the_rest():
    # The closing ``` at the margin used to open a new block holding the rest of the file.
    text = "# Tips\n\n- List files:\n    ```\n    ls -la\n```\n\n- next tip: `uptime`\n"
    chunks = chunk_markdown(text)
    _assert_no_bare_chunks(chunks)
    assert [c.text for c in chunks] == ["List files:\n```\nls -la\n```", "next tip: `uptime`"]


def test_code_holding_a_fence_is_not_split_into_bare_fences():
    from bot.slack.mrkdwn import markdown_pieces

    fenced_in_indent = "# H\n\ntext\n\n    ```bash\n    ls\n    ```\n"
    fence_in_fence = "# H\n\n````\n```\nx\n```\n````\n"
    for text in (fenced_in_indent, fence_in_fence):
        (chunk,) = chunk_markdown(text)
        # One code piece in Slack, never a stray ``` shown as text.
        assert [kind for kind, _ in markdown_pieces(chunk.text)] == ["code"], chunk.text
    (inner,) = chunk_markdown(fenced_in_indent)
    assert inner.text == "```\nls\n```"


def test_empty_or_punctuation_only_blocks_make_no_chunk_and_lose_no_lead():
    text = "# H\n\nRun this:\n```\n```\n\n- `<?>`\n\n...\n\n```\n\n```\n\n- real: `uptime`\n\n```"
    chunks = chunk_markdown(text)
    _assert_no_bare_chunks(chunks)
    assert [c.text for c in chunks] == ["Run this:", "real: `uptime`"]


# -- 5. front matter and the note's title --------------------------------------------------------


FRONT_MATTER_NOTE = (
    "---\n"
    'title: "Runbook: certificates"\n'
    "tags: [ops, tls]\n"
    "---\n"
    "# Certificates\n"
    "\n"
    "- renew: `certbot renew`\n"
)


def test_front_matter_is_not_body_text_and_titles_the_note():
    chunks = chunk_markdown(FRONT_MATTER_NOTE)
    assert [c.text for c in chunks] == ["renew: `certbot renew`"]
    assert not any("tags" in c.text or "Runbook" in c.title for c in chunks)
    # Line numbers still count the front matter lines of the file.
    assert chunks[0].line_start == 7
    assert FRONT_MATTER_NOTE.splitlines()[chunks[0].line_start - 1] == "- renew: `certbot renew`"
    assert note_title(FRONT_MATTER_NOTE) == "Runbook: certificates"


def test_only_front_matter_titles_a_note_so_answers_keep_the_file_name():
    assert note_title("# kubectl logs\n\n- a\n\n## More\n") is None
    assert note_title("---\ntags: [x]\n---\n# Only\n") is None
    assert note_title("- just bullets\n") is None


def test_loading_a_file_names_its_source_by_its_title(sessions, tmp_path):
    from bot.db.models import Source
    from bot.knowledge.load import load_note_file

    titled = tmp_path / "certs.md"
    titled.write_text(FRONT_MATTER_NOTE, "utf-8")
    untitled = tmp_path / "team.md"
    untitled.write_text("# A\n\n- x: y\n\n# B\n\n- z: w\n", "utf-8")
    with sessions.begin() as s:
        load_note_file(s, titled)
        load_note_file(s, untitled)
    with sessions() as s:
        titles = sorted(s.scalars(select(Source.title)))
    assert titles == ["Runbook: certificates", "team.md"]


# -- 6. a described example is one chunk ---------------------------------------------------------


def test_tldr_examples_are_one_chunk_each_under_the_page_title():
    chunks = chunk_markdown(_fixture("kubectl-logs.md"))
    assert len(chunks) == 1 + 7  # the page description, then one chunk per example
    assert {c.title for c in chunks} == {"kubectl logs"}
    assert {c.section for c in chunks} == {"kubectl logs"}
    assert chunks[0].text.startswith("Show logs for containers in a pod. More information:")
    stream = _one(chunks, lambda c: c.text.startswith("Stream pod logs:"))
    assert stream.text == "Stream pod logs:\n`kubectl logs {{[-f|--follow]}} {{pod_name}}`"
    assert (stream.line_start, stream.line_end) == (18, 20)


def test_a_described_example_keeps_a_command_that_is_only_punctuation():
    chunks = chunk_markdown(_fixture("iftop.md"))
    assert chunks[-1].text == "Display help:\n`<?>`"
    assert all("\n`" in c.text for c in chunks[1:])


def test_a_line_ending_with_a_colon_introduces_the_code_after_it():
    text = (
        "# Deploy\n\n"
        "- Install the CLI:\n\n"
        "```\npip install devopsbot\n```\n\n"
        "Restart every pod of a `Deployment` without\ndowntime, one at a time:\n\n"
        "`kubectl rollout restart deploy/web`\n"
    )
    install, restart = chunk_markdown(text)
    assert install.title == restart.title == "Deploy"
    assert install.text == "Install the CLI:\n```\npip install devopsbot\n```"
    assert restart.text == (
        "Restart every pod of a `Deployment` without downtime, one at a time:\n"
        "`kubectl rollout restart deploy/web`"
    )
    assert (restart.line_start, restart.line_end) == (9, 12)


def test_a_section_that_opens_with_code_keeps_each_description_after_its_command():
    # The cheat-sheet habit: the command first, what it does on the line below.
    text = (
        "### Systems\n\n"
        "```sh\ndocker system df\n```\n\n"
        "Show docker disk usage\n\n"
        "```sh\ndocker system events\n```\n\n"
        "Get real time events from the server\n"
    )
    usage, events = chunk_markdown(text)
    assert usage.text == "```\ndocker system df\n```\nShow docker disk usage"
    assert events.text == "```\ndocker system events\n```\nGet real time events from the server"
    assert (usage.line_start, usage.line_end) == (3, 7)
    assert usage.title == events.title == "Systems"


def test_a_section_that_opens_with_prose_still_leads_its_code_with_it():
    text = (
        "### Systems\n\n"
        "Show docker disk usage\n\n"
        "```sh\ndocker system df\n```\n\n"
        "Get real time events from the server\n\n"
        "```sh\ndocker system events\n```\n"
    )
    usage, events = chunk_markdown(text)
    assert usage.text.startswith("```\ndocker system df")
    assert usage.title == "Show docker disk usage"
    assert events.text.startswith("```\ndocker system events")
    assert events.title == "Get real time events from the server"


def test_a_fence_written_right_under_a_bullet_belongs_to_it():
    text = (
        "## Everyday use\n\n"
        "- To get a file's permissions in octal, use something like\n"
        "```sh\nstat -c '%a %n' /etc/timezone\n```\n\n"
        "- Use `pstree -p` to see the process tree.\n\n"
        "```sh\nunrelated --example\n```\n"
    )
    octal, pstree, unrelated = chunk_markdown(text)
    assert octal.text == (
        "To get a file's permissions in octal, use something like\n"
        "```\nstat -c '%a %n' /etc/timezone\n```"
    )
    # Past a blank line, without a colon, the code is not the bullet's.
    assert pstree.text == "Use `pstree -p` to see the process tree."
    assert unrelated.text == "```\nunrelated --example\n```"


def test_a_table_of_contents_is_not_indexed():
    text = (
        "# Guide\n\n"
        "- [Basics](#basics)\n"
        "  - [Shells](#shells)\n"
        "- [Everyday use](#everyday-use)\n\n"
        "[Back to top](#guide) · [Basics](#basics)\n\n"
        "## Basics\n\n"
        "- See [the runbook](https://wiki.example.com/runbook) for paging.\n"
        "- [Deploy checklist](https://wiki.example.com/deploy)\n"
    )
    texts = [c.text for c in chunk_markdown(text)]
    assert not [t for t in texts if "](#" in t]
    assert "[Deploy checklist](https://wiki.example.com/deploy)" in texts


def test_jekyll_markup_lines_are_not_text():
    text = (
        "---\ntitle: Screen\n---\n{% raw %}\n\n"
        "## Basics\n"
        "{: .-three-column}\n\n"
        "| Key | Action |\n| --- | --- |\n| `C-a d` | detach |\n"
        "{: .-shortcuts}\n\n"
        "```jinja\n{% if ansible_os_family == 'Debian' %}\n{: not_markup }\n```\n"
        "{% endraw %}\n"
    )
    table, code = chunk_markdown(text)
    assert "{:" not in table.text
    assert table.text.endswith("| `C-a d` | detach |")
    # In code the same lines are the code.
    assert code.text == "```\n{% if ansible_os_family == 'Debian' %}\n{: not_markup }\n```"


RUNBOOK = """---
title: Kube Pod Crash Looping
---

# KubePodCrashLooping

## Diagnosis

- Check pod events via `kubectl describe pod $POD`.
- Check pod logs via `kubectl logs $POD --previous`.

Other things to check:

- app waits for other services to start, such as database
- missing files such as configmaps/secrets/volumes

## Mitigation

Talk with developers about the app's defaults.
"""


def test_a_short_section_of_checks_is_also_one_answer():
    chunks = chunk_markdown(RUNBOOK)
    whole = [c for c in chunks if c.text.startswith("- Check pod events")]
    assert len(whole) == 1
    assert whole[0].title == "Diagnosis"
    assert whole[0].section == "KubePodCrashLooping › Diagnosis"
    assert whole[0].text == (
        "- Check pod events via `kubectl describe pod $POD`.\n"
        "- Check pod logs via `kubectl logs $POD --previous`.\n"
        "Other things to check:\n"
        "- app waits for other services to start, such as database\n"
        "- missing files such as configmaps/secrets/volumes"
    )
    assert whole[0].line_start == 9 and whole[0].line_end >= 15  # the section's lines
    # Each check is still an answer of its own, for the narrower question.
    assert any(c.text == "Check pod logs via `kubectl logs $POD --previous`." for c in chunks)


def test_a_line_ending_with_a_colon_keeps_its_checklist_with_it():
    chunks = chunk_markdown(RUNBOOK)
    listed = [c for c in chunks if c.text.startswith("Other things to check:")]
    assert [c.text for c in listed] == [
        "Other things to check:\n"
        "- app waits for other services to start, such as database\n"
        "- missing files such as configmaps/secrets/volumes"
    ]
    assert listed[0].title == "Diagnosis"


def test_a_catalogue_of_named_entries_is_not_merged_into_one_answer():
    text = (
        "## Core Tools\n\n"
        "- stern: tail many pods at once\n"
        "- k9s: a terminal UI for the cluster\n\n"
        "Also worth a look:\n\n"
        "- kubectx: switch contexts\n"
        "- kubens: switch namespaces\n"
    )
    texts = [c.text for c in chunk_markdown(text)]
    assert texts == [
        "stern: tail many pods at once",
        "k9s: a terminal UI for the cluster",
        "Also worth a look:",
        "kubectx: switch contexts",
        "kubens: switch namespaces",
    ]


def test_hugo_shortcodes_are_markup_and_page_links_stay_links():
    text = (
        "## Mitigation\n\n"
        "{{< hint warning >}}\n"
        'See [Disk full]({{< ref "./DiskFull.md" >}}) first.\n'
        "{{< /hint >}}\n"
    )
    (only,) = chunk_markdown(text)
    assert only.text == "See [Disk full](./DiskFull.md) first."


def test_an_mkdocs_admonition_is_prose_not_code():
    text = (
        "## Failover\n\n"
        '!!! warning "Before you start"\n'
        "    Make sure replication lag is below 10 seconds,\n"
        "    or writes are lost.\n\n"
        "!!! tip\n\n"
        "    Check the lag first:\n\n"
        "    ```bash\n    psql -c 'select 1'\n    ```\n\n"
        "```\n!!! note\n    inside code it stays code\n```\n"
    )
    warning, tip, code = chunk_markdown(text)
    assert warning.text == (
        "**Before you start** Make sure replication lag is below 10 seconds, or writes are lost."
    )
    assert (warning.line_start, warning.line_end) == (3, 5)
    assert tip.text == "Check the lag first:\n```\npsql -c 'select 1'\n```"
    assert code.text == "```\n!!! note\n    inside code it stays code\n```"


def test_a_github_alert_marker_is_not_text():
    (note,) = chunk_markdown("> [!WARNING]\n> Fence the old primary before it comes back.\n")
    assert note.text == "Fence the old primary before it comes back."


def test_a_front_matter_title_heads_a_page_without_its_own_h1():
    # Jekyll and Hugo render `title:` as the page's H1; the chunks sit under it as they would.
    page = "---\ntitle: tmux\n---\n\n## Panes\n\n    C-b %       # split vertically\n"
    (panes,) = chunk_markdown(page)
    assert panes.section == "tmux › Panes"
    assert panes.title == "Panes"
    # A page with an H1 of its own keeps it as the root: the title would only repeat it.
    runbook = (
        "---\ntitle: Kube Pod Crash Looping\n---\n"
        "# KubePodCrashLooping\n\n## Meaning\n\nIt restarts.\n"
    )
    (meaning,) = chunk_markdown(runbook)
    assert meaning.section == "KubePodCrashLooping › Meaning"


def test_a_section_that_is_one_checklist_is_indexed_once():
    text = (
        "## Diagnosis\n\n"
        "Check why the autoscaler was unable to scale:\n\n"
        "- max replicas too low\n"
        "- requests too low for the load\n"
    )
    texts = [c.text for c in chunk_markdown(text)]
    whole = "Check why the autoscaler was unable to scale:\n- max replicas too low\n"
    assert [t for t in texts if t.startswith(whole)] == [whole + "- requests too low for the load"]


def test_a_list_of_links_to_other_pages_of_the_notes_is_navigation():
    text = (
        "## Services\n\n"
        "- [PostgreSQL](docs/patroni/postgres.md)\n"
        "- [Redis](docs/redis/) · [Sentinel](docs/redis/sentinel.md#failover)\n"
        "- [Backup script](scripts/backup.sh)\n"
        "- [Status page](https://status.example.com)\n"
    )
    texts = [c.text for c in chunk_markdown(text)]
    # The pages are indexed themselves; a script or another site is only reachable from here.
    assert "[Backup script](scripts/backup.sh)" in texts
    assert "[Status page](https://status.example.com)" in texts
    assert not [t for t in texts if ".md" in t or "docs/redis/" in t]
