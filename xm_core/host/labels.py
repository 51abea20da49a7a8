"""Labels: `xm labels`, `addlabel`, `rmlabel`, `getlabel`, `resources`.

Labels bind domains (through the `access_control` line of their config
file) and resources (through the resource label file) to a policy. A label
is checked against the named policy's compiled `.map` before it is
written, so that what is written can be instantiated later; the policy
must therefore have been compiled (`xm makepolicy`). See docs/labels.md
for the decisions taken where Xen's behaviour was unclear.

Nothing here executes a user's file: configs are parsed by
`xm_core.files.config`, the resource label file by `xm_core.files.resources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acm.errors import PolicyError
from acm.inputfile import MAX_COMPILED_BYTES, InputFileError, read_input
from acm.model import PolicyMap
from xm_core.errors import UsageError, XmError
from xm_core.files.paths import HostPaths

LABEL_KINDS = ("dom", "res", "any")
# The policy "names" of a host without a named policy (enforcement.md section 1).
NO_POLICY = ("DEFAULT", "NULL", "INACTIVE")


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class LabelList:
    """`xm labels`: the label names of one kind of a policy, sorted."""

    policy: str
    kind: str
    labels: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "type": self.kind, "labels": list(self.labels)}


@dataclass(frozen=True)
class LabelOf:
    """`xm getlabel`: the label of a domain config or a resource."""

    kind: str  # dom or res
    target: str  # the config file read, or the canonical resource name
    policy: str
    label: str
    xen34: bool = False  # printed as Xen 3.4 printed it (host/update/status.py)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "target": self.target,
            "policy": self.policy,
            "label": self.label,
        }


@dataclass(frozen=True)
class ResourceLabel:
    resource: str
    policy: str
    label: str


@dataclass(frozen=True)
class ResourceList:
    """`xm resources`: every labeled resource, sorted by name."""

    resources: list[ResourceLabel]

    def as_dict(self) -> dict[str, Any]:
        return {
            "resources": [
                {"resource": r.resource, "policy": r.policy, "label": r.label}
                for r in self.resources
            ]
        }


# ------------------------------------------------------------------ policies


def active_policy_name(paths: HostPaths) -> str:
    """The active policy's reference name, or `DEFAULT` / `NULL`."""
    from xm_core.host.store import PolicyState, open_store

    if not paths.state_db.exists():
        # a new host starts in DEFAULT; asking must not create its state
        return PolicyState.DEFAULT.value
    with open_store(paths) as store:
        return store.active_policy_name()


def policy_or_active(paths: HostPaths, policy: str | None, no_policy_message: str) -> str:
    """The policy named on the command line, else the active one; XmError
    with `no_policy_message` when neither names a policy."""
    if policy:
        return policy
    active = active_policy_name(paths)
    if active in NO_POLICY:
        raise XmError(no_policy_message)
    return active


def policy_map(paths: HostPaths, policy: str) -> PolicyMap:
    """The compiled `.map` of `policy` from the policy tree. When the tree
    has none but `policy` is the loaded one, the `.map` loaded with it is
    used. The map must name the policy asked for."""
    from acm.mapfile import parse_map

    if policy in NO_POLICY:
        raise XmError(f"Cannot translate labels for '{policy}' policy.")
    files = paths.policy_files(policy).settled()  # a bad name: ACM005, before any I/O
    source = files.map
    try:
        raw = read_input(files.map, MAX_COMPILED_BYTES)
    except InputFileError as exc:
        if not exc.missing:
            raise XmError(f"Mapping file '{files.map}' {exc.reason}") from None
        loaded = _loaded_map(paths, policy)
        if loaded is None:
            if Path(files.xml).is_file():
                raise XmError(
                    f"Mapping file '{files.map}' not found. Use xm makepolicy to create it."
                ) from None
            raise XmError(f"Policy file '{files.xml}' not found.") from None
        raw, source = loaded, "<loaded policy map>"
    pmap = parse_map(raw, source)
    if pmap.reference_name != policy:
        raise XmError(
            f"Mapping file '{source}' is for policy '{pmap.reference_name}', not '{policy}'."
        )
    return pmap


