"""What a newcomer installs: any supported Python, exactly pinned dependencies."""

from __future__ import annotations

import re
import tomllib

from tests.support.factories import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _makefile_pythons() -> list[str]:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, re.MULTILINE).group(1).split()


def test_python_3_11_and_later_are_accepted_with_no_upper_cap():
    # Ubuntu 24.04 ships 3.12; Debian 13 and Heroku's default are 3.13.
    assert PROJECT["requires-python"] == ">=3.11"


def test_the_supported_pythons_agree_between_pyproject_and_the_makefile():
    classified = sorted(
        c.rsplit(" :: ", 1)[1]
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert classified == sorted(_makefile_pythons()) == ["3.11", "3.12", "3.13"]


def test_every_dependency_is_pinned_exactly():
    requirements = PROJECT["dependencies"] + [
        requirement for group in PROJECT["optional-dependencies"].values() for requirement in group
    ]
    loose = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9_.-]+(\[\w+\])?==[\w.]+", r)]
    assert loose == []
