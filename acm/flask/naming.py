"""FLASK identifiers for ACM names.

ACM names may hold any character; checkpolicy wants identifiers, and m4
(which expands Xen's macros first) must see no quote or comment character.
Each name keeps its letters, digits and underscores, everything else
becomes `_`; a clash (`a-b` and `a.b`) gets `_2`, `_3`, ... in policy order.
Every kind of identifier has a prefix of its own and none is a prefix of
another, so a label can never take the name of an attribute, and the
names Xen's macros derive from a domain type (`_self`, `_channel`) never
meet a name of ours (all end in `_t` or are attributes).
"""

from __future__ import annotations

import re

SEC_CONTEXT = "system_u:system_r:"
DOM0_TYPE = "dom0_t"  # Domain-0's initial SID in Xen's policy
DEFAULT_DOMU_TYPE = "domU_t"  # the label xl gives a domain without seclabel
UNLABELED = "__UNLABELED__"  # the versioned format's label of unlabelled domains

VM_PREFIX = "acm_vm_"  # a VM label's domain type, acm_vm_<name>_t
RES_PREFIX = "acm_res_"  # a resource label's type, acm_res_<name>_t
STE_PREFIX = "acm_ste_"  # domain types holding an STE type
STE_RES_PREFIX = "acm_stres_"  # resource types holding an STE type
CW_PREFIX = "acm_cw_"  # domain types holding a Chinese Wall type
CW_CHANNEL_PREFIX = "acm_cwch_"  # their event channel types
CW_GROUP_PREFIX = "acm_cwgroup"  # domain types with one Chinese Wall type set, + number
PEERS_PREFIX = "acm_peers"  # a target set with Chinese Wall groups taken out, + number
ALL_DOMAINS = "acm_domain"  # every domain type of the module
ALL_STE = "acm_ste_all"  # stands for the STE part when a policy has none

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
_MODULE_WORD = re.compile(r"[^a-z0-9_]")


class Namer:
    """Hands out unique identifiers, the same for the same (prefix, name)."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._given: dict[tuple[str, str], str] = {}

    def ident(self, prefix: str, name: str, suffix: str = "") -> str:
        key = (prefix + "\0" + suffix, name)
        if key in self._given:
            return self._given[key]
        base = prefix + _NOT_IDENT.sub("_", name)
        candidate, n = base + suffix, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{base}_{n}{suffix}"
        self._taken.add(candidate)
        self._given[key] = candidate
        return candidate


def module_name(policy_name: str) -> str:
    """The module's name in `modules.conf`: lower case (Xen's Makefile reads
    only lines that start with a lower-case letter), `acm_` first."""
    return "acm_" + _MODULE_WORD.sub("_", policy_name.lower())


def seclabel(flask_type: str) -> str:
    return SEC_CONTEXT + flask_type