def _loaded_map(paths: HostPaths, policy: str) -> bytes | None:
    if not paths.state_db.exists():
        return None
    from xm_core.host.store import open_store

    with open_store(paths) as store:
        if store.active_policy_name() != policy:
            return None
        loaded = store.active_binary()
    return loaded[1] if loaded is not None else None


def check_label(paths: HostPaths, policy: str, label: str, kind: str) -> int:
    """The ssidref `label` (of kind `dom` or `res`) has under `policy`;
    `Label '<L>' not found.` when the policy has no such label."""
    from acm.ssidref import label_names, label_to_ssidref

    pmap = policy_map(paths, policy)
    try:
        return label_to_ssidref(pmap, label, kind)
    except PolicyError as exc:
        if kind in _KIND_NAMES:
            other = "res" if kind == "dom" else "dom"
            if label in label_names(pmap, other):
                raise XmError(
                    f"Label '{label}' is a {_KIND_NAMES[other]} label ({other}) of policy "
                    f"'{policy}', but a {_KIND_NAMES[kind]} label ({kind}) is needed here."
                ) from None
        raise XmError(exc.message) from None


_KIND_NAMES = {"dom": "domain", "res": "resource"}


# ------------------------------------------------------------------ xm labels


def parse_labels_args(args: tuple[str, ...] | list[str]) -> tuple[str | None, str]:
    """`[POLICY] [type=dom|res|any]` in any order, as Xen's `xm labels` read them."""
    policy: str | None = None
    kind: str | None = None
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key == "type":
            if kind is not None:
                raise UsageError("type is defined twice")
            kind = value.lower()
        elif not sep:
            if policy is not None:
                hint = ""
                if arg.lower() in LABEL_KINDS:
                    hint = f": to list the labels of one type, give type={arg.lower()}"
                raise UsageError(f"policy is defined twice{hint}")
            policy = arg
        else:
            raise UsageError(f"Unrecognised option: {arg}")
    kind = kind or "dom"
    if kind not in LABEL_KINDS:
        raise UsageError(f"Unknown label type '{kind}'")
    return policy, kind


def list_labels(paths: HostPaths, policy: str | None, kind: str = "dom") -> LabelList:
    from acm.ssidref import label_names

    name = policy_or_active(paths, policy, "No policy active, you must specify a <policy>")
    return LabelList(name, kind, label_names(policy_map(paths, name), kind))


# ------------------------------------------------------------------ domains


def _config_path(paths: HostPaths, config: str) -> Path:
    from xm_core.files.config import DEV_NULL, find_config

    if config == DEV_NULL:
        raise XmError("Cannot label '/dev/null': it is the empty config, not a file.")
    return find_config(paths, config)


def add_domain_label(paths: HostPaths, label: str, config: str, policy: str | None) -> Path:
    """Append `access_control = ['policy=<P>,label=<L>']` to the config;
    every other byte stays. Refused for a config outside the config
    language's subset, an unknown label, a config already labeled, or one
    that sets `ssidref` (which `create` refuses beside a label). The config
    is checked, not run: one that needs `vmid=...` can be labeled."""
    from xm_core.files.config import (
        append_access_control,
        config_text,
        declared_label,
        is_labeled,
        rewrite_config,
        sets_ssidref,
    )

    name = policy_or_active(
        paths, policy, "No active policy. Must specify policy on the command line."
    )
    path = _config_path(paths, config)

    def change(data: bytes) -> bytes:
        text = config_text(data, str(path))
        labeled = is_labeled(text, str(path))  # refuses the unsafe
        check_label(paths, name, label, "dom")
        if labeled:
            raise XmError(f"Config file '{config}' is already labeled.")
        if sets_ssidref(text, str(path)):  # create refuses a config with both
            raise XmError(
                f"Config file '{config}' sets ssidref; a label would conflict with it. "
                "Remove the ssidref line first."
            )
        new = append_access_control(data, name, label)
        # The appended line must read back as exactly this label.
        if declared_label(config_text(new, str(path)), str(path)) != (name, label):
            raise XmError(f"Config file '{config}': the label line would not read back")
        return new

    rewrite_config(path, change)
    return path


