"""The mappings pages: list, create, edit and delete object mappings; field rows edited inline;
the completeness check as you type; a preview on a real record; the sync-config file's download
and upload.

The editor is one form. Its rows live only in the page until Save, so adding and removing rows
needs no request that changes data; every change posts the whole form to `check`, which answers
with the problems panel and each row's messages (out-of-band swaps), computed on the server.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, make_response, redirect, render_template, request, url_for
from htmx_flask import make_response as htmx_response
from sqlalchemy import select

from gateway import automap, mapping_check, mapping_store, qbo_fields, salesforce_schema
from gateway.extensions import db
from gateway.mapping import BOTH, COERCIONS, QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from gateway.models import Company, ObjectMapping
from gateway.preview import PreviewUnavailable, preview
from gateway.qbo_entities import WEBHOOK_ENTITIES
from gateway.sync_config import DEFAULT_EXTERNAL_ID, ConfigError

from . import bp
from .mappings_form import (
    HEADER_INPUTS,
    ROW_GROUPS,
    EditorState,
    draft,
    row_for,
    state_from_form,
    state_from_spec,
)
from .rendering import render_page

EDITOR = "admin/mappings_editor.html"
DIRECTION_LABELS = {
    BOTH: "Both ways",
    QUICKBOOKS_TO_SALESFORCE: "QuickBooks → Salesforce",
    SALESFORCE_TO_QUICKBOOKS: "Salesforce → QuickBooks",
}
ON_DELETE_LABELS = {
    "ignore": "Leave the Salesforce record alone",
    "delete": "Delete the Salesforce record",
    "flag": "Tick a checkbox field on it",
}


def _mapping_or_404(mapping_id: int) -> ObjectMapping:
    row = db.session.get(ObjectMapping, mapping_id)
    if row is None:
        abort(404)
    return row


def _all_mappings() -> list[ObjectMapping]:
    return list(db.session.execute(select(ObjectMapping).order_by(ObjectMapping.name)).scalars())


# -- the list, import and export -----------------------------------------------------------------


@bp.get("/mappings")
def mappings():
    return _render_list()


def _render_list(status: int = 200, **context: Any) -> Response:
    rows = _all_mappings()
    describe = mapping_check.page_describer()
    checks = {row.id: mapping_check.check(row, describe) for row in rows}
    response = render_page(
        "admin/mappings_list.html",
        title="Mappings",
        mappings=rows,
        checks=checks,
        direction_labels=DIRECTION_LABELS,
        **context,
    )
    response.status_code = status
    return response


@bp.get("/mappings/export")
def mappings_export():
    response = make_response(mapping_store.export_text())
    response.mimetype = "application/yaml"
    response.headers["Content-Disposition"] = 'attachment; filename="sync-config.yaml"'
    return response


@bp.post("/mappings/import")
def mappings_import():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_list(422, import_errors=["Choose a sync-config file (YAML) to upload."])
    try:
        text = upload.read().decode("utf-8")
    except UnicodeDecodeError:
        return _render_list(422, import_errors=["The file is not UTF-8 text."])
    try:
        result = mapping_store.import_text(text, prune=request.form.get("prune") == "on")
    except ConfigError as exc:
        db.session.rollback()
        return _render_list(422, import_errors=exc.errors, import_name=upload.filename)
    return _render_list(import_result=result.summary(), import_name=upload.filename)


# -- the editor ----------------------------------------------------------------------------------


def _described(sobject: str) -> tuple[dict[str, dict] | None, str | None]:
    """(describe or None, why it is missing) for an object named in the form."""
    if not sobject:
        return None, None
    try:
        found = salesforce_schema.fields(sobject)
    except salesforce_schema.SchemaUnavailable as exc:
        return None, str(exc)
    return found, None if found is not None else f"The Salesforce org has no object {sobject}."


def _pickers(state: EditorState) -> dict[str, Any]:
    """What the selects and type-ahead lists offer for the objects chosen in ``state``."""
    entity = state.header.get("quickbooks", "")
    sf_fields, sf_problem = _described(state.header.get("salesforce", ""))
    line_fields, _ = (
        _described(state.lines.get("salesforce", "")) if state.lines_enabled else ({}, None)
    )
    try:
        sf_objects, objects_problem = salesforce_schema.objects(), None
    except salesforce_schema.SchemaUnavailable as exc:
        sf_objects, objects_problem = [], str(exc)
    return {
        "entities": WEBHOOK_ENTITIES,
        "qbo_fields": qbo_fields.fields_of(entity),
        "required_paths": mapping_check.REQUIRED_QUICKBOOKS_FIELDS.get(entity, ()),
        "qbo_line_fields": qbo_fields.fields_of(entity, lines=True),
        "sf_objects": sf_objects,
        "sf_objects_problem": objects_problem,
        "sf_fields": sorted((sf_fields or {}).values(), key=lambda f: f["name"]),
        "sf_problem": sf_problem,
        "sf_line_fields": sorted((line_fields or {}).values(), key=lambda f: f["name"]),
    }


def _check(state: EditorState, row: ObjectMapping | None) -> dict[str, Any]:
    """Validate the form as the sync-config file would be, then check completeness."""
    drafted = draft(state, row.spec.get("realtime", False) if row else False)
    others = [m.name for m in _all_mappings() if row is None or m.id != row.id]
    errors = list(drafted.errors)
    spec = None
    if not errors:
        try:
            spec = mapping_store.normalize(drafted.mapping, others)
        except ConfigError as exc:
            errors = exc.errors
    problems = mapping_check.check_spec(spec) if spec else []
    row_messages: dict[str, list[tuple[str, str]]] = {}
    general: list[tuple[str, str, str | None]] = []
    for message in errors:
        where = message.split(":", 1)[0]
        target = row_for(where, drafted.row_of)
        general.append(("error", message, target))
        if target:
            row_messages.setdefault(target, []).append(("error", message.split(": ", 1)[-1]))
    for problem in problems:
        severity = "error" if problem.blocking else "warning"
        target = row_for(problem.where or "", drafted.row_of)
        general.append((severity, problem.message, target))
        if target:
            row_messages.setdefault(target, []).append((severity, problem.message))
    return {
        "spec": spec,
        "invalid": bool(errors),
        "complete": spec is not None and not mapping_check.blocking(problems),
        "messages": general,
        "row_messages": row_messages,
    }


def _editor_context(state: EditorState, row: ObjectMapping | None, **extra: Any) -> dict:
    companies = list(db.session.execute(select(Company).order_by(Company.realm_id)).scalars())
    check = _check(state, row)
    return {
        "title": f"Mapping {row.name}" if row else "New mapping",
        "mapping": row,
        "state": state,
        "groups": ROW_GROUPS,
        "header_inputs": sorted(set(HEADER_INPUTS.values()) - {"companies"}),
        "next_row": state.next_row_number(),
        "direction_labels": DIRECTION_LABELS,
        "on_delete_labels": ON_DELETE_LABELS,
        "coercions": COERCIONS,
        "lookup_names": [m.name for m in _all_mappings() if row is None or m.id != row.id],
        "companies": companies,
        "default_external_id": DEFAULT_EXTERNAL_ID,
        "check": check,
        "row_messages": check["row_messages"],
        **_pickers(state),
        **extra,
    }


def _editor(state: EditorState, row: ObjectMapping | None, status: int = 200, **extra) -> Response:
    response = render_page(EDITOR, **_editor_context(state, row, **extra))
    response.status_code = status
    return response


def _new_state() -> EditorState:
    return EditorState(
        header={"direction": BOTH, "external_id": DEFAULT_EXTERNAL_ID},
    )


@bp.get("/mappings/new")
def mapping_new():
    return _editor(_new_state(), None)


@bp.get("/mappings/<int:mapping_id>")
def mapping_edit(mapping_id: int):
    row = _mapping_or_404(mapping_id)
    return _editor(state_from_spec(row.spec), row, saved=request.args.get("saved"))


def _save(row: ObjectMapping | None) -> Response:
    state = state_from_form(request.form)
    check = _check(state, row)
    if check["spec"] is None:
        return _editor(state, row, 422)
    spec = check["spec"]
    switched_off = False
    if not check["complete"] and spec.get("realtime"):
        # A mapping with errors may be saved but not left syncing in real time.
        spec = {**spec, "realtime": False}
        switched_off = True
    try:
        saved = mapping_store.save(row, spec)
    except ConfigError as exc:
        db.session.rollback()
        return _editor(state, row, 422, save_errors=exc.errors)
    target = url_for(
        "admin.mapping_edit", mapping_id=saved.id, saved="off" if switched_off else "1"
    )
    return redirect(target, 303)


@bp.post("/mappings/new")
def mapping_create():
    return _save(None)


@bp.post("/mappings/<int:mapping_id>")
def mapping_update(mapping_id: int):
    return _save(_mapping_or_404(mapping_id))


@bp.post("/mappings/<int:mapping_id>/delete")
def mapping_delete(mapping_id: int):
    row = _mapping_or_404(mapping_id)
    try:
        mapping_store.delete(row)
    except ConfigError as exc:
        db.session.rollback()
        return _render_list(409, delete_errors=exc.errors)
    target = url_for("admin.mappings", deleted=row.name)
    if request.headers.get("HX-Request"):
        return htmx_response(redirect=target)
    return redirect(target, 303)


def _posted_row(mapping_id: int | None) -> ObjectMapping | None:
    return _mapping_or_404(mapping_id) if mapping_id else None


@bp.post("/mappings/check")
def mapping_check_form():
    """The form as it stands: the problems panel, each row's messages and fresh pickers."""
    state = state_from_form(request.form)
    row = _posted_row(request.form.get("mapping_id", type=int))
    return render_template("admin/mappings_check.html", **_editor_context(state, row), oob=True)


