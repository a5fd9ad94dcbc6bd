"""The mappings pages against the emulated org (describe, reads) and the real database: list,
create, edit, delete, inline rows, the server-side check, auto-map, preview, import/export."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from sqlalchemy import select

from gateway import mapping_store, sync_config
from gateway.extensions import db
from gateway.models import ObjectMapping
from tests.support.factories import add_mappings
from tests.support.scenario import connect

INVOICES_YAML = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: quickbooks_to_salesforce
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
      - {quickbooks: DocNumber, salesforce: Name}
      - {quickbooks: TotalAmt, salesforce: Amount}
"""
ITEMS_YAML = """
mappings:
  - name: items
    quickbooks: Item
    salesforce: Product2
    fields:
      - {quickbooks: Name, salesforce: Name, required: true}
"""


@pytest.fixture
def connected(app, runner, fakes):
    return connect(app, runner, fakes)


def rows() -> dict[str, ObjectMapping]:
    db.session.rollback()
    return {row.name: row for row in db.session.execute(select(ObjectMapping)).scalars()}


def preview_of(answer) -> tuple[dict, dict]:
    """The source record and the payload a preview answer shows side by side."""
    source, payload = re.findall(r'<pre class="json" tabindex="0">(.*?)</pre>', answer.text, re.S)
    return json.loads(html.unescape(source)), json.loads(html.unescape(payload))


def customer_form(**extra: str) -> dict[str, str]:
    """The editor's fields for a Customer -> Account mapping, as the browser posts them (row
    numbers need not be consecutive: removed rows leave gaps)."""
    form = {
        "name": "clients",
        "quickbooks": "Customer",
        "salesforce": "Account",
        "direction": "both",
        "external_id": "QBO_Id__c",
        "on_delete": "flag",
        "on_delete_flag": "QBO_Deleted__c",
        "fields-0-quickbooks": "DisplayName",
        "fields-0-salesforce": "Name",
        "fields-0-required": "on",
        "fields-3-quickbooks": "Balance",
        "fields-3-salesforce": "QBO_Balance__c",
        "fields-3-direction": "quickbooks_to_salesforce",
        "fields-4-quickbooks": "CustomerTypeRef.value",
        "fields-4-salesforce": "Type",
        "fields-4-values": "1 = Customer - Direct\n2=Other\n",
        "fields-4-default": "Other",
        "fields-4-direction": "quickbooks_to_salesforce",
        "fields-9-quickbooks": "",
        "fields-9-salesforce": "",  # an added row left blank
        "match-5-quickbooks": "PrimaryEmailAddr.Address",
        "match-5-salesforce": "Email__c",
    }
    form.update(extra)
    return form


def test_the_list_shows_each_mapping_with_its_completeness(connected, admin_client):
    mapping_store.import_text(
        INVOICES_YAML
    )  # Opportunity needs StageName and CloseDate: not mapped
    page = admin_client.get("/admin/mappings")
    assert page.status_code == 200
    listed = re.findall(r'<tr>\s*<th scope="row".*?</tr>', page.text, re.S)
    by_name = {re.search(r">(\w+)</a>", item).group(1): item for item in listed}
    assert set(by_name) == {"customers", "invoices"}
    assert "Complete" in by_name["customers"] and "Incomplete" not in by_name["customers"]
    assert "Incomplete" in by_name["invoices"]
    assert "New mapping" in page.text


def test_an_htmx_request_gets_only_the_content(connected, admin_client):
    page = admin_client.get("/admin/mappings", headers={"HX-Request": "true"})
    assert "<html" not in page.text and "Mappings</h1>" in page.text
    assert "HX-Request" in page.headers["Vary"]


def test_creating_a_mapping_through_the_form_stores_what_the_file_would(
    connected, admin_client, runner
):
    answer = admin_client.post("/admin/mappings/new", data=customer_form())
    assert answer.status_code == 303, answer.text
    stored = rows()["clients"]
    assert answer.headers["Location"] == f"/admin/mappings/{stored.id}?saved=1"
    expected = sync_config.parse_config(
        """
mappings:
  - name: clients
    quickbooks: Customer
    salesforce: Account
    on_delete: flag:QBO_Deleted__c
    match: [{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}]
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
      - {quickbooks: CustomerTypeRef.value, salesforce: Type, direction: quickbooks_to_salesforce,
         values: {"1": Customer - Direct, "2": Other}, default: Other}
"""
    )[0]
    assert stored.spec == expected
    assert (stored.quickbooks_type, stored.salesforce_object, stored.realtime) == (
        "Customer",
        "Account",
        False,
    )
    # The CLI sees the page's change.
    exported = runner.invoke(args=["sync-config", "export"])
    assert "name: clients" in exported.output
    page = admin_client.get(answer.headers["Location"])
    assert "Saved." in page.text and "Complete" in page.text


