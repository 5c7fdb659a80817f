"""Default plugin `builtin.relations`: the bundled brand relations (`relations/brands.yaml`)."""

from __future__ import annotations

from entityscan.hooks import hookimpl
from entityscan.hooktypes import Settings
from entityscan.model import Relation
from entityscan.relations import load_relations


@hookimpl
def entityscan_relations(settings: Settings) -> list[Relation]:
    return load_relations()
