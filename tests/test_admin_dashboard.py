"""The dashboard: the last 24 hours per company and object, per hour, health, queue age."""

from __future__ import annotations

import re
from datetime import timedelta

from gateway.extensions import db
from gateway.models import ConnectionStatus, EventStatus, utcnow
from tests.support.events import add_event, company


def count_of(html: str, name: str) -> str:
    return re.search(rf'data-count="{name}">([^<]+)<', html).group(1).strip()


def row_of(html: str, realm: str, entity: str) -> list[str]:
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if f">{realm}<" in row and f">{entity}<" in row:
            return [
                re.sub(r"<[^>]+>", "", cell).strip()
                for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            ]
    raise AssertionError(f"no row for {realm} {entity}")


def test_counts_per_company_and_object_cover_the_last_24_hours_only(admin_client):
    add_event(status=EventStatus.SYNCED)
    add_event(status=EventStatus.SKIPPED)
    add_event(status=EventStatus.FAILED)
    add_event(realm="4620", entity="Invoice", status=EventStatus.IGNORED)
    add_event(status=EventStatus.SYNCED, received_at=utcnow() - timedelta(hours=30))
    page = admin_client.get("/admin/").text
    assert count_of(page, "synced") == "2"
    assert count_of(page, "failed") == "1"
    assert count_of(page, "ignored") == "1"
    assert row_of(page, "9130", "Customer") == ["9130", "Customer", "2", "0", "1", "0"]
    assert row_of(page, "4620", "Invoice") == ["4620", "Invoice", "0", "0", "0", "1"]
    # each count opens the log filtered to those events
    assert "/admin/log?status=failed&amp;company=9130&amp;object=Customer&amp;since=24h" in page


def test_the_chart_has_one_bar_per_hour_with_its_counts(admin_client):
    add_event(status=EventStatus.SYNCED, received_at=utcnow() - timedelta(hours=3))
    add_event(status=EventStatus.FAILED, received_at=utcnow() - timedelta(hours=3))
    page = admin_client.get("/admin/").text
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="bar-synced"') == 25
    assert "1 synced, 1 failed, 0 other" in svg


def test_the_oldest_pending_event_shows_a_stuck_queue(admin_client):
    company("9130")  # with nothing connected the home page is the set-up page
    page = admin_client.get("/admin/").text
    assert count_of(page, "oldest-pending") == "none"
    add_event(status=EventStatus.PENDING, received_at=utcnow() - timedelta(minutes=20))
    page = admin_client.get("/admin/").text
    assert count_of(page, "oldest-pending") == "20 min"
    assert "the queue looks stuck" in page


def test_connection_health_and_polling(admin_client):
    healthy, broken = company("9130"), company("4620")
    broken.status = ConnectionStatus.RECONNECT_NEEDED
    db.session.commit()
    page = admin_client.get("/admin/").text
    assert 'hx-trigger="every 5s"' in page
    assert re.search(r"4620</span>\s*<span class=\"badge bad\">reconnect needed", page)
    assert re.search(r"9130</span>\s*<span class=\"badge ok\">connected", page)
    assert "Salesforce is not connected." in page
    fragment = admin_client.get("/admin/", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and 'id="live"' in fragment
    assert healthy.realm_id in fragment