def test_an_incomplete_mapping_is_saved_with_its_problems_listed(connected, admin_client):
    form = {
        "name": "accounts",
        "quickbooks": "Customer",
        "salesforce": "Account",
        "direction": "both",
        "fields-0-quickbooks": "BillAddr.City",
        "fields-0-salesforce": "BillingCity",
    }
    answer = admin_client.post("/admin/mappings/new", data=form)
    assert answer.status_code == 303
    page = admin_client.get(answer.headers["Location"]).text
    assert "Incomplete" in page
    assert "required Salesforce field Account Name (Name) is not mapped and has no default" in page
    assert "Required QuickBooks field Customer.DisplayName is not mapped from Salesforce" in page
    # The long-text warning sits in the row it is about.
    row = re.search(r'id="fields-0-messages".*?</ul>', page, re.S).group(0)
    assert (
        "BillAddr.City → BillingCity: QuickBooks allows 255 characters, Salesforce keeps 40" in row
    )


def test_saving_errors_into_a_real_time_mapping_switches_real_time_off(connected, admin_client):
    stored = rows()["customers"]
    assert stored.realtime
    form = customer_form(name="customers")
    del form["fields-0-quickbooks"], form["fields-0-salesforce"], form["fields-0-required"]
    answer = admin_client.post(f"/admin/mappings/{stored.id}", data=form)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("saved=off")
    stored = rows()["customers"]
    assert stored.realtime is False and stored.spec["realtime"] is False
    assert "real time was switched off" in admin_client.get(answer.headers["Location"]).text


def test_editing_keeps_real_time_of_a_complete_mapping(connected, admin_client):
    stored = rows()["customers"]
    answer = admin_client.post(f"/admin/mappings/{stored.id}", data=customer_form(name="customers"))
    assert answer.status_code == 303 and answer.headers["Location"].endswith("saved=1")
    assert rows()["customers"].spec["realtime"] is True


def test_a_form_the_validator_refuses_is_not_saved_and_the_error_sits_in_its_row(
    connected, admin_client
):
    form = customer_form(**{"fields-3-salesforce": "QBO Balance!", "fields-4-values": "oops"})
    answer = admin_client.post("/admin/mappings/new", data=form)
    assert answer.status_code == 422
    assert "clients" not in rows()
    row = re.search(r'<div class="map-row" id="fields-4">.*?</ul>', answer.text, re.S).group(0)
    assert "value map line &#39;oops&#39; is not" in row
    assert 'aria-invalid="true"' in row
    assert "This cannot be saved" in answer.text


def test_the_sync_config_validator_messages_reach_the_row(connected, admin_client):
    form = customer_form(**{"fields-3-salesforce": "QBO Balance!"})
    answer = admin_client.post("/admin/mappings/new", data=form)
    assert answer.status_code == 422
    row = re.search(r'<div class="map-row" id="fields-3">.*?</ul>', answer.text, re.S).group(0)
    assert "&#39;QBO Balance!&#39; is not a Salesforce field API name" in row


def test_a_taken_name_is_refused(connected, admin_client):
    answer = admin_client.post("/admin/mappings/new", data=customer_form(name="customers"))
    assert answer.status_code == 422
    assert "&#39;customers&#39; is already the name of another mapping" in answer.text


