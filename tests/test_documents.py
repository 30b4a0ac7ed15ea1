"""Parsing and cleaning of uploaded documents (no network)."""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.errors import InputError
from retrieval.ingest.documents import (
    SUPPORTED_SUFFIXES,
    ParsedDocument,
    clean_title,
    parse_document,
    read_path,
)

SAMPLE = Path(__file__).resolve().parents[1] / "retrieval" / "sample" / "china-us-trade-talks.txt"
SAMPLE_TITLE = "China and U.S. Trade Talks: A Hardball Approach Amidst Tensions"

ARTICLE_HTML = """<!doctype html>
<html><head><title>Harbour Reopens | Coast News</title>
<style>p { color: red }</style><script>var tracking = "do not index me";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>
<article>
<h1>Harbour reopens after storm</h1>
<p>The harbour at Port Ellen reopened on Tuesday after a week of repairs to the sea wall,
which was breached during the storm that hit the coast on the first of the month.</p>
<p>Fishing boats returned to their moorings within hours, and the harbour master said the
repairs had cost less than expected because local firms volunteered equipment and crews.</p>
<p>The council will review the state of other sea defences along the coast next spring,
with a report due before the start of the summer tourist season.</p>
</article>
<footer>Copyright Coast News</footer>
</body></html>
"""


# ---------------------------------------------------------------------------- helpers


def make_pdf(lines: list[str], *, title: str | None = None) -> bytes:
    """A minimal, valid one-page PDF whose text pypdf can extract."""
    commands = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        commands.append(f"({escaped}) Tj T*")
    commands.append("ET")
    stream = "\n".join(commands).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if title is not None:
        objects.append(b"<< /Title (" + title.encode("latin-1") + b") >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    info = b" /Info %d 0 R" % len(objects) if title is not None else b""
    out.write(b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def encrypted_pdf(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(["Secret plans for the harbour."]))).pages:
        writer.add_page(page)
    # RC4 needs no optional crypto library, unlike AES.
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def error_of(data: bytes, name: str, **kwargs: object) -> str:
    with pytest.raises(InputError) as caught:
        parse_document(data, name, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# ---------------------------------------------------------------------------- the sample


def test_sample_article_has_its_title_once_and_six_unique_paragraphs() -> None:
    doc = parse_document(SAMPLE.read_bytes(), SAMPLE.name)
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]

    assert doc.title == SAMPLE_TITLE
    assert doc.source == "china-us-trade-talks.txt"
    assert doc.paragraphs[0] == lines[0]  # the lede
    assert doc.paragraphs[1].startswith("Beijing's willingness")
    assert len(doc.paragraphs) == 6
    assert SAMPLE_TITLE not in doc.paragraphs


def test_repeated_paragraphs_are_dropped() -> None:
    doc = parse_document(SAMPLE.read_bytes(), SAMPLE.name)
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]

    assert len(lines) == 11  # the file really repeats three paragraphs
    assert doc.paragraphs[2:] == tuple(lines[4:8])


def test_duplicates_are_compared_case_and_whitespace_insensitively() -> None:
    text = b"First  paragraph here.\n\nSecond one.\n\nfirst paragraph   HERE.\n"
    doc = parse_document(text, "notes.txt", title="Notes")
    assert doc.paragraphs == ("First paragraph here.", "Second one.")


def test_text_joins_paragraphs_with_blank_lines() -> None:
    doc = ParsedDocument(title="T", paragraphs=("a", "b"), source="x.txt")
    assert doc.text == "a\n\nb"


# ---------------------------------------------------------------------------- plain text


def test_hard_wrapped_lines_are_joined_into_one_paragraph() -> None:
    text = (
        "The committee met on Monday to discuss the new budget for the\n"
        "coming year, and after a long debate it agreed to raise spending\n"
        "on roads and schools by a modest amount.\n"
        "\n"
        "A second meeting is planned for next month.\n"
    )
    doc = parse_document(text.encode(), "budget.txt")
    assert doc.paragraphs == (
        "The committee met on Monday to discuss the new budget for the coming year, and after "
        "a long debate it agreed to raise spending on roads and schools by a modest amount.",
        "A second meeting is planned for next month.",
    )


