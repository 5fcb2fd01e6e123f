"""What the OpenAPI document says in words: the descriptions several fields share (metal-api's
wording where its swagger has some, ours where we say more), an example per request body, what
each route can refuse and why, and the `X-Change-Reason` header of the writes.

Refusals are per operation, from what the route can actually answer: 401 from the
authentication middleware (every route but health), 403 from the role and project checks of the
write use cases (`application.access`; reads show what a principal may not see as not found),
404 where an id or address is looked up, 409 and 422 as metal-api answers them (SPEC 9), 400
for malformed input, and 413 where a body is read (`api.hardening`). Every write may also answer
409 when it keeps colliding with concurrent changes, and 422 for an `Idempotency-Key` used
before with another request (`application.writes`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from domain.identifiers import ID_RULE
from domain.network_values import MACHINE_TAG

# -- descriptions several fields share ---------------------------------------------------------

ID = ("the unique ID of this entity, auto-generated (a UUID) if left empty; one that exists "
      f"already is a conflict (409); an id is {ID_RULE}")
AN_ID = f"; an id is {ID_RULE}"
NAME, DESCRIPTION = "a readable name for this entity", "a description for this entity"
PARTITION = "the partition this network belongs to"
NETWORK_PROJECT = "the project id this network belongs to, can be empty if globally available"
IGNORED_PARENT = ("the id of the parent network: ignored, as metal-api ignores it (child "
                  "networks are carved by POST /v1/network/allocate)")
PREFIXES = ("the prefixes of this network: CIDRs in canonical form (10.0.0.0/16, not "
            "10.0.0.1/16), IPv4 and IPv6 alike (a network may hold both)")
DESTINATIONS = ("the destination prefixes of this network (CIDRs); each of their address "
                "families must also be one of the network's prefixes")
ANNOUNCABLE = ("list of cidrs which are added to the route maps per tenant private network, these"
               " are typically pod- and service cidrs, can only be set for private super networks")
CHILD_LENGTHS = ("if privatesuper, this defines the bitlen of child prefixes per addressfamily "
                 "(keys IPv4, IPv6, any case), e.g. {\"IPv4\": 22, \"IPv6\": 96}: required "
                 "then, one per family of the prefixes, each longer than those prefixes")
CHILD_LENGTH = ("the bit lengths of the prefix to allocate per addressfamily (e.g. "
                "{\"IPv6\": 112}), merged over the default child prefix lengths of the parent "
                "network")
CHILD_FAMILY = ("the addressfamily to allocate a child network. If not specified, the child "
                "network inherits the addressfamilies from the parent.")
LABELS = "free labels that you associate with this network."
PRIVATE_SUPER = ("if set to true, this network will serve as a partition's super network for the "
                 "internal machine networks, there can only be one privatesuper network per "
                 "partition")
UNDERLAY = "if set to true, this network can be used for underlay communication; one per partition"
NAT = ("if set to true, packets leaving this ipv4 network get masqueraded behind interface ip; "
       "not for private super or underlay networks")
SHARED = ("marks a network as shareable: other projects may acquire IPs in it; a shared network "
          "cannot be unshared")
VRF = "the vrf this network is associated with, 1 to 131072; 0 or absent: none"
VRF_SHARED = ("if set to true, given vrf can be used by multiple networks, which is sometimes "
              "useful for network partitioning (default: false)")
APIV2 = "accepted and ignored (metal-stack apiv2): the server derives it"
UNCHANGED = "; absent: unchanged"
TAGS = "free tags that you associate with this ip (e.g. key=value), de-duplicated and sorted"
MACHINE = (f"the machine id this ip should be associated with: adds the tag {MACHINE_TAG}"
           "<machineid> (an IP with it cannot be freed)")
IP_FAMILY = ("the addressfamily to allocate a ip address from the given network, defaults to "
             "IPv4 (IPv6 in a network without IPv4 prefixes); not together with a specific ip")
ALLOCATION = ("a unique identifier for this ip address allocation, can be used to distinguish "
              "between ip address allocation over time.")
IP_TYPE = ("the ip type, ephemeral leads to automatic cleanup of the ip address, static will "
           "enable re-use of the ip at a later point in time")
CREATED, CHANGED = ("the creation time of this entity (RFC 3339)",
                    "the last changed timestamp of this entity (RFC 3339)")
BIG = " (a decimal string: IPv6 figures outgrow JSON numbers)"

NETWORK_ID = "identifier of the network"
IP_ADDRESS = "the address (IPv4 or IPv6) of the ip"

# -- an example per request body: each one is accepted in this order on an empty store --------

PROJECT = "4b9b17c4-2d7c-4190-ae95-dda44e430fa6"
SUPER = "tenant-super-network-mini-lab"
INTERNET = "internet-mini-lab"
WEB, INGRESS = "185.1.2.1", "185.1.2.10"  # what the IP examples acquire, in this order

EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "createNetwork": {
        "private super": {"summary": "a partition's dual-stack private super network", "value": {
            "id": SUPER, "name": "Project Super Network", "partitionid": "mini-lab",
            "description": "Super network of all project networks",
            "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64"],
            "defaultchildprefixlength": {"IPv4": 22, "IPv6": 96}, "privatesuper": True}},
        "internet": {"summary": "an external network with NAT and a VRF", "value": {
            "id": INTERNET, "name": "internet", "partitionid": "mini-lab",
            "description": "the internet, through the partition's exit routers",
            "prefixes": ["185.1.2.0/24", "2001:db8:ff::/48"],
            "destinationprefixes": ["0.0.0.0/0", "::/0"], "nat": True, "vrf": 104009,
            "labels": {"network.metal-stack.io/default-external": ""}}},
        "underlay": {"summary": "the partition's underlay network", "value": {
            "id": "underlay-mini-lab", "name": "underlay", "partitionid": "mini-lab",
            "prefixes": ["10.1.0.0/24"], "underlay": True}},
    },
    "updateNetwork": {
        "describe": {"summary": "rename and relabel", "value": {
            "id": SUPER, "name": "tenant super network",
            "labels": {"network.metal-stack.io/partition": "mini-lab"}}},
        "grow": {"summary": "add a prefix (the new full list)", "value": {
            "id": SUPER, "prefixes": ["10.0.0.0/16", "2001:db8:0:10::/64", "10.2.0.0/16"]}},
    },
    "allocateNetwork": {
        "dual-stack": {"summary": "a child at the super's default lengths", "value": {
            "partitionid": "mini-lab", "projectid": PROJECT, "name": "my-node-network",
            "description": "the nodes of cluster one", "labels": {"cluster": "one"}}},
        "IPv6 /112": {"summary": "an IPv6-only child of another length", "value": {
            "partitionid": "mini-lab", "projectid": PROJECT, "name": "v6-only",
            "addressfamily": "IPv6", "length": {"IPv6": 112}}},
    },
    "findNetworks": {
        "super of a partition": {"value": {"partitionid": "mini-lab", "privatesuper": True}},
        "a project's IPv6 networks": {"value": {"projectid": PROJECT, "addressfamily": "IPv6"}},
    },
    "allocateIP": {
        "static": {"summary": "the lowest free IPv4 address, kept", "value": {
            "networkid": INTERNET, "projectid": PROJECT, "name": "web",
            "description": "the web server's public address", "type": "static",
            "tags": ["service=web"]}},
        "IPv6": {"summary": "the lowest free IPv6 address", "value": {
            "networkid": INTERNET, "projectid": PROJECT, "name": "web-v6",
            "addressfamily": "IPv6"}},
    },
    "allocateSpecificIP": {
        "ingress": {"summary": f"this address ({INGRESS} in the path)", "value": {
            "networkid": INTERNET, "projectid": PROJECT, "name": "ingress", "type": "ephemeral"}},
    },
    "updateIP": {
        "describe": {"summary": "rename, describe and retag", "value": {
            "ipaddress": WEB, "name": "web", "description": "the web server, behind the LB",
            "type": "static", "tags": ["service=web", "team=platform"]}},
    },
    "findIPs": {
        "a project's IPv4 addresses": {"value": {"projectid": PROJECT, "addressfamily": "IPv4"}},
        "by tag": {"value": {"tags": ["service=web"]}},
    },
}

# -- what each route can refuse, and why -------------------------------------------------------

UNAUTHENTICATED = ("no credentials, a bearer token that is unknown, revoked or expired, or a "
                   "metal-stack HMAC that is wrong, stale or of a type without a key")
HEADERS = "an X-Change-Reason over 1024 characters or a malformed Idempotency-Key"
BODY = "a body that is not JSON or breaks the schema"
COLLIDED = "the change kept colliding with concurrent changes (retry)"
KEY_REUSED = "the Idempotency-Key was used before for a different request"
TOO_LARGE = "the body is larger than the server takes (IPAM_MAX_BODY_BYTES, 1 MiB by default)"
AT = "at is not an RFC 3339 time with an offset"
PAGE = "a bad page parameter (limit, order, cursor, since, until, more than 32 types)"
ADMIN = "the token's role is below admin, or the network is of a project not the token's"
EDITOR = "the token's role is below editor"
NO_NETWORK = "no network with this id (or none the token may see)"
NO_IP = "no acquired IP with this address (or none the token may see)"
FREE_CHILD = {
    400: f"the network is not a child network; {HEADERS}",
    403: f"{EDITOR}, or the network is of a project not the token's",
    404: NO_NETWORK, 409: COLLIDED,
    422: f"the child network still holds acquired IPs; {KEY_REUSED}",
}
ACQUIRE = {
    400: f"{BODY}: networkid or projectid missing or empty, an unknown type or addressfamily, "
         f"an addressfamily the network has no prefix of; {HEADERS}",
    403: f"{EDITOR}, or the project is not the token's",
    404: "no network with this id (or none the token may acquire in)",
    409: COLLIDED, 413: TOO_LARGE,
    422: "no free address left in the network for the family, a child network of another "
         f"project that is not shared, a prefix that has child prefixes; {KEY_REUSED}",
}

REFUSALS: dict[str, dict[int, str]] = {
    "listNetworks": {400: AT},
    "createNetwork": {
        400: f"{BODY}: no prefixes, a prefix that is not a canonical CIDR, a private super "
             "network without a default child prefix length per family or a second one in the "
             "partition, nat on a private super or underlay network, a vrf outside 1 to "
             f"131072, an invalid id; {HEADERS}",
        403: f"{ADMIN}; a token bound to projects may not create private super or underlay "
             "networks, networks without a project or with a chosen vrf",
        409: f"a network with this id exists already, or the vrf is taken and not vrfshared; "
             f"or {COLLIDED}",
        413: TOO_LARGE,
        422: "a prefix overlaps one in use, or the partition has an underlay network already; "
             f"{KEY_REUSED}",
    },
    "updateNetwork": {
        400: f"{BODY}: a shared network unshared, a child network's prefixes changed, "
             "defaultchildprefixlength on a network that is not a private super, "
             f"additionalAnnouncableCIDRs removed without force=true; {HEADERS}",
        403: ADMIN, 404: NO_NETWORK, 409: COLLIDED, 413: TOO_LARGE,
        422: "a removed prefix still holds IPs or child networks, or an added one overlaps one "
             f"in use; {KEY_REUSED}",
    },
    "allocateNetwork": {
        400: f"{BODY}: partitionid or projectid missing or empty, a length not longer than the "
             "super's prefixes, a length or addressfamily the super has no prefix or default "
             f"length of; {HEADERS}",
        403: f"{EDITOR}, or the project is not the token's",
        404: "the partition has no private super network (or none the token may see)",
        409: COLLIDED, 413: TOO_LARGE,
        422: "no room left in the super network for a child of that length, no vrf id left; "
             f"{KEY_REUSED}",
    },
    "findNetworks": {400: f"{BODY}: a prefix that is not a CIDR, an unknown addressfamily",
                     413: TOO_LARGE},
    "freeNetwork": FREE_CHILD,
    "freeNetworkDeprecated": FREE_CHILD,
    "deleteNetwork": {
        400: HEADERS, 403: ADMIN, 404: NO_NETWORK, 409: COLLIDED,
        422: f"the network still has child networks or acquired IPs; {KEY_REUSED}",
    },
    "findNetwork": {
        400: f"{AT}; version is below 1; both at and version are given",
        404: f"{NO_NETWORK}, or none at that time or version",
    },
    "networkHistory": {400: PAGE, 404: "no network with this id ever (or none the token may see)"},
    "listIPs": {},
    "updateIP": {
        400: f"{BODY}: an address that does not parse, an unknown type, a static ip made "
             f"ephemeral; {HEADERS}",
        403: EDITOR, 404: NO_IP, 409: COLLIDED, 413: TOO_LARGE, 422: KEY_REUSED,
    },
    "allocateIP": ACQUIRE,
    "allocateSpecificIP": {
        **ACQUIRE,
        400: f"{ACQUIRE[400]}; an ip that does not parse, an ip together with an addressfamily",
        409: f"the address is taken already (reserved ones included); or {COLLIDED}",
        422: f"the ip lies in none of the network's prefixes; {ACQUIRE[422]}",
    },
    "findIPs": {400: f"{BODY}: an address or prefix that does not parse, an unknown "
                     "addressfamily", 413: TOO_LARGE},
    "freeIP": {
        400: f"the ip has machine scope ({MACHINE_TAG}...); an address that does not parse; "
             f"{HEADERS}",
        403: EDITOR, 404: NO_IP, 409: COLLIDED, 422: KEY_REUSED,
    },
    "findIP": {400: f"an address that does not parse; {AT}",
               404: f"{NO_IP}, or none held it at that time"},
    "ipHistory": {400: f"an address that does not parse; {PAGE}"},
    "prefixHistory": {400: f"cidr is missing or not a canonical CIDR; {PAGE}"},
    "metrics": {},
}
AUTHENTICATED = {401: UNAUTHENTICATED}

# -- headers -----------------------------------------------------------------------------------

VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"
CHANGE_REASON = {
    "name": "X-Change-Reason", "in": "header", "required": False,
    "description": "why the change is made: kept with its events, shown in the history",
    "schema": {"type": "string", "maxLength": 1024},
}


def document(app: FastAPI) -> None:
    """Declare the `X-Change-Reason` header on every write (where `Idempotency-Key` is), and
    drop the 422 FastAPI declares for invalid input: this server answers that with a 400."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.get("responses", {})
                if VALIDATION_ERROR in str(responses.get("422", "")):
                    del responses["422"]
                if method in ("post", "put", "delete") and not path.endswith("/find"):
                    operation.setdefault("parameters", []).append(CHANGE_REASON)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
