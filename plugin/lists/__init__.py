"""Restricted-party lists: the bundled cited starter set, the official CSL files, and the
installed copy that `entityscan lists update` keeps.

Public API:
- `ListSet`: an immutable bundle of entries with per-source metadata and a content hash;
- `ListSource`: where one group of entries came from (name, location, dates, counts, hash);
- `load_bundled()`: the cited starter dataset shipped with entityscan;
- `load_list_file(path)`: a CSL CSV/JSON file (or a bundled-format YAML file);
- `default_lists(extra, data_dir)`: bundled + the installed CSL copy + `--list` files;
- `update_lists(source, data_dir)`: fetch, validate and install a new CSL copy, fail-closed.
"""

from entityscan.lists.bundled_loader import load_bundled
from entityscan.lists.list_set import ListSet, ListSource
from entityscan.lists.registry import default_lists, load_list_file, update_lists

__all__ = ["ListSet", "ListSource", "default_lists", "load_bundled", "load_list_file",
           "update_lists"]
