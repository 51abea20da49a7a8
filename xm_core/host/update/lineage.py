"""What the update needs to know of a policy's place in its line: its
name, its version, the policy and version it claims to follow
(`FromPolicy`), and the labels it renames (`from=`).

This is the one seam between the host's update path and the versioned
policy format of `acm/`: everything else of `xm_core.host.update` reads a
`Lineage`, never the XML. A policy of Xen 3.0.4's format has no version
and renames nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xm_core.errors import XmError

Version = tuple[int, int]


@dataclass(frozen=True)
class Lineage:
    name: str  # the reference name
    version: str | None = None  # `PolicyHeader/Version` as written, None: Xen 3.0.4's format
    from_policy: tuple[str, str] | None = None  # (FromPolicy/PolicyName, FromPolicy/Version)
    vm_renames: dict[str, str] = field(default_factory=dict)  # old VM label -> new
    res_renames: dict[str, str] = field(default_factory=dict)  # old resource label -> new

    @property
    def versioned(self) -> bool:
        return self.version is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "from_policy": None
            if self.from_policy is None
            else {"name": self.from_policy[0], "version": self.from_policy[1]},
            "vm_renames": dict(sorted(self.vm_renames.items())),
            "res_renames": dict(sorted(self.res_renames.items())),
        }


def version_tuple(text: str) -> Version:
    """`major[.minor]` as Xen 3.4 compared versions; XmError when it is not
    two decimal numbers (a version the format rejects never gets here)."""
    major, sep, minor = text.partition(".")
    if not major.isdigit() or (sep and not minor.isdigit()):
        raise XmError(f"Policy version '{text}' is not of the form <major>.<minor>")
    return int(major), int(minor) if sep else 0


def read_lineage(xml_file: str, reference_name: str) -> Lineage:
    """The lineage of the policy whose source is `xml_file`. A policy of the
    3.0.4 format (or an unreadable source: the compiled files decide then)
    has none beyond its name."""
    try:
        from acm import versioning  # type: ignore[attr-defined]  # the versioned format's API
    except ImportError:
        return Lineage(reference_name)
    return _from_versioning(versioning, xml_file, reference_name)


def _from_versioning(module: Any, xml_file: str, reference_name: str) -> Lineage:
    info = module.policy_lineage(xml_file)
    if info is None:
        return Lineage(reference_name)
    return Lineage(
        reference_name,
        info.version,
        info.from_policy,
        dict(info.vm_renames),
        dict(info.res_renames),
    )
