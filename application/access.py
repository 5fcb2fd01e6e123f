"""Who may do what to whose networks and IPs: metal-api's roles with tenant scoping.

- `viewer` reads, `editor` also allocates and frees child networks and IPs, `admin` also
  creates, updates and deletes networks and manages tokens.
- A principal bound to projects sees the networks of those projects and the networks without a
  project (supers, external networks); it allocates children only for its projects, acquires
  addresses only for its projects and only in its own networks or in shared or project-less
  ones, and sees, frees and updates only its projects' IPs.
- What a principal may not see is reported as not found (404), so that existence does not leak;
  what it sees but may not do is forbidden (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.errors import ForbiddenError, IPNotFoundError, NetworkNotFoundError
from domain.token import Role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's subject, role and projects (None: every project),
    and the credential it came with (`token:<id>`): idempotency keys are that credential's."""

    subject: str
    role: Role
    projects: frozenset[str] | None = None
    credential: str = ""

    def require(self, role: Role, action: str) -> None:
        """ForbiddenError (403) unless the role is at least `role`."""
        if self.role.rank < role.rank:
            raise ForbiddenError(f"{self.subject} has the role {self.role.value}, which may not {action}")

    def owns(self, project_id: str) -> bool:
        """The project is one of the principal's (any, when it is not bound to projects)."""
        return self.projects is None or project_id in self.projects

    def require_project(self, project_id: str, action: str) -> None:
        if not self.owns(project_id):
            raise ForbiddenError(f"{self.subject} may not {action} for project {project_id!r}")

    def sees_network(self, project_id: str) -> bool:
        """A network of its projects, or one without a project (a super, an external network)."""
        return self.projects is None or not project_id or project_id in self.projects

    def sees_ip(self, project_id: str) -> bool:
        return self.owns(project_id)

    @property
    def bound(self) -> bool:
        """Bound to projects: partition infrastructure (private supers, underlays, networks
        without a project, chosen VRF ids) is not its to create."""
        return self.projects is not None


def visible_network(principal: Principal | None, document: dict[str, Any], network_id: str) -> None:
    """NetworkNotFoundError (404) when the principal may not see the network."""
    if principal is not None and not principal.sees_network(document.get("project_id") or ""):
        raise NetworkNotFoundError(f'network with id "{network_id}" not found')


def visible_ip(principal: Principal | None, document: dict[str, Any], address: str) -> None:
    """IPNotFoundError (404) when the principal may not see the IP."""
    if principal is not None and not principal.sees_ip(document.get("project_id") or ""):
        raise IPNotFoundError(f'ip with address "{address}" not found')
