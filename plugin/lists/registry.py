"""Which lists a run uses: bundled data, the installed official copy, and `--list` files.

(Interface placeholder: the CSL loader and the installed-copy registry replace this module.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plugin.errors import ListError


def load_list_file(path: Path) -> Any:
    raise ListError(f"{path}: list files are not supported yet")


def default_lists(extra: Sequence[Path] = (), data_dir: Path | None = None) -> Any:
    from plugin.lists import load_bundled

    lists = load_bundled()
    for path in extra:
        lists = lists.merged(load_list_file(path))
    return lists
