"""The admin home page."""

from __future__ import annotations

from . import bp
from .rendering import render_page


@bp.get("/")
def index():
    return render_page("admin/index.html", title="Home")