@bp.get("/mappings/row")
def mapping_row():
    """One empty row for the group asked for, and the add button that will ask for the next."""
    group = request.args.get("group", "fields")
    if group not in ROW_GROUPS:
        abort(400)
    number = request.args.get("n", 0, type=int)
    direction = request.args.get("direction", BOTH)
    return render_template(
        "admin/mappings_row_added.html",
        group=group,
        row={"n": number, "required": False},
        next_row=number + 1,
        direction_labels=DIRECTION_LABELS,
        mapping_direction=direction,
        coercions=COERCIONS,
        lookup_names=[m.name for m in _all_mappings()],
        row_messages={},
    )


@bp.post("/mappings/automap")
def mapping_automap():
    """Fill an empty mapping's field rows with the pairs whose names match."""
    state = state_from_form(request.form)
    row = _posted_row(request.form.get("mapping_id", type=int))
    notice = None
    sf_fields, problem = _described(state.header.get("salesforce", ""))
    if not state.header.get("quickbooks") or sf_fields is None:
        notice = problem or "Choose the QuickBooks and Salesforce objects first."
    elif not state.is_empty():
        notice = "Auto-map fills an empty mapping only; remove the field rows first."
    else:
        rules = automap.auto_map(
            state.header["quickbooks"],
            sf_fields,
            state.header.get("external_id") or DEFAULT_EXTERNAL_ID,
            state.header.get("direction") or BOTH,
        )
        start = state.next_row_number()
        for offset, rule in enumerate(rules):
            state.rows["fields"].append({"n": start + offset, "required": False, **rule})
        notice = f"Proposed {len(rules)} field pairs by name: review them, then Save."
    return render_page(EDITOR, block="editor", **_editor_context(state, row, notice=notice))


@bp.post("/mappings/preview")
def mapping_preview():
    state = state_from_form(request.form)
    row = _posted_row(request.form.get("mapping_id", type=int))
    check = _check(state, row)
    context: dict[str, Any] = {}
    if check["spec"] is None:
        context["preview_error"] = "Fix the mapping's errors first; the preview maps with it."
    else:
        direction = request.form.get("preview_direction") or QUICKBOOKS_TO_SALESFORCE
        realm = request.form.get("preview_company", "")
        company = db.session.execute(
            select(Company).where(Company.realm_id == realm) if realm else select(Company).limit(1)
        ).scalar_one_or_none()
        try:
            context["preview"] = preview(
                check["spec"],
                direction,
                company,
                request.form.get("preview_id", "").strip(),
                request.form.get("preview_search", "").strip(),
            )
        except PreviewUnavailable as exc:
            context["preview_error"] = str(exc)
    return render_template(
        "admin/mappings_preview.html", direction_labels=DIRECTION_LABELS, **context
    )
