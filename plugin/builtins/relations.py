"""Default plugin `builtin.relations`: the bundled brand relations (`relations/brands.yaml`)."""

from __future__ import annotations

from plugin.hooks import hookimpl
from plugin.hooktypes import Settings
from plugin.model import Relation
from plugin.relations import load_relations


@hookimpl
def entityscan_relations(settings: Settings) -> list[Relation]:
    return load_relations()
