"""Host paths, all resolved under one root.

The root is `--root DIR`, else `$XM_ROOT`, else `/` when `/etc/xen` exists,
else a per-user directory (`$XDG_DATA_HOME/xm-acm/root`, by default
`~/.local/share/xm-acm/root`) that is created on first use and seeded with
the example policy, so that `xm` works on a machine without Xen and without
root privileges.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from acm.names import BIN_SUFFIX, MAP_SUFFIX, POLICY_SUFFIX, policy_prefix

EXAMPLE_POLICY = "example.chwall_ste.client_v1"
POLICIES_REL = "etc/xen/acm-security/policies"
EXAMPLE_DATA_FILE = "example-chwall_ste-client_v1-security_policy.xml"


def default_user_root() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "xm-acm" / "root"


def resolve_root(option: str | None, env: dict[str, str] | None = None) -> tuple[Path, str]:
    """(root, how it was chosen)."""
    env = os.environ if env is None else env  # type: ignore[assignment]
    assert env is not None
    if option:
        if "\0" in option:
            from xm_core.errors import UsageError

            raise UsageError("--root: a path cannot contain a NUL byte")
        return Path(option), "--root"
    if env.get("XM_ROOT"):
        return Path(env["XM_ROOT"]), "XM_ROOT"
    if Path("/etc/xen").is_dir():
        return Path("/"), "/etc/xen exists"
    return default_user_root(), "per-user default"


def example_policy_bytes() -> bytes:
    """The example policy shipped with the package (beside this module, so
    no importlib.resources on every command)."""
    return (Path(__file__).parent.parent / "data" / EXAMPLE_DATA_FILE).read_bytes()


class HostPaths(NamedTuple):
    root: Path

    def under(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    @property
    def etc_xen(self) -> Path:
        return self.under("etc/xen")

    @property
    def policies(self) -> Path:
        return self.under(POLICIES_REL)

    @property
    def resource_labels(self) -> Path:
        return self.policies / "resource_labels"

    @property
    def boot(self) -> Path:
        return self.under("boot")

    @property
    def grub_dir(self) -> Path:
        return self.under("boot/grub")

    @property
    def state_dir(self) -> Path:
        return self.under("var/lib/xm-acm")

    @property
    def state_db(self) -> Path:
        return self.state_dir / "host.sqlite"

    def policy_files(self, name: str, policy_root: str | None = None) -> PolicyFiles:
        """The XML, `.map` and `.bin` of a dotted policy name (checked first)."""
        root = policy_root if policy_root is not None else str(self.policies)
        prefix = policy_prefix(root, name)
        return PolicyFiles(
            name,
            prefix + POLICY_SUFFIX,
            prefix + MAP_SUFFIX,
            prefix + BIN_SUFFIX,
        )

    def seed_example(self) -> None:
        """Give a new per-user root the example policy (never overwrites)."""
        files = self.policy_files(EXAMPLE_POLICY)
        target = Path(files.xml)
        if target.exists():
            return
        from xm_core.files.atomic import atomic_write

        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, example_policy_bytes())


class PolicyFiles(NamedTuple):
    name: str
    xml: str
    map: str
    bin: str

    @property
    def lock(self) -> Path:
        """The lock file of the policy's writers, beside the `.map` and `.bin`."""
        folder, _, stem = self.map.rpartition("/")
        return Path(f"{folder}/.{stem[: -len('.map')]}.lock")

    def settled(self) -> PolicyFiles:
        """These files, once a compile that a kill interrupted between the
        renames of the `.map` and the `.bin` is finished (xm_core.files.atomic):
        what reads them never sees a new `.map` beside an old `.bin`. The
        rest of the batch is renamed under the writers' lock, so it never
        races a live writer."""
        from xm_core.files.atomic import exclusive_lock, finish_pending, pending

        if pending(Path(self.map)):
            with exclusive_lock(self.lock):
                finish_pending(Path(self.map))
        return self


def host_paths(option: str | None = None) -> HostPaths:
    root, how = resolve_root(option)
    paths = HostPaths(root)
    if how == "per-user default" and not root.exists():
        root.mkdir(parents=True, exist_ok=True)
        paths.seed_example()
    return paths
