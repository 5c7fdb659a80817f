"""Default plugin `builtin.patterns`: the bundled model / part-number patterns."""

from __future__ import annotations

from entityscan.hooks import hookimpl
from entityscan.hooktypes import Settings
from entityscan.matcher import PartPattern, load_patterns


@hookimpl
def entityscan_patterns(settings: Settings) -> list[PartPattern]:
    return load_patterns()