def test_lines_that_end_sentences_stay_separate_paragraphs() -> None:
    text = "One short sentence.\nAnother sentence here.\nA third one, longer than the others.\n"
    doc = parse_document(text.encode(), "lines.txt")
    assert doc.paragraphs == (
        "One short sentence.",
        "Another sentence here.",
        "A third one, longer than the others.",
    )


def test_heading_line_above_wrapped_text_becomes_the_title() -> None:
    text = (
        "Storm Warning\n"
        "Forecasters have issued a warning for strong winds across the north of\n"
        "the country, with gusts of up to ninety miles an hour expected along\n"
        "the coast overnight.\n"
    )
    doc = parse_document(text.encode(), "storm.txt")
    assert doc.title == "Storm Warning"
    assert len(doc.paragraphs) == 1
    assert doc.paragraphs[0].startswith("Forecasters have issued")


def test_title_falls_back_to_humanised_file_name() -> None:
    doc = parse_document(b"Only sentences here.\n\nAnd another one.\n", "my_article-2.txt")
    assert doc.title == "My article 2"


def test_title_from_name_keeps_dots_that_are_not_a_suffix() -> None:
    doc = parse_document(b"Only sentences here.", "Mr. Smith goes", content_type="text/plain")
    assert doc.title == "Mr Smith goes"


def test_words_split_at_a_line_end_hyphen_are_joined_without_a_space() -> None:
    text = (
        b"Officials said the plan, which is well-\n"
        b"known among residents, would be reviewed by the\n"
        b"council next year after a public consultation.\n"
    )
    doc = parse_document(text, "plan.txt", title="Plan")
    assert doc.paragraphs == (
        "Officials said the plan, which is well-known among residents, would be reviewed by "
        "the council next year after a public consultation.",
    )


def test_given_title_wins_and_is_cleaned() -> None:
    doc = parse_document(b"Body text.", "x.txt", title="  A\tgiven \x07 title ")
    assert doc.title == "A given title"


def test_control_characters_and_odd_whitespace_are_cleaned() -> None:
    doc = parse_document(b"Tab\there\x0b and\xc2\xa0nbsp\xe2\x80\x8b.\r\n", "c.txt", title="T")
    assert doc.paragraphs == ("Tab here and nbsp.",)


def test_utf8_bom_is_stripped() -> None:
    doc = parse_document(b"\xef\xbb\xbfHello there.", "bom.txt", title="T")
    assert doc.paragraphs == ("Hello there.",)


def test_cp1252_text_is_decoded_when_not_utf8() -> None:
    data = "Café owners said the “new rules” – announced today – were fair.".encode("cp1252")
    doc = parse_document(data, "cafe.txt", title="Cafe")
    assert doc.paragraphs == ("Café owners said the “new rules” – announced today – were fair.",)


def test_declared_charset_is_used_for_non_utf8_text() -> None:
    data = "Привет, это новость дня.".encode("koi8-r")
    doc = parse_document(data, "news", title="T", content_type="text/plain; charset=koi8-r")
    assert doc.paragraphs == ("Привет, это новость дня.",)


def test_file_with_only_a_title_line_keeps_it_as_text() -> None:
    doc = parse_document(b"Just a headline\n", "h.txt")
    assert doc.title == "Just a headline"
    assert doc.paragraphs == ("Just a headline",)


# ---------------------------------------------------------------------------- markdown


def test_markdown_markup_is_stripped_and_first_heading_is_title() -> None:
    text = (
        "# Rail *strike* ends\n\n"
        "Unions and the operator reached a **deal** late on [Sunday](https://example.com).\n\n"
        "![a photo](photo.jpg)\n\n"
        "## Details\n\n"
        "- Pay rises by `4%`\n"
        "- Talks resume in _June_\n\n"
        "```\nprint('kept as text')\n```\n"
    )
    doc = parse_document(text.encode(), "rail.md")
    assert doc.title == "Rail strike ends"
    assert doc.paragraphs == (
        "Unions and the operator reached a deal late on Sunday.",
        "Details",
        "Pay rises by 4%",
        "Talks resume in June",
        "print('kept as text')",
    )


