"""Sites: every scan and device belongs to one (a school, a hospital, a shop).

A site name is a short slug, the same everywhere it appears (`--site`, a document's `site`,
`?site=` filters, the dashboard): letters, digits, `.`, `_` and `-`, at most 64 characters,
starting with a letter or digit, and folded to lower case so `Site-12` and `site-12` are one
site.  Anything else (spaces, slashes, look-alike letters from other scripts, control
characters) is refused with a message rather than changed silently.  A single-site user never
has to say one: `ENTITYSCAN_SITE`, else `default`.
"""

from __future__ import annotations

import os
import re

from entityscan.errors import InputError

DEFAULT_SITE = "default"
SITE_ENV = "ENTITYSCAN_SITE"
MAX_SITE = 64
SITE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_SITE = re.compile(SITE_PATTERN)


def check_site(name: str, where: str = "--site") -> str:
    """The site name in its one spelling, or InputError naming what is wrong."""
    folded = name.strip().lower()
    if _SITE.fullmatch(folded):
        return folded
    shown = name[:80].encode("unicode_escape").decode("ascii")
    if not folded:
        raise InputError(f"{where}: a site name cannot be empty")
    if len(folded) > MAX_SITE:
        raise InputError(f"{where}: site name {shown!r}… is longer than {MAX_SITE} characters")
    raise InputError(f"{where}: site name {shown!r} may hold only letters a-z, digits, '.', "
                     f"'_' and '-', starting with a letter or digit (e.g. site-12, "
                     f"lincoln-elementary)")


def default_site() -> str:
    """`ENTITYSCAN_SITE` (checked), else `default`."""
    configured = os.environ.get(SITE_ENV, "").strip()
    return check_site(configured, SITE_ENV) if configured else DEFAULT_SITE


def resolve_site(name: str | None) -> str:
    """The site a run records: `--site`, else the default."""
    return check_site(name) if name else default_site()
