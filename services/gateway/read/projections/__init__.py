"""The gateway's read-model projections, by name (``studios projections status|rebuild <name>``)."""

from services.gateway.read.projections.base import Projection, run, wait_for_position
from services.gateway.read.projections.builds import BUILDS
from services.gateway.read.projections.checkpoints import CHECKPOINTS
from services.gateway.read.projections.deployments import DEPLOYMENTS
from services.gateway.read.projections.identity import IDENTITY
from services.gateway.read.projections.jobs import JOBS
from services.gateway.read.projections.studios import STUDIOS

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (IDENTITY, STUDIOS, CHECKPOINTS, BUILDS, DEPLOYMENTS,
                                                                JOBS)}

__all__ = ["BUILDS", "CHECKPOINTS", "DEPLOYMENTS", "IDENTITY", "JOBS", "PROJECTIONS", "STUDIOS", "Projection", "run",
           "wait_for_position"]
