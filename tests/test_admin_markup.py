"""Every admin page, filled with data: ids unique (fragment swaps break duplicate ids), every
visible input labelled, every form that changes something carrying the CSRF token."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.support.admin import NAME_MISSING, import_mappings
from tests.support.scenario import connect

PAGES = ("/admin/", "/admin/setup", "/admin/connections", "/admin/realtime", "/admin/runs")


class Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.inputs: list[dict] = []
        self.forms: list[dict] = []
        self._label_depth = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "label":
            self._label_depth += 1
            if attributes.get("for"):
                self.label_for.add(attributes["for"])
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.inputs.append({**attributes, "wrapped": self._label_depth > 0})
        if tag == "form":
            self.forms.append({**attributes, "csrf": False})
        if tag == "input" and attributes.get("name") == "csrf_token" and self.forms:
            self.forms[-1]["csrf"] = True

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1


def parse(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    return markup


def test_every_admin_page_is_well_formed(app, runner, fakes, admin_client, tmp_path):
    connect(app, runner, fakes)
    import_mappings(runner, tmp_path, NAME_MISSING.replace("customers", "customers-incomplete"))
    anonymous = app.test_client()
    for client, path in [(anonymous, "/admin/login")] + [(admin_client, p) for p in PAGES]:
        response = client.get(path)
        assert response.status_code == 200, path
        markup = parse(response.text)
        duplicates = {i for i in markup.ids if markup.ids.count(i) > 1}
        assert not duplicates, (path, duplicates)
        for field in markup.inputs:
            labelled = field["wrapped"] or field.get("id") in markup.label_for
            assert labelled or field.get("aria-label"), (path, field)
        for form in markup.forms:
            if form.get("method", "get").lower() == "post":
                assert form["csrf"], (path, form)
    realtime = parse(admin_client.get("/admin/realtime").text)
    assert len([i for i in realtime.inputs if i.get("type") == "checkbox"]) == 2
