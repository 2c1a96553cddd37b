"""Write the team dashboard: read every source, render one static ``index.html``."""

from __future__ import annotations

from pathlib import Path

from recsys.reporting.dashboard import DashboardSources, collect
from recsys.reporting.render import render


def build_dashboard(sources: DashboardSources, out_dir: Path) -> Path:
    """Write ``out_dir/index.html``; its path. Nothing is written when a source is corrupt."""
    data = collect(sources)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = render(data, out_dir.resolve())
    target = out_dir / "index.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
