"""The matcher: one normalisation for both sides, indexed candidate retrieval, explained scores.

Public API: `Matcher` (build once over lists, relations and patterns; `screen_item`,
`screen_device`), `MatchPolicy` (thresholds, passed in), `normalise`, `load_patterns`.
"""

from entityscan.matcher.core import Matcher, MatchPolicy
from entityscan.matcher.normalise import normalise
from entityscan.matcher.patterns import PartPattern, load_patterns

__all__ = ["MatchPolicy", "Matcher", "PartPattern", "load_patterns", "normalise"]
