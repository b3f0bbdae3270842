"""The gateway's read-model projections, by name (``studios projections status|rebuild <name>``)."""

from services.gateway.read.projections.base import Projection, run, wait_for_position
from services.gateway.read.projections.studios import STUDIOS

PROJECTIONS: dict[str, Projection] = {STUDIOS.name: STUDIOS}

__all__ = ["PROJECTIONS", "STUDIOS", "Projection", "run", "wait_for_position"]
