"""The sync log: filters in the URL, keyset pages, an event's detail, acting on failures."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import event as sa_event
from sqlalchemy import select

from gateway.extensions import db
from gateway.models import Event, EventStatus, RecordLink, utcnow
from tests.support.events import add_event, company
from tests.support.factories import add_mappings


def rows_of(html: str) -> int:
    return html.count('data-label="Record"')


@pytest.fixture
def statements(app):
    """Every SQL statement the app runs during the test."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa_event.remove(engine, "before_cursor_execute", record)


def test_each_filter_narrows_the_log_and_a_filtered_view_is_a_plain_url(admin_client):
    old = utcnow() - timedelta(days=3)
    add_event(record_id="11", status=EventStatus.SYNCED, reason="created 001A")
    add_event(record_id="12", status=EventStatus.FAILED, reason="REQUIRED_FIELD_MISSING: Name")
    add_event(realm="4620", record_id="13", status=EventStatus.FAILED, reason="other company")
    add_event(entity="Invoice", record_id="14", status=EventStatus.PENDING)
    add_event(entity="Account", record_id="001000000000AAA", source="salesforce")
    add_event(record_id="15", status=EventStatus.SYNCED, received_at=old)

    def records(**query) -> set[str]:
        response = admin_client.get("/admin/log", query_string=query)
        assert response.status_code == 200, response.text
        return {
            rid
            for rid in ("11", "12", "13", "14", "15", "001000000000AAA")
            if f">{rid}</a>" in response.text
        }

    assert records() == {"11", "12", "13", "14", "15", "001000000000AAA"}
    assert records(status="failed") == {"12", "13"}
    assert records(status="failed", company="4620") == {"13"}
    assert records(object="Invoice") == {"14"}
    assert records(direction="salesforce_to_quickbooks") == {"001000000000AAA"}
    assert records(direction="quickbooks_to_salesforce", since="24h") == {"11", "12", "13", "14"}
    assert records(since=(utcnow() - timedelta(days=4)).date().isoformat()) >= {"15"}
    assert records(q="12") == {"12"}


def test_a_record_is_found_by_its_id_on_either_side(admin_client):
    [customers] = add_mappings()
    event = add_event(record_id="42", status=EventStatus.SYNCED)
    add_event(record_id="43", status=EventStatus.SYNCED)
    db.session.add(
        RecordLink(
            mapping_id=customers.id,
            company_id=event.company_id,
            quickbooks_id="42",
            salesforce_id="001000000000042",
        )
    )
    db.session.commit()
    by_salesforce_id = admin_client.get("/admin/log?q=001000000000042").text
    assert ">42</a>" in by_salesforce_id and ">43</a>" not in by_salesforce_id
    assert ">42</a>" in admin_client.get("/admin/log?q=42").text


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("status=done", "invalid_status"),
        ("direction=sideways", "invalid_direction"),
        ("since=yesterday-ish", "invalid_since"),
        ("before=abc", "invalid_before"),
        ("q=" + "9" * 300, "invalid_q"),
    ],
)
def test_a_filter_that_means_nothing_gets_a_400_saying_what_is_accepted(admin_client, query, code):
    as_json = admin_client.get(f"/admin/log?{query}", headers={"Accept": "application/json"})
    assert as_json.status_code == 400
    assert as_json.json["error"] == code and as_json.json["message"]
    as_page = admin_client.get(f"/admin/log?{query}")
    assert as_page.status_code == 400
    assert str(escape(as_json.json["message"])) in as_page.text


def test_pages_are_keyset_newest_first_with_no_offset_or_count(admin_client, statements):
    for number in range(120):
        add_event(record_id=str(1000 + number))
    statements.clear()
    first = admin_client.get("/admin/log").text
    assert rows_of(first) == 50
    assert first.index(">1119</a>") < first.index(">1100</a>")  # newest first
    log_sql = " ".join(statements).upper()
    assert "OFFSET" not in log_sql
    assert "COUNT(*)" not in log_sql.replace("COUNT(*) AS COUNT", "")  # only the failure groups

    seen = set()
    response_text = first
    for expected in (50, 50, 20):
        ids = {str(1000 + n) for n in range(120) if f">{1000 + n}</a>" in response_text}
        assert len(ids) == expected and not ids & seen
        seen |= ids
        cursor = (
            response_text.split("before=")[1].split("&")[0].split('"')[0]
            if expected != 20
            else None
        )
        if cursor is None:
            assert "Load more" not in response_text
            break
        response_text = admin_client.get(
            f"/admin/log?before={cursor}", headers={"HX-Request": "true"}
        ).text
        assert "<html" not in response_text  # only the rows, swapped in place of the button
    assert len(seen) == 120


def test_failures_of_one_cause_are_grouped_with_a_link_to_them(admin_client):
    for number in range(3):
        add_event(
            record_id=str(number),
            status=EventStatus.FAILED,
            failure_cause="REQUIRED_FIELD_MISSING on Account.Name",
        )
    add_event(
        record_id="9", status=EventStatus.FAILED, failure_cause="INVALID_FIELD on Account.Foo"
    )
    page = admin_client.get("/admin/log?status=failed").text
    assert "3 events</strong>: REQUIRED_FIELD_MISSING on Account.Name" in page
    assert "1 event</strong>: INVALID_FIELD on Account.Foo" in page
    grouped = admin_client.get(
        "/admin/log",
        query_string={"status": "failed", "cause": "INVALID_FIELD on Account.Foo"},
    ).text
    assert rows_of(grouped) == 1 and ">9</a>" in grouped


