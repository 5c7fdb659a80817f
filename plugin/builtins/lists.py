"""Default plugin `builtin.lists`: the bundled cited lists plus the installed official copy."""

from __future__ import annotations

from typing import Any

from entityscan.hooks import hookimpl
from entityscan.hooktypes import Settings


@hookimpl
def entityscan_list_sources(settings: Settings) -> Any:
    from entityscan.lists import default_lists

    return default_lists(extra=(), data_dir=settings.data_dir)
