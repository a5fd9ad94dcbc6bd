"""`flask sync-config import|export` against the real database."""

from __future__ import annotations

from sqlalchemy import select

from gateway.extensions import db
from gateway.models import ObjectMapping
from tests.support.factories import CUSTOMERS_YAML

INVOICES_YAML = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
      - {quickbooks: TotalAmt, salesforce: Amount}
"""


def mapping_rows() -> dict[str, ObjectMapping]:
    db.session.rollback()
    return {row.name: row for row in db.session.execute(select(ObjectMapping)).scalars()}


def test_import_creates_then_is_idempotent(runner, tmp_path):
    path = tmp_path / "sync.yaml"
    path.write_text(CUSTOMERS_YAML)
    first = runner.invoke(args=["sync-config", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert "1 created, 0 replaced, 0 unchanged, 0 removed" in first.output
    row = mapping_rows()["customers"]
    assert (row.quickbooks_type, row.salesforce_object, row.realtime) == (
        "Customer",
        "Account",
        True,
    )
    assert row.spec["on_delete"] == "flag:QBO_Deleted__c"

    second = runner.invoke(args=["sync-config", "import", str(path)])
    assert second.exit_code == 0
    assert "0 created, 0 replaced, 1 unchanged, 0 removed" in second.output
    assert mapping_rows()["customers"].updated_at == row.updated_at


def test_export_import_export_is_byte_identical(runner, tmp_path):
    source = tmp_path / "in.yaml"
    source.write_text(CUSTOMERS_YAML)
    assert runner.invoke(args=["sync-config", "import", str(source)]).exit_code == 0
    (tmp_path / "inv.yaml").write_text(INVOICES_YAML)
    assert runner.invoke(args=["sync-config", "import", str(tmp_path / "inv.yaml")]).exit_code == 0

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert runner.invoke(args=["sync-config", "export", str(first)]).exit_code == 0
    assert runner.invoke(args=["sync-config", "import", str(first)]).exit_code == 0
    assert runner.invoke(args=["sync-config", "export", str(second)]).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    # defaults are spelled out: the invoices mapping was given none
    assert "realtime: false" in first.read_text()
    to_stdout = runner.invoke(args=["sync-config", "export"])
    assert to_stdout.output == first.read_text()


def test_import_replaces_named_mappings_and_prunes_only_when_asked(runner, tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(CUSTOMERS_YAML + INVOICES_YAML.replace("mappings:\n", ""))
    assert runner.invoke(args=["sync-config", "import", str(both)]).exit_code == 0
    only_customers = tmp_path / "c.yaml"
    only_customers.write_text(CUSTOMERS_YAML.replace("realtime: true", "realtime: false"))

    kept = runner.invoke(args=["sync-config", "import", str(only_customers)])
    assert "0 created, 1 replaced, 0 unchanged, 0 removed" in kept.output
    rows = mapping_rows()
    assert set(rows) == {"customers", "invoices"}
    assert rows["customers"].realtime is False

    pruned = runner.invoke(args=["sync-config", "import", "--prune", str(only_customers)])
    assert "1 removed" in pruned.output
    assert set(mapping_rows()) == {"customers"}


def test_invalid_file_names_line_and_field_and_changes_nothing(runner, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        CUSTOMERS_YAML.replace("direction: quickbooks_to_salesforce", "direction: sideways")
    )
    result = runner.invoke(args=["sync-config", "import", str(path)])
    assert result.exit_code != 0
    assert "line 14" in result.output
    assert "mappings[0].fields[3].direction" in result.output
    assert "sideways" in result.output
    assert mapping_rows() == {}


def test_lookup_to_an_unknown_mapping_is_refused(runner, tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text(INVOICES_YAML)
    result = runner.invoke(args=["sync-config", "import", str(path)])
    assert result.exit_code != 0
    assert "customers" in result.output
    assert "lookup" in result.output


def test_missing_file_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(args=["sync-config", "import", str(tmp_path / "nope.yaml")])
    assert result.exit_code != 0
    assert "cannot read" in result.output
