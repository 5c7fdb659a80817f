"""Site agents: push scan documents to the central service, spooling what cannot go now.

`Agent` (push.py) sends and decides from the answer; `Spool` (spool.py) keeps what waits,
durably, privately, oldest first and bounded.
"""

from entityscan.agent.push import Agent, Outcome, inventory_url, open_agent, read_token
from entityscan.agent.spool import Spool

__all__ = ["Agent", "Outcome", "Spool", "inventory_url", "open_agent", "read_token"]
