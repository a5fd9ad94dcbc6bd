"""A mapping's `on_delete` policy, read in one place."""

from __future__ import annotations


def delete_policy(spec: dict) -> tuple[str, str | None]:
    """("delete" | "flag" | "ignore", the checkbox field when it is "flag")."""
    policy = spec.get("on_delete", "ignore")
    if policy.startswith("flag:"):
        return "flag", policy.split(":", 1)[1]
    return policy, None
