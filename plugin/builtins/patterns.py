"""Default plugin `builtin.patterns`: the bundled model / part-number patterns."""

from __future__ import annotations

from plugin.hooks import hookimpl
from plugin.hooktypes import Settings
from plugin.matcher import PartPattern, load_patterns


@hookimpl
def entityscan_patterns(settings: Settings) -> list[PartPattern]:
    return load_patterns()
