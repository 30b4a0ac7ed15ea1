"""Hostile uploads through Discord's ``/upload``: every file of the shared corpus
(``hostile.py``), hostile titles, and links to loopback, private and link-local addresses,
redirects to them and other schemes. Each gets one private sentence, nothing is stored, and
the bot goes on answering."""

from __future__ import annotations

import dataclasses
import http.server
import mimetypes
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from discordkit import (
    QUESTION,
    SceneFactory,
    assert_nobody_pinged,
    finished,
    is_one_sentence,
    reply_of,
)

from retrieval.ingest import fetch

from .hostile import BUILDERS

ARTICLE = (b"<html><head><title>Council Election</title></head><body><article>"
           b"<h1>Council Election</h1><p>Turnout in the council election reached sixty-one "
           b"percent, the highest in twenty years, the returning officer said on Friday.</p>"
           b"</article></body></html>")


def content_type(name: str) -> str | None:
    """What Discord puts in an attachment's content_type: guessed from the file name."""
    guessed = mimetypes.guess_type(name)[0]
    return f"{guessed}; charset=utf-8" if guessed and guessed.startswith("text/") else guessed


@pytest.fixture()
def redirector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """A redirecting server on 127.0.0.2 that the fetcher is told is a public address, so
    only the hop it redirects to can be refused. Returns ``url_redirecting_to(target)``."""
    targets: list[str] = []

    class Redirects(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # GET /<n> answers 302 to targets[n]
            self.send_response(302)
            self.send_header("Location", targets[int(self.path.strip("/"))])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real = fetch.is_public_address
    monkeypatch.setattr(fetch, "is_public_address",
                        lambda address: str(address) == "127.0.0.2" or real(address))
    # A public host is fetched on the web ports only; the redirector's port counts as one.
    monkeypatch.setattr(fetch, "_PUBLIC_PORTS", frozenset({80, 443, server.server_address[1]}))

    def redirecting_to(target: str) -> str:
        targets.append(target)
        return f"http://127.0.0.2:{server.server_address[1]}/{len(targets) - 1}"

    yield redirecting_to
    server.shutdown()
    server.server_close()


async def test_every_hostile_file_and_title_is_refused_privately_and_stores_nothing(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("ada", "bob", admins={"ada"}, **{"discord.cooldown_s": 0})
    fake, guild, [admin, reader] = scene.fake, scene.guild, scene.members
    engine, collection = scene.engine, scene.collection
    before = engine.list_articles(collection)
    cases: list[tuple[str, dict[str, Any], str]] = []
    for case, build in sorted(BUILDERS.items()):
        name, data, phrase = build()
        cases.append((case, {"file": fake.attachment(data, name, content_type(name))}, phrase))
    fine = fake.attachment(b"Harbour News\n\nThe ferry to Skye leaves Mallaig every hour.\n",
                           "fine.txt", "text/plain; charset=utf-8")
    cases += [
        ("title-5000-chars", {"file": fine, "title": "x" * 5000}, "limit is 200"),
        ("title-control-chars", {"file": fine, "title": "\x00\x01\x02"}, "empty"),
        ("mentions-in-file-name", {"file": fake.attachment(b"", "@everyone <@&1234>.txt",
                                                           "text/plain")}, "empty"),
        # Discord's CDN no longer has the file (expired link): not an "unexpected error".
        ("attachment-gone", {"file": dataclasses.replace(
            fine, url=fake.serve_file(b"", "fine.txt", "text/plain", status=404))},
         "Could not download fine.txt"),
    ]

    problems: list[str] = []
    async with scene.running():
        for case, options, phrase in cases:
            fetched = len(fake.cdn_fetches)
            inter = await fake.slash(guild, admin, "upload", options)
            latency = await inter.wait_deferred(timeout=3)
            text = await reply_of(inter)
            stored = engine.list_articles(collection)
            print(f"{case}: {text}")
            if not (inter.ephemeral and is_one_sentence(text) and phrase.lower() in text.lower()):
                problems.append(f"{case}: {'public ' if not inter.ephemeral else ''}{text!r}")
            if stored != before:
                problems.append(f"{case}: stored {[a.title for a in stored]}")
            if latency >= 3 or inter.rejected:
                problems.append(f"{case}: ack {latency:.2f}s, rejected {inter.rejected}")
            if case == "too-big" and (inter.ack_type != 4 or len(fake.cdn_fetches) != fetched):
                # Refused from the attachment's declared size, before downloading 11 MB.
                problems.append(f"{case}: downloaded or deferred ({inter.ack_type})")
        assert not problems, "\n".join(problems)

        # Still serving: a member's question is answered from the stored article.
        inter = await fake.slash(guild, reader, "ask", {"question": QUESTION})
        assert "He Lifeng" in (await inter.wait_done(finished, timeout=120)).content
    assert engine.list_articles(collection) == before
    assert assert_nobody_pinged(fake) >= len(cases)
    fake.assert_no_unknown_routes()


async def test_links_to_local_addresses_redirects_to_them_and_other_schemes_are_refused(
    discord_scene: SceneFactory, redirector: Callable[[str], str],
) -> None:
    scene = discord_scene("ada", "bob", admins={"ada"}, **{"discord.cooldown_s": 0})
    fake, guild, [admin, reader] = scene.fake, scene.guild, scene.members
    engine, collection = scene.engine, scene.collection
    assert engine.settings.limits.allow_private_urls is False
    before = engine.list_articles(collection)
    # A real article served on loopback: were a check missing, it would be stored.
    served = fake.serve_file(ARTICLE, "election.html", "text/html")
    path = served.split(str(fake.port), 1)[1]
    port = fake.port
    private = "private or local address"
    urls = [
        (served, private),                                       # loopback
        (f"http://localhost:{port}{path}", private),
        (f"http://[::1]:{port}{path}", private),
        (f"http://2130706433:{port}{path}", private),              # 127.0.0.1 as one number
        (f"http://[::ffff:127.0.0.1]:{port}{path}", private),      # IPv4-mapped IPv6
        (f"http://0.0.0.0:{port}{path}", private),
        ("http://10.1.2.3/news.html", private),
        ("http://192.168.0.1/", private),
        ("http://172.16.5.4/", private),
        ("http://100.64.0.1/", private),                           # carrier-grade NAT
        ("http://169.254.169.254/latest/meta-data/", private),     # cloud metadata, link-local
        ("http://[fe80::1]/", private),
        ("file:///etc/passwd", "Only http and https"),
        ("ftp://example.org/a.txt", "Only http and https"),
        ("gopher://127.0.0.1/", "Only http and https"),
        ("javascript:alert(1)", "Only http and https"),
        ("data:text/html,<p>hello</p>", "Only http and https"),
        (f"http://user:pw@127.0.0.1:{port}{path}", "user name or password"),
        # Redirects from an address the fetcher considers public to local ones.
        (redirector(served), private),
        (redirector(f"http://localhost:{port}{path}"), private),
        (redirector("http://169.254.169.254/latest/meta-data/"), private),
        (redirector("file:///etc/passwd"), "Only http and https"),
    ]

    problems: list[str] = []
    async with scene.running():
        for url, phrase in urls:
            inter = await fake.slash(guild, admin, "upload", {"url": url})
            latency = await inter.wait_deferred(timeout=3)
            text = await reply_of(inter)
            print(f"{url}: {text}")
            if not (inter.ephemeral and is_one_sentence(text) and phrase in text):
                problems.append(f"{url}: {text!r}")
            if latency >= 3 or inter.rejected:
                problems.append(f"{url}: ack {latency:.2f}s, rejected {inter.rejected}")
        stored = engine.list_articles(collection)
        assert not problems, "\n".join(problems)
        assert stored == before
        # The loopback article was never fetched through the fake's CDN.
        assert not [p for _, p in fake.cdn_fetches if p.endswith("/election.html")]

        inter = await fake.slash(guild, reader, "ask", {"question": QUESTION})
        assert "He Lifeng" in (await inter.wait_done(finished, timeout=120)).content
    assert_nobody_pinged(fake)
    fake.assert_no_unknown_routes()


async def test_oversized_and_odd_option_values_get_one_private_sentence(
    discord_scene: SceneFactory,
) -> None:
    """Discord lets a string option carry 6,000 characters; the bot must still answer in one
    sentence that fits a message (2,000), whatever it quotes back."""
    scene = discord_scene("ada", admins={"ada"}, **{"discord.cooldown_s": 0})
    fake, guild, [admin] = scene.fake, scene.guild, scene.members
    engine, collection = scene.engine, scene.collection
    before = engine.list_articles(collection)
    long = "x" * 6000
    cases: list[tuple[str, dict[str, Any]]] = [
        ("ask", {"question": QUESTION, "article": long}),
        ("summary", {"article": long}),
        ("remove", {"article": long}),
        ("ask", {"question": long}),
        ("search", {"query": long}),
        ("ask", {"question": "\u200b\u00a0\t "}),  # nothing but invisible characters
        ("ask", {"question": QUESTION, "article": "@everyone\n<@&1234> **x**"}),
        ("upload", {"url": "http://" + "a" * 5000 + ".example/"}),
        ("upload", {"url": "not a link at all"}),
        ("upload", {"url": "http://[::1"}),
        ("upload", {"file": fake.attachment(b"", "x" * 3000 + ".txt", "text/plain")}),
    ]
    problems = []
    async with scene.running():
        for command, options in cases:
            inter = await fake.slash(guild, admin, command, options)
            text = await reply_of(inter, timeout=30)
            print(f"/{command}: {text[:150]}")
            if inter.rejected or not inter.ephemeral or not is_one_sentence(text):
                problems.append(f"/{command} {str(options)[:80]}: {text[:200]!r} "
                                f"rejected={[r[1] for r in inter.rejected]}")
        assert not problems, "\n".join(problems)
    assert engine.list_articles(collection) == before
    assert_nobody_pinged(fake)
