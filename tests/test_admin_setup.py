"""The set-up page: the first page until both connections exist, and what to configure where."""

from __future__ import annotations

from tests.support.scenario import connect


def test_a_new_admin_lands_on_setup_until_both_connections_exist(app, admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/setup"
    page = admin_client.get("/admin/setup").text
    public = app.config["PUBLIC_URL"]
    assert f"{public}/webhooks/quickbooks" in page
    assert f"{public}/callouts/salesforce" in page
    assert f"{public}/oauth/quickbooks/callback" in page
    assert f"{public}/oauth/salesforce/callback" in page
    assert "Connect a QuickBooks company." in page
    for operation in ("Create", "Update", "Delete", "Merge", "Void"):
        assert f"<strong>{operation}</strong>" in page
    assert "Configured (2 tokens)" in page  # the verifier tokens, counted, never shown
    assert "test-verifier-token" not in page
    assert "Callout secret configured (1)" in page and "test-callout-secret" not in page
    assert "cannot reach" in page  # PUBLIC_URL is 127.0.0.1 here


def test_missing_settings_are_named(app, admin_client):
    app.config["QBO_WEBHOOK_VERIFIER_TOKENS"] = []
    app.config["SF_CALLOUT_SECRETS"] = []
    page = admin_client.get("/admin/setup").text
    assert "Not configured: every webhook is refused" in page
    assert "No callout secret" in page
    assert "Set QBO_WEBHOOK_VERIFIER_TOKENS" in page


def test_once_connected_setup_names_the_mapped_entities_and_the_next_step(
    app, runner, fakes, admin_client
):
    connect(app, runner, fakes)
    assert admin_client.get("/admin/").status_code == 200  # home, no longer set-up
    page = admin_client.get("/admin/setup").text
    assert "1 company connected" in page and "Salesforce org connected" in page
    assert "<code>Customer</code>" in page and "<code>Invoice</code>" not in page
    assert "Set-up is complete" in page