def test_mark_as_resolved_keeps_the_reason_and_leaves_the_failures(admin_client):
    event = add_event(status=EventStatus.FAILED, reason="INVALID_FIELD: Foo")
    response = admin_client.post(f"/admin/log/{event.id}/resolve")
    assert response.status_code == 303
    db.session.refresh(event)
    assert event.status == EventStatus.IGNORED
    assert "marked resolved" in event.reason and "INVALID_FIELD: Foo" in event.reason
    again = admin_client.post(f"/admin/log/{event.id}/resolve")
    assert again.status_code == 409 and again.json["error"] == "not_failed"


def test_retry_of_an_event_that_did_not_fail_is_refused(admin_client):
    event = add_event(status=EventStatus.SYNCED)
    response = admin_client.post(f"/admin/log/{event.id}/retry")
    assert response.status_code == 409 and "only failed events" in response.json["message"]
    assert admin_client.get("/admin/log/999999").status_code == 404


def test_resync_stores_a_new_pending_event_for_the_record(admin_client):
    event = add_event(record_id="77", status=EventStatus.SYNCED)
    response = admin_client.post(f"/admin/log/{event.id}/resync")
    assert response.status_code == 303 and "q=77" in response.location
    events = (
        db.session.execute(select(Event).where(Event.record_id == "77").order_by(Event.id))
        .scalars()
        .all()
    )
    assert [e.status for e in events] == [EventStatus.SYNCED, EventStatus.PENDING]
    assert events[1].sync_key == event.sync_key and events[1].company_id == event.company_id


def test_replay_refuses_a_time_in_the_future_and_an_unknown_company(admin_client):
    add_mappings()
    company("9130")
    future = (utcnow() + timedelta(days=1)).isoformat()
    response = admin_client.post(
        "/admin/log/replay", data={"mapping": "customers", "since": future}
    )
    assert response.status_code == 400 and "in the future" in response.text
    response = admin_client.post(
        "/admin/log/replay", data={"mapping": "customers", "since": "1h", "company": "555"}
    )
    assert response.status_code == 400 and "No connected company" in response.text


def test_the_log_dashboard_and_retry_all_work_in_embedded_mode(make_app, tmp_path):
    """SQLite and the in-process job thread: the hour buckets, the partial indexes and the
    background retry-all are the same features without PostgreSQL or Redis."""
    from flask_migrate import upgrade

    from gateway import bulk_actions, embedded
    from tests.conftest import sign_in

    app = make_app(f"sqlite:///{tmp_path / 'embedded.sqlite3'}", None)
    with app.app_context():
        upgrade()
        add_event(record_id="1", status=EventStatus.SYNCED)
        add_event(record_id="2", status=EventStatus.FAILED, failure_cause="INVALID_FIELD on X")
        client = sign_in(app.test_client())
        try:
            dashboard = client.get("/admin/").text
            assert 'data-count="failed">1<' in dashboard
            assert "1 synced, 1 failed, 0 other" in dashboard
            assert "1 event</strong>: INVALID_FIELD on X" in client.get("/admin/log").text
            # No Salesforce connection here: the retried event fails again, as it should;
            # what is checked is that the job ran in this process and reported its progress.
            started = client.post("/admin/log/retry-all?status=failed")
            action_id = started.location.rsplit("/", 1)[1]
            deadline = time.monotonic() + 10
            while bulk_actions.progress(action_id)["state"] != "finished":
                assert time.monotonic() < deadline, bulk_actions.progress(action_id)
                time.sleep(0.05)
            assert bulk_actions.progress(action_id)["done"] == 1
        finally:
            embedded.stop(app)


def test_resolve_all_matching_asks_then_marks_the_failures_resolved_in_the_background(
    admin_client,
):
    from gateway import bulk_actions
    from tests.support.drain import run_worker

    add_event(record_id="1", status=EventStatus.FAILED, reason="INVALID_FIELD: Foo")
    add_event(record_id="2", status=EventStatus.FAILED, entity="Invoice")
    add_event(record_id="3", status=EventStatus.FAILED, reason="INVALID_FIELD: Foo")
    confirm = admin_client.get("/admin/log/resolve-all?status=failed&object=Customer").text
    assert "2 failed events" in confirm and "Mark as resolved: 2 events" in confirm
    started = admin_client.post("/admin/log/resolve-all?status=failed&object=Customer")
    action_id = started.location.rsplit("/", 1)[1]
    run_worker()
    assert bulk_actions.progress(action_id)["state"] == "finished"
    db.session.rollback()
    events = {e.record_id: e for e in db.session.execute(select(Event)).scalars()}
    assert events["1"].status == events["3"].status == EventStatus.IGNORED
    assert "marked resolved" in events["1"].reason and "INVALID_FIELD: Foo" in events["1"].reason
    assert events["2"].status == EventStatus.FAILED
    assert admin_client.get("/admin/log/delete-all").status_code == 404