def test_setext_heading_is_the_markdown_title() -> None:
    doc = parse_document(b"Flood Warning\n=============\n\nRivers are rising fast.\n", "f.md")
    assert doc.title == "Flood Warning"
    assert doc.paragraphs == ("Rivers are rising fast.",)


def test_snake_case_words_survive_markdown_stripping() -> None:
    doc = parse_document(b"# T\n\nThe my_var_name value is 2 * 3 * 4.", "code.markdown")
    assert doc.paragraphs == ("The my_var_name value is 2 * 3 * 4.",)


# ---------------------------------------------------------------------------- html


def test_html_article_text_is_extracted_without_scripts_or_navigation() -> None:
    doc = parse_document(ARTICLE_HTML.encode(), "harbour.html")
    assert "Harbour" in doc.title
    assert any(p.startswith("The harbour at Port Ellen reopened") for p in doc.paragraphs)
    assert not any("tracking" in p or "color" in p or "Copyright" in p for p in doc.paragraphs)


def test_html_is_detected_from_content_type() -> None:
    doc = parse_document(ARTICLE_HTML.encode(), "story", content_type="text/html; charset=utf-8")
    assert any("Port Ellen" in p for p in doc.paragraphs)


def test_html_is_sniffed_when_name_and_type_do_not_help() -> None:
    doc = parse_document(ARTICLE_HTML.encode(), "story")
    assert not any("<p>" in p for p in doc.paragraphs)


def test_short_html_page_still_gives_its_text() -> None:
    html = b"<html><head><title>Hi</title></head><body><p>One line of news.</p></body></html>"
    doc = parse_document(html, "short.htm")
    assert doc.title == "Hi"
    assert doc.paragraphs == ("One line of news.",)


def test_html_with_only_script_and_style_has_no_article_text() -> None:
    html = b"<html><head><style>body{}</style></head><body><script>alert(1)</script></body></html>"
    assert error_of(html, "empty.html") == "empty.html has no article text."


def test_deeply_nested_html_does_not_crash() -> None:
    depth = 10_000
    html = ("<html><body>" + "<div>" * depth + "<p>Deep text.</p>" + "</div>" * depth).encode()
    started = time.monotonic()
    try:
        doc = parse_document(html, "deep.html")
    except InputError:
        pass  # refusing is fine; crashing or hanging is not
    else:
        assert "Deep text." in doc.paragraphs
    assert time.monotonic() - started < 30


def test_unclosed_tags_in_a_big_page_do_not_crash() -> None:
    html = ("<html><body>" + "<b><i>word " * 20_000).encode()
    with contextlib.suppress(InputError):  # refusing is fine; crashing is not
        parse_document(html, "tags.html")


# ---------------------------------------------------------------------------- pdf


def test_pdf_text_is_extracted() -> None:
    data = make_pdf(["Harbour Reopens", "The harbour reopened on Tuesday after repairs."])
    doc = parse_document(data, "harbour.pdf")
    assert doc.title == "Harbour Reopens"
    assert doc.paragraphs == ("The harbour reopened on Tuesday after repairs.",)


def test_pdf_metadata_title_is_used() -> None:
    data = make_pdf(["Some body text for the report."], title="Annual Report")
    doc = parse_document(data, "report.pdf")
    assert doc.title == "Annual Report"


def test_pdf_is_sniffed_from_magic_bytes() -> None:
    doc = parse_document(make_pdf(["Hello from a PDF."]), "download")
    assert doc.paragraphs == ("Hello from a PDF.",)


def test_encrypted_pdf_is_refused() -> None:
    assert error_of(encrypted_pdf("secret"), "locked.pdf") == "locked.pdf is encrypted."


def test_pdf_encrypted_with_empty_password_is_read() -> None:
    doc = parse_document(encrypted_pdf(""), "open.pdf", title="Open")
    assert doc.paragraphs == ("Secret plans for the harbour.",)


def test_broken_pdf_is_refused() -> None:
    data = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ngarbage" + os.urandom(200)
    assert error_of(data, "broken.pdf") == "broken.pdf is not a readable PDF."