def test_the_check_answers_the_panel_and_each_rows_messages_out_of_band(connected, admin_client):
    form = {
        "name": "invoices",
        "quickbooks": "Invoice",
        "salesforce": "Opportunity",
        "direction": "quickbooks_to_salesforce",
        "fields-2-quickbooks": "TxnDate",
        "fields-2-salesforce": "Amount",
        "fields-7-quickbooks": "DocNumber",
        "fields-7-salesforce": "Name",
    }
    answer = admin_client.post("/admin/mappings/check", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="problems"')
    date_row = re.search(
        r'<ul class="row-messages" id="fields-2-messages" hx-swap-oob="true">.*?</ul>',
        answer.text,
        re.S,
    )
    assert "TxnDate → Amount puts a date into a number field." in date_row.group(0)
    name_row = re.search(r'id="fields-7-messages" hx-swap-oob="true">(.*?)</ul>', answer.text, re.S)
    assert "Error" not in name_row.group(1)
    assert "required Salesforce field Stage (StageName) is not mapped" in answer.text
    assert "required Salesforce field Close Date (CloseDate) is not mapped" in answer.text
    # The pickers follow the chosen objects.
    assert '<option value="StageName">' in answer.text
    assert '<option value="TxnDate">' in answer.text


def test_a_constant_fills_a_required_field(connected, admin_client):
    form = {
        "name": "deals",
        "quickbooks": "Invoice",
        "salesforce": "Opportunity",
        "direction": "quickbooks_to_salesforce",
        "fields-0-quickbooks": "DocNumber",
        "fields-0-salesforce": "Name",
        "fields-1-quickbooks": "TxnDate",
        "fields-1-salesforce": "CloseDate",
        "fields-2-salesforce": "StageName",
        "fields-2-default": "Closed Won",
    }
    answer = admin_client.post("/admin/mappings/check", data=form, headers={"HX-Request": "true"})
    assert "Complete: it can be switched on" in answer.text, answer.text


def test_adding_a_row_answers_the_row_and_the_next_add_button(connected, admin_client):
    answer = admin_client.get(
        "/admin/mappings/row?group=fields&n=7&direction=both", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert 'id="fields-7"' in answer.text and "autofocus" in answer.text
    assert '<label for="fields-7-quickbooks">QuickBooks field</label>' in answer.text
    assert '<label for="fields-7-salesforce">Salesforce field</label>' in answer.text
    # Every input of the new row starts empty.
    assert (
        '<textarea id="fields-7-values" name="fields-7-values" rows="2"></textarea>' in answer.text
    )
    assert '<details class="row-more">' in answer.text  # closed: nothing set yet
    button = re.search(r'<button[^>]*id="add-fields"[^>]*>', answer.text, re.S).group(0)
    assert 'hx-swap-oob="true"' in button and "n=8" in button
    assert admin_client.get("/admin/mappings/row?group=nope&n=1").status_code == 400


def test_auto_map_by_name_proposes_rows_for_an_empty_mapping(connected, admin_client):
    form = {"name": "auto", "quickbooks": "Customer", "salesforce": "Account", "direction": "both"}
    answer = admin_client.post("/admin/mappings/automap", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    pairs = set(
        re.findall(
            r'name="fields-(\d+)-quickbooks" value="([^"]*)"'
            r'.*?name="fields-\1-salesforce" value="([^"]*)"',
            answer.text,
            re.S,
        )
    )
    mapped = {(qbo, sf) for _, qbo, sf in pairs}
    assert {
        ("DisplayName", "Name"),
        ("BillAddr.City", "BillingCity"),
        ("Fax.FreeFormNumber", "Fax"),
    } <= mapped
    assert all(sf != "QBO_Id__c" for _, sf in mapped)  # the gateway writes the external id
    # Not for a mapping that already has rows.
    form["fields-0-quickbooks"] = "DisplayName"
    again = admin_client.post("/admin/mappings/automap", data=form, headers={"HX-Request": "true"})
    assert "Auto-map fills an empty mapping only" in again.text


def test_delete_removes_the_mapping_unless_another_looks_it_up(connected, admin_client):
    mapping_store.import_text(INVOICES_YAML)
    customers, invoices = rows()["customers"], rows()["invoices"]
    refused = admin_client.post(f"/admin/mappings/{customers.id}/delete")
    assert refused.status_code == 409
    assert "invoices look up &#39;customers&#39;; change them first" in refused.text
    assert "customers" in rows()
    done = admin_client.post(
        f"/admin/mappings/{invoices.id}/delete", headers={"HX-Request": "true"}
    )
    assert done.headers["HX-Redirect"] == "/admin/mappings?deleted=invoices"
    assert set(rows()) == {"customers"}
    assert admin_client.post(f"/admin/mappings/{invoices.id}/delete").status_code == 404


def test_renaming_a_mapping_that_is_looked_up_is_refused(connected, admin_client):
    mapping_store.import_text(INVOICES_YAML)
    customers = rows()["customers"]
    answer = admin_client.post(
        f"/admin/mappings/{customers.id}", data=customer_form(name="clients")
    )
    assert answer.status_code == 422
    assert "invoices look up &#39;customers&#39; by name" in answer.text
    assert "customers" in rows()


def test_download_is_the_cli_export(connected, admin_client, runner):
    download = admin_client.get("/admin/mappings/export")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="sync-config.yaml"'
    assert download.text == runner.invoke(args=["sync-config", "export"]).output


def test_upload_imports_with_the_clis_validation(connected, admin_client):
    bad = "mappings:\n  - name: invoices\n    quickbooks: Invoise\n    salesforce: Opportunity\n"
    answer = admin_client.post(
        "/admin/mappings/import",
        data={"file": (io.BytesIO(bad.encode()), "mine.yaml")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "mine.yaml is not valid; nothing was changed" in answer.text
    assert (
        "line 3: mappings[0].quickbooks: &#39;Invoise&#39; is not a QuickBooks entity"
        in answer.text
    )
    assert set(rows()) == {"customers"}
    good = admin_client.post(
        "/admin/mappings/import",
        data={"file": (io.BytesIO(ITEMS_YAML.encode()), "mine.yaml"), "prune": "on"},
        content_type="multipart/form-data",
    )
    assert good.status_code == 200
    assert "mine.yaml: 1 created, 0 replaced, 0 unchanged, 1 removed." in good.text
    assert set(rows()) == {"items"}
    missing = admin_client.post(
        "/admin/mappings/import", data={}, content_type="multipart/form-data"
    )
    assert missing.status_code == 422 and "Choose a sync-config file" in missing.text


def test_preview_shows_the_record_and_the_payload_without_writing(connected, admin_client):
    customer = connected.customer(DisplayName="Acme Ltd", BillAddr={"City": "Leeds"})
    # Its webhook is answered before the test ends, so no request outlives the test's app.
    connected.platforms.wait_webhooks_delivered()
    connected.platforms.clear_calls()
    form = customer_form(preview_direction="quickbooks_to_salesforce", preview_id=customer["Id"])
    answer = admin_client.post("/admin/mappings/preview", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text
    source, payload = preview_of(answer)
    assert source["DisplayName"] == "Acme Ltd" and source["Id"] == customer["Id"]
    assert payload == {
        "Name": "Acme Ltd",
        "QBO_Balance__c": 0,
        "Type": "Other",  # the default: the customer has no type
        "QBO_Id__c": f"{connected.realm}-{customer['Id']}",
    }
    assert connected.platforms.calls("sf", "write") == []
    assert connected.platforms.calls("qbo", "write") == []


def test_preview_search_offers_the_matches(connected, admin_client):
    for name in ("Acme North", "Acme South", "Other"):
        connected.customer(DisplayName=name)
    connected.platforms.wait_webhooks_delivered()
    form = customer_form(preview_search="Acme")
    answer = admin_client.post("/admin/mappings/preview", data=form, headers={"HX-Request": "true"})
    assert "Several records match" in answer.text
    assert answer.text.count('hx-vals=\'{"preview_id"') == 2
    single = admin_client.post(
        "/admin/mappings/preview", data=customer_form(preview_search="Other")
    )
    assert preview_of(single)[1]["Name"] == "Other"


def test_preview_from_salesforce_maps_towards_quickbooks(connected, admin_client):
    account = connected.platforms.sf_create("Account", {"Name": "Globex", "BillingCity": "Oslo"})
    form = customer_form(
        preview_direction="salesforce_to_quickbooks",
        preview_id=account["Id"],
        **{"fields-8-quickbooks": "BillAddr.City", "fields-8-salesforce": "BillingCity"},
    )
    answer = admin_client.post("/admin/mappings/preview", data=form, headers={"HX-Request": "true"})
    source, payload = preview_of(answer)
    assert source["Name"] == "Globex" and source["Id"] == account["Id"]
    assert payload == {"DisplayName": "Globex", "BillAddr": {"City": "Oslo"}}


def test_preview_says_what_is_missing(connected, admin_client):
    answer = admin_client.post("/admin/mappings/preview", data=customer_form())
    assert "give a record id or a name to search for" in answer.text
    answer = admin_client.post("/admin/mappings/preview", data=customer_form(preview_id="999"))
    assert "no Customer 999" in answer.text


def test_without_salesforce_the_pages_still_work_and_say_why(app, admin_client):
    add_mappings()
    page = admin_client.get("/admin/mappings")
    assert page.status_code == 200 and "Incomplete" in page.text
    editor = admin_client.get(f"/admin/mappings/{rows()['customers'].id}")
    assert editor.status_code == 200
    assert "Salesforce is not connected: connect it on the Connections page" in editor.text
    assert '<input id="salesforce" name="salesforce" value="Account"' in editor.text


def test_an_unknown_mapping_is_404(connected, admin_client):
    assert admin_client.get("/admin/mappings/9999").status_code == 404


def test_the_describe_is_cached_across_pages(connected, admin_client):
    mapping_store.import_text(INVOICES_YAML)
    for _ in range(3):
        assert admin_client.get("/admin/mappings").status_code == 200
    describes = [
        call["path"] for call in connected.platforms.calls("sf") if "describe" in call["path"]
    ]
    # Account and Opportunity once each, shared by every later page (and the sync).
    assert sorted(describes) == [
        "/services/data/v59.0/sobjects/Account/describe",
        "/services/data/v59.0/sobjects/Opportunity/describe",
    ]


def test_a_cached_describe_needs_no_salesforce_client(app, admin_client):
    """Within the cache's lifetime a page builds no client at all (no session, no token use):
    here the org row has no access token, which a client could not even be built from."""
    from gateway import queue
    from gateway.connectors.salesforce import describe_cache_key, trimmed_field
    from gateway.models import SalesforceOrg
    from tests.fakes.salesforce_schema import default_objects

    db.session.add(SalesforceOrg(org_id="00DCACHED00000001", instance_url="https://x.invalid"))
    db.session.commit()
    objects = default_objects()
    backend = queue.backend()
    for name, sobject in objects.items():
        fields = [trimmed_field(f) for f in sobject.describe("59.0")["fields"]]
        backend.cache_set(describe_cache_key("00DCACHED00000001", name), fields, 60)
    backend.cache_set(
        describe_cache_key("00DCACHED00000001"),
        [{"name": name, "label": o.label} for name, o in objects.items()],
        60,
    )
    add_mappings()
    page = admin_client.get("/admin/mappings")
    assert page.status_code == 200 and "Complete" in page.text
    editor = admin_client.get(f"/admin/mappings/{rows()['customers'].id}")
    assert editor.status_code == 200 and '<option value="Product2"' in editor.text


def test_messages_about_the_forms_own_inputs_sit_under_them(connected, admin_client):
    form = customer_form(external_id="Email__c", on_delete_flag="Email__c")
    answer = admin_client.post("/admin/mappings/check", data=form, headers={"HX-Request": "true"})
    external_id = re.search(
        r'id="external_id-messages" hx-swap-oob="true">(.*?)</ul>', answer.text, re.S
    )
    assert "Account.Email__c is not marked External ID in Salesforce" in external_id.group(1)
    flag = re.search(
        r'id="on_delete_flag-messages" hx-swap-oob="true">(.*?)</ul>', answer.text, re.S
    )
    assert "the delete flag Account.Email__c is a email field, not a checkbox" in flag.group(1)
    # Saved anyway (incomplete), and the editor ties them to the inputs.
    saved = admin_client.post("/admin/mappings/new", data=form)
    page = admin_client.get(saved.headers["Location"]).text
    field = re.search(r'<input id="external_id"[^>]*>', page).group(0)
    assert 'aria-describedby="external_id-messages"' in field and 'aria-invalid="true"' in field
    assert re.search(r'id="external_id-messages">\s*<li class="error">', page)
    # A name the validator refuses is shown under the name.
    refused = admin_client.post("/admin/mappings/new", data=customer_form(name="Not OK"))
    assert refused.status_code == 422
    name = re.search(r'id="name-messages">(.*?)</ul>', refused.text, re.S).group(1)
    assert "&#39;Not OK&#39; is not a name of a-z, 0-9, _ and -" in name
