"""Render input files from ``templates/`` with Jinja2 (StrictUndefined: a missing value is an error).

The one place heal builds Jinja2 environments. Templates that use plain block tags on their own lines (the
VASP INCAR) ask for ``block_lines=True`` (trim_blocks + lstrip_blocks); the others control white space
themselves (``{%- -%}``). Filters a template needs are passed by name (e.g. ``("vasp", vasp_value)``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import jinja2

from heal import TEMPLATES_DIR

Filters = tuple[tuple[str, Callable[[Any], str]], ...]


@lru_cache(maxsize=8)
def _env(root: str, block_lines: bool, filters: Filters, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=html,
                             trim_blocks=block_lines, lstrip_blocks=block_lines)
    env.filters.update(dict(filters))
    return env


def render(name: str, context: dict[str, Any], root: Path | None = None, *, block_lines: bool = False,
           filters: Filters = (), html: bool = False) -> str:
    """Render ``templates/<name>`` with `context` (`html`: escape every value for an HTML page)."""
    return _env(str(root or TEMPLATES_DIR), block_lines, filters, html).get_template(name).render(**context)


def render_to(name: str, context: dict[str, Any], dest: Path, root: Path | None = None) -> Path:
    dest.write_text(render(name, context, root))
    return dest
