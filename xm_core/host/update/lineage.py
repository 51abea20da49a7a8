"""What the update needs to know of a policy's place in its line: its
name, its version, the policy and version it claims to follow
(`FromPolicy`), and the labels it renames (`from=`).

This is the one seam between the host's update path and the versioned
policy format of `acm/` (`acm.versioned.info`, `acm.versioned.checks`):
the rest of `xm_core.host.update` reads a `Lineage`, never the XML, and
the update's version and rename rules are `acm.versioned.checks.
check_update`'s, not a second copy. A policy of Xen 3.0.4's format has no
version and renames nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xm_core.errors import AcmError

if TYPE_CHECKING:
    from acm.model import BinaryPolicy, PolicyMap
    from acm.versioned.info import VersionInfo


@dataclass(frozen=True)
class Lineage:
    name: str  # the reference name
    version: str | None = None  # `PolicyHeader/Version`, None: Xen 3.0.4's format
    from_policy: tuple[str, str] | None = None  # (FromPolicy/PolicyName, FromPolicy/Version)
    vm_renames: dict[str, str] = field(default_factory=dict)  # old VM label -> new
    res_renames: dict[str, str] = field(default_factory=dict)  # old resource label -> new
    info: VersionInfo | None = None  # the format's own record, when read from a source

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


def lineage_of(info: VersionInfo) -> Lineage:
    from acm.source import LabelKind

    frm = info.from_policy
    return Lineage(
        info.name,
        None if info.version is None else str(info.version),
        None if frm is None else (frm.name, str(frm.version)),
        info.renamed(LabelKind.VM),
        info.renamed(LabelKind.RES),
        info,
    )


def read_lineage(xml_file: str, reference_name: str) -> Lineage:
    """The lineage of the policy whose source is `xml_file` (PolicyError
    when the source cannot be read: the compile has read it already)."""
    from acm.versioned.info import read_version_info

    lineage = lineage_of(read_version_info(xml_file))
    if lineage.name != reference_name:  # the source changed since the compile
        return Lineage(reference_name)
    return lineage


def running_info(binary: BinaryPolicy, pmap: PolicyMap, version: str | None) -> VersionInfo:
    """The running policy's facts, from its compiled form (its labels; a
    compiled policy keeps no FromPolicy and no renames) and the version it
    was set with (kept in the host's record of it)."""
    from acm.model import CompiledPolicy
    from acm.versioned.info import parse_version, version_info_of_compiled

    info = version_info_of_compiled(CompiledPolicy(binary, pmap))
    return info._replace(version=None if version is None else parse_version(version))


# Xen 3.4's texts for the refusals of an update (xsconstants' messages)
_XEN_TEXT = {
    "ACM049": "The version of the policy prevents an update",
    "ACM050": "The label is bad",
    "ACM044": "The label is bad",
    "ACM045": "The label is bad",
}


def check_update(old: VersionInfo, new: VersionInfo) -> None:
    """`acm.versioned.checks.check_update` as the host reports it: Xen
    3.4's message for the first finding, every finding below it; nothing
    when the update may go on."""
    from acm.versioned.checks import check_update as format_check

    found = [d for d in format_check(old, new) if d.is_error]
    if not found:
        return
    first = found[0]
    text = _XEN_TEXT.get(first.code, "Policy has inconsistencies")
    raise AcmError(
        f"An error occurred trying to set the policy: {text}. ({first.message})",
        [f"  {d.code}: {d.message}" for d in found],
    )
