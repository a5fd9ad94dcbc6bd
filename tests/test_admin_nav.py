"""The navigation marks where you are: the page itself, or the section a page belongs to."""

from __future__ import annotations

import re


def current(html: str) -> list[tuple[str, str]]:
    nav = html.split('<nav aria-label="Admin pages">')[1].split("</nav>")[0]
    return re.findall(r'<a href="([^"]+)" aria-current="([^"]+)"', nav)


def test_a_page_and_its_section_are_marked(admin_client):
    assert current(admin_client.get("/admin/runs").text) == [("/admin/runs", "page")]
    assert current(admin_client.get("/admin/log").text) == [("/admin/log", "page")]
    assert current(admin_client.get("/admin/mappings/new").text) == [("/admin/mappings", "true")]
