"""Batch runs as a person starts them: `flask sync run … --json`, and a batch-queue worker."""

from __future__ import annotations

import json

from tests.support.drain import run_batch_worker as batch_worker
from tests.support.scenario import connect

__all__ = ["batch_scenario", "batch_worker", "sync_run"]


def sync_run(runner, *args: str, direction: str = "quickbooks_to_salesforce") -> dict:
    """`flask sync run ARGS --json` one way (the test mappings flow both ways, and without
    --direction a run goes both)."""
    result = runner.invoke(args=["sync", "run", *args, "--direction", direction, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def batch_scenario(app, runner, fakes):
    """Both platforms connected for batch runs: pages of two records, so a few records make
    several pages, and no QuickBooks webhooks (a first sync is of what no webhook announced)."""
    app.config["BATCH_PAGE_SIZE"] = 2
    scenario = connect(app, runner, fakes)
    scenario.platforms.settings("qbo", webhooks_enabled=False)
    return scenario
