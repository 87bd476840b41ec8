"""HTML to text and article chunking."""

from __future__ import annotations

from bot.knowledge.articles import article_chunks, excerpt, html_blocks, html_to_text


def test_html_becomes_readable_paragraphs():
    html = (
        "<p>Hello <b>ops</b> &amp; dev</p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul><pre>kubectl get po\n  -A</pre>"
    )
    assert html_to_text(html) == "Hello ops & dev\n\none\n\ntwo\n\nkubectl get po\n  -A"


def test_plain_text_passes_through():
    assert html_to_text("just text") == "just text"
    assert html_to_text("") == ""


def test_excerpt_cuts_at_a_word():
    text = "word " * 100
    cut = excerpt(text, 50)
    assert len(cut) <= 50 and cut.endswith("…") and not cut[:-1].endswith(" ")


def test_one_chunk_per_section_with_the_title():
    html = "<p>intro</p><h2>Install</h2><p>pip install x</p><h2>Use</h2><p>x run</p>"
    chunks = article_chunks("My Tool", html_blocks(html), "https://e.test/a")
    assert [c.section for c in chunks] == ["", "", "Install", "Use"]
    assert all(c.title == "My Tool" and c.url == "https://e.test/a" for c in chunks)
    assert chunks[2].text == "pip install x"


def test_a_huge_paragraph_is_split():
    html = "<p>" + "This is a sentence about pods. " * 300 + "</p>"
    chunks = article_chunks("Big", html_blocks(html), None)
    assert len(chunks) > 3
    assert max(len(c.text) for c in chunks) <= 1600
