"""Render input files from ``templates/`` with Jinja2 (StrictUndefined: a missing value is an error)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from heal import TEMPLATES_DIR


@lru_cache(maxsize=4)
def _env(root: str, html: bool = False) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(root), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=html)


def render(name: str, context: dict[str, Any], root: Path | None = None, html: bool = False) -> str:
    """Render ``templates/<name>`` with `context` (`html`: escape every value for an HTML page)."""
    return _env(str(root or TEMPLATES_DIR), html).get_template(name).render(**context)


def render_to(name: str, context: dict[str, Any], dest: Path, root: Path | None = None) -> Path:
    dest.write_text(render(name, context, root))
    return dest