def test_truncated_pdf_is_refused() -> None:
    data = make_pdf(["Text that will be cut off."])[:120]
    message = error_of(data, "cut.pdf")
    assert message.startswith("cut.pdf ")


def test_pdf_without_text_is_refused() -> None:
    message = error_of(make_pdf([]), "scan.pdf")
    assert message.startswith("scan.pdf has no extractable text")


# ---------------------------------------------------------------------------- bad input


def test_empty_file_is_refused() -> None:
    assert error_of(b"", "notes.txt") == "notes.txt is empty."


def test_whitespace_only_file_is_refused() -> None:
    assert error_of(b" \n\t\r\n  ", "notes.txt") == "notes.txt is empty."
    assert error_of("\u00a0\u2003\n".encode(), "wide.txt") == "wide.txt is empty."


def test_png_renamed_to_txt_is_refused_as_binary() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)
    assert error_of(png, "photo.txt").startswith("photo.txt looks like a binary file")


def test_nul_bytes_mean_binary() -> None:
    assert "binary" in error_of(b"hello\x00world", "x.txt")


def test_mostly_control_characters_mean_binary() -> None:
    assert "binary" in error_of(b"\x01\x02\x03\x04abc" * 10, "x.txt")


def test_unsupported_suffix_is_refused_naming_supported_types() -> None:
    docx = b"PK\x03\x04" + os.urandom(100)
    message = error_of(docx, "report.docx")
    assert message == "report.docx is not a supported file type; use .txt, .md, .html or .pdf."


def test_unsupported_content_type_is_refused() -> None:
    message = error_of(b"GIF89a....", "image", content_type="image/gif")
    assert "not a supported file type" in message


def test_undecodable_text_is_refused() -> None:
    data = bytes(range(0x80, 0x100)) * 20
    message = error_of(data, "odd.txt")
    assert message.startswith("odd.txt ")


def test_file_over_the_size_limit_is_refused_with_the_limit_in_mb() -> None:
    data = b"x" * (12 * 1024 * 1024 + 300 * 1024)
    assert error_of(data, "big.pdf") == "big.pdf is 12.3 MB; the limit is 10 MB."


def test_five_thousand_character_title_is_refused_with_the_limit() -> None:
    message = error_of(b"Body.", "x.txt", title="a" * 5000)
    assert message == "The title is 5,000 characters long; the limit is 200."


def test_long_guessed_title_is_shortened_not_refused() -> None:
    html = "<html><title>" + "word " * 200 + "</title><body><p>Text.</p></body></html>"
    doc = parse_document(html.encode(), "long.html")
    assert len(doc.title) <= 200


def test_supported_suffixes_are_listed() -> None:
    assert SUPPORTED_SUFFIXES == (".txt", ".text", ".md", ".markdown", ".html", ".htm",
                                  ".xhtml", ".pdf")


@pytest.mark.parametrize("suffix", [s for s in SUPPORTED_SUFFIXES if s != ".pdf"])
def test_every_listed_text_suffix_is_parsed(suffix: str) -> None:
    text = "The ferry to Skye now runs hourly from the old harbour."
    body = f"<p>{text}</p>" if "htm" in suffix else text
    assert text in parse_document(body.encode(), f"note{suffix}").text


# ---------------------------------------------------------------------------- clean_title


def test_clean_title_strips_control_characters_and_collapses_whitespace() -> None:
    assert clean_title("\x00Big\x1b[31m  News\n\ttoday\x7f", 200) == "Big [31m News today"


def test_clean_title_refuses_control_characters_only() -> None:
    with pytest.raises(InputError, match=r"^The title is empty\.$"):
        clean_title("\x00\x01 \t\x1f", 200)


def test_clean_title_refuses_too_long_title() -> None:
    with pytest.raises(InputError, match="the limit is 10"):
        clean_title("x" * 11, 10)


# ---------------------------------------------------------------------------- read_path


def test_read_path_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    assert read_path(path, max_bytes=100) == b"hello"


def test_read_path_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_path(tmp_path / "missing.txt", max_bytes=100)


