"""What `xm getpolicy` shows, and which label strings the host prints.

A host runs under Xen 3.4's rules once its active policy carries a
version (it was written in the versioned format): then labels print as
Xen 3.4 printed them, `ACM:POLICY:LABEL` (`getlabel res`, `getlabel mgt`,
`list --label`) and `policytype=ACM,policy=P,label=L` (`getlabel dom`).
Under a policy of Xen 3.0.4's format, and under DEFAULT, every command
prints as Xen 3.0.4 did. An invalidated resource label always prints
`INV_ACM:POLICY:LABEL` (Xen 3.0.4 had no such thing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.host.store import PolicyState

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths
    from xm_core.host.store import Store

DEFAULT_VERSION = "1.0"  # the version of Xen 3.4's DEFAULT policy


@dataclass(frozen=True)
class PolicyInfo:
    """`xm getpolicy`: the policy the host enforces."""

    state: PolicyState
    name: str  # the reference name, or DEFAULT / NULL
    version: str  # "" for a policy of Xen 3.0.4's format
    from_policy: tuple[str, str] | None
    loaded: bool
    boot: bool
    xml: str | None = None  # with --dumpxml

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "policy": self.name,
            "type": "ACM",
            "version": self.version,
            "from_policy": None
            if self.from_policy is None
            else {"name": self.from_policy[0], "version": self.from_policy[1]},
            "loaded": self.loaded,
            "boot": self.boot,
            **({"xml": self.xml} if self.xml is not None else {}),
        }


def xen34_labels(store: Store) -> bool:
    """Whether labels print in Xen 3.4's form on this host."""
    state, _, _ = store.policy_state()
    return state is PolicyState.NAMED and store.active_extra().get("version") is not None


def host_xen34_labels(paths: HostPaths) -> bool:
    """`xen34_labels` of the host at `paths`, after finishing the files of
    an update a kill interrupted (the caller is about to read them)."""
    from xm_core.host.store import open_store
    from xm_core.host.update.pending import finish_pending_update

    if not paths.state_db.exists():
        return False
    with open_store(paths) as store:
        finish_pending_update(paths, store)
        return xen34_labels(store)


def policy_info(paths: HostPaths, dumpxml: bool = False) -> PolicyInfo:
    from acm.inputfile import MAX_TEXT_BYTES, InputFileError, read_input
    from xm_core.errors import XmError
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        state, name = host.policy_state()
        extra = host.store.active_extra()
    if state is PolicyState.NULL:
        return PolicyInfo(state, state.value, "", None, False, False)
    if state is PolicyState.DEFAULT or name is None:
        return PolicyInfo(state, state.value, DEFAULT_VERSION, None, True, False)
    source = str(extra.get("source") or name)
    version = str(extra.get("version") or "")
    frm = extra.get("from_policy")
    from_policy = (str(frm[0]), str(frm[1])) if isinstance(frm, list) and len(frm) == 2 else None
    xml = None
    if dumpxml:
        file = Path(paths.policy_files(source).xml)
        try:
            xml = read_input(file, MAX_TEXT_BYTES).decode("utf-8", "replace")
        except InputFileError as exc:
            raise XmError(f"Policy file '{file}' {exc.reason}") from None
    return PolicyInfo(state, name, version, from_policy, True, bool(extra.get("boot")), xml)
