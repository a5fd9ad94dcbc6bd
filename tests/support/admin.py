"""What the admin tests share: a Customer → Account mapping missing its required Name, the same
mapping completed, and importing a mapping file as a person does from the command line."""

from __future__ import annotations

NAME_MISSING = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: quickbooks_to_salesforce
    external_id: QBO_Id__c
    on_delete: flag:QBO_Deleted__c
    fields:
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
      - {quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}
"""
COMPLETE = NAME_MISSING + "      - {quickbooks: DisplayName, salesforce: Name, required: true}\n"


def import_mappings(runner, tmp_path, text: str) -> None:
    """`flask sync-config import` (the mappings pages come with another helper)."""
    path = tmp_path / "sync.yaml"
    path.write_text(text)
    result = runner.invoke(args=["sync-config", "import", str(path)])
    assert result.exit_code == 0, result.output