def remove_domain_label(paths: HostPaths, config: str) -> Path:
    """Comment out the config's `access_control` line(s) with `#`."""
    from xm_core.files.config import (
        comment_out_access_control,
        config_text,
        is_labeled,
        rewrite_config,
    )

    path = _config_path(paths, config)

    def change(data: bytes) -> bytes:
        if not is_labeled(config_text(data, str(path)), str(path)):
            raise XmError("Domain not labeled")
        new = comment_out_access_control(data, str(path))
        if is_labeled(config_text(new, str(path)), str(path)):
            raise XmError(f"Config file '{config}': the label could not be removed")
        return new

    rewrite_config(path, change)
    return path


def get_domain_label(paths: HostPaths, config: str) -> LabelOf:
    from xm_core.files.config import config_text, declared_label, read_config_bytes
    from xm_core.host.update.status import host_xen34_labels

    path = _config_path(paths, config)
    found = declared_label(config_text(read_config_bytes(path), str(path)), str(path))
    if found is None:
        raise XmError("Domain not labeled")
    return LabelOf("dom", str(path), found[0], found[1], host_xen34_labels(paths))


# ------------------------------------------------------------------ resources


def add_resource_label(paths: HostPaths, label: str, resource: str, policy: str | None) -> str:
    """Record `resource: (policy, label)` in the resource label file, under
    its lock; refused for an unknown label or a resource already labeled.
    Returns the canonical resource name."""
    from xm_core.files.resources import canonical_resource, locked_resource_labels, resource_key

    name = policy_or_active(
        paths, policy, "No active policy. Must specify policy on the command line."
    )
    check_label(paths, name, label, "res")
    canonical = canonical_resource(resource)
    with locked_resource_labels(paths.resource_labels) as labels:
        if resource_key(labels, resource) is not None:
            raise XmError("This resource is already labeled.")
        labels[canonical] = (name, label)
    return canonical


def remove_resource_label(paths: HostPaths, resource: str) -> str:
    from xm_core.files.resources import canonical_resource, locked_resource_labels, resource_key

    canonical_resource(resource)  # a bad name is reported before the file is touched
    with locked_resource_labels(paths.resource_labels, missing_ok=False) as labels:
        key = resource_key(labels, resource)
        if key is None:
            raise XmError("Resource not labeled")
        del labels[key]
    return key


def get_resource_label(paths: HostPaths, resource: str) -> LabelOf:
    from xm_core.files.resources import (
        INVALID_TYPE,
        canonical_resource,
        read_resource_labels,
        resource_key,
    )
    from xm_core.host.update.status import host_xen34_labels

    canonical_resource(resource)
    xen34 = host_xen34_labels(paths)  # also finishes an interrupted update's files
    labels = read_resource_labels(paths.resource_labels, missing_ok=False)
    key = resource_key(labels, resource)
    if key is None:
        raise XmError("Resource not labeled")
    policy, label = labels[key]
    return LabelOf("res", key, policy, label, xen34 or policy.startswith(INVALID_TYPE + ":"))


def list_resources(paths: HostPaths) -> ResourceList:
    from xm_core.files.resources import read_resource_labels
    from xm_core.host.update.status import host_xen34_labels

    host_xen34_labels(paths)  # finishes the files of an interrupted update first
    labels = read_resource_labels(paths.resource_labels, missing_ok=False)
    return ResourceList([ResourceLabel(r, *labels[r]) for r in sorted(labels)])