def test_read_path_refuses_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        read_path(tmp_path, max_bytes=100)


def test_read_path_refuses_too_large_file_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 2048)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file must not be opened")

    monkeypatch.setattr(Path, "open", no_open)
    with pytest.raises(InputError, match=r"big.txt is 2 KB; the limit is 1 KB\."):
        read_path(path, max_bytes=1024)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_read_path_refuses_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_path(fifo, max_bytes=100)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_read_path_refuses_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(InputError, match="could not be read"):
        read_path(path, max_bytes=100)


# ---------------------------------------------------------------------------- properties

NAMES = st.sampled_from(["a.txt", "a.md", "a.html", "a.pdf", "noext", "a.docx"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400), name=NAMES)
def test_arbitrary_text_gives_clean_paragraphs_or_input_error(text: str, name: str) -> None:
    try:
        doc = parse_document(text.encode("utf-8", "surrogatepass"), name)
    except InputError as exc:
        assert str(exc)
        return
    assert doc.paragraphs
    assert doc.title and doc.title == doc.title.strip()
    for paragraph in doc.paragraphs:
        assert paragraph and paragraph == paragraph.strip()
        assert "\n" not in paragraph


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400), name=NAMES)
def test_arbitrary_bytes_never_raise_anything_but_input_error(data: bytes, name: str) -> None:
    try:
        doc = parse_document(data, name)
    except InputError:
        return
    assert all(p and p == p.strip() for p in doc.paragraphs)


@pytest.mark.parametrize("mark", ["\u202e", "\u2066", "\u200f", "\u202a", "\u2069"])
def test_bidirectional_controls_are_stripped_from_titles(mark: str) -> None:
    found = parse_document(f"Harbour{mark} news\n\nThe harbour reopened.".encode(), "h.txt")
    given = parse_document(b"The harbour reopened.", "h.txt", title=f"{mark}Harbour news")
    named = parse_document(b"The harbour reopened.", f"harbour{mark}news.txt")
    assert found.title == "Harbour news"
    assert given.title == "Harbour news"
    assert mark not in named.title


def shared_stream_pdf(pages: int, ops: int, *, own_tail: bool = False) -> bytes:
    """``pages`` pages that all draw one compressed content stream of ``ops`` text lines
    (a few KB of file); with ``own_tail`` each page adds a small stream of its own."""
    import zlib

    body = b"BT /F1 12 Tf 72 720 Td 14 TL\n" + b"(Harbour news repeats) Tj T*\n" * ops + b"ET\n"
    shared = zlib.compress(body, 9)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + " ".join(
                   f"{5 + 2 * i} 0 R" for i in range(pages)).encode() + b"] /Count %d >>" % pages,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(shared) + shared +
               b"\nendstream"]
    for i in range(pages):
        contents = b"[4 0 R %d 0 R]" % (6 + 2 * i) if own_tail else b"4 0 R"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents " + contents + b" >>")
        tail = b"BT /F1 12 Tf 72 100 Td (Page marker %d) Tj ET" % i
        objects.append(b"<< /Length %d >>\nstream\n" % len(tail) + tail + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def test_pdf_pages_sharing_one_huge_content_stream_are_read_once() -> None:
    data = shared_stream_pdf(300, 20_000)
    assert len(data) < 100_000  # 300 pages in under 100 KB
    started = time.perf_counter()
    doc = parse_document(data, "shared.pdf")
    # Generous ceiling: reading every page took minutes; once takes about a second.
    assert time.perf_counter() - started < 30
    assert "Harbour news repeats" in doc.text


def test_pdf_text_extraction_stops_at_the_decoded_content_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retrieval.ingest.documents import pdf

    monkeypatch.setattr(pdf, "MAX_PDF_CONTENT_BYTES", 2 * 1024 * 1024)
    # 40 pages of 112 KB content each (4.5 MB, under the text cap): stops near page 18.
    doc = parse_document(shared_stream_pdf(40, 4_000, own_tail=True), "tails.pdf")
    assert "Page marker 0" in doc.text
    assert "Page marker 39" not in doc.text
