"""Host paths, all resolved under one root.

The root is `--root DIR`, else `$XM_ROOT`, else `/` when `/etc/xen` exists,
else a per-user directory (`$XDG_DATA_HOME/xm-acm/root`, by default
`~/.local/share/xm-acm/root`), so that `xm` works on a machine without Xen
and without root privileges.

A root that `xm` creates (one that does not exist yet, or an empty folder)
becomes an installed Xen host: it gets what `make install` of Xen's
security tools put in place, the example policies (xm-acm's own
`example.chwall.client_v1`, `example.ste.client_v1` and
`example.chwall_ste.client_v1`, with Xen's label names) and the policy
schema under `etc/xen/acm-security/policies/`, and a `boot/grub/menu.lst`
with one Xen entry, as a machine with Xen installed has.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from acm.names import BIN_SUFFIX, MAP_SUFFIX, POLICY_SUFFIX, policy_prefix
from acm.records import NamedTuple

EXAMPLE_POLICY = "example.chwall_ste.client_v1"
POLICIES_REL = "etc/xen/acm-security/policies"
EXAMPLE_DATA_FILE = "example-chwall_ste-client_v1-security_policy.xml"
# dotted name -> file in xm_core/data: what `make install` put in the policy root
INSTALLED_POLICIES = {
    "example.chwall.client_v1": "example-chwall-client_v1-security_policy.xml",
    "example.ste.client_v1": "example-ste-client_v1-security_policy.xml",
    EXAMPLE_POLICY: EXAMPLE_DATA_FILE,
}
SCHEMA_FILE = "security_policy.xsd"


def default_user_root() -> Path:
    base = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is invalid, ignored
        base = os.path.join(Path.home(), ".local", "share")
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


def example_policy_bytes(data_file: str = EXAMPLE_DATA_FILE) -> bytes:
    """An example policy shipped with the package (beside this module, so
    no importlib.resources on every command)."""
    return (Path(__file__).parent.parent / "data" / data_file).read_bytes()


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

    @property
    def suspended_dir(self) -> Path:
        """Where `xm suspend` keeps its managed saves, one per domain name."""
        return self.state_dir / "suspended"

    @property
    def intents_dir(self) -> Path:
        """What a killed save, suspend, resume or migrate left to finish
        (xm_core.files.intents)."""
        return self.state_dir / "intents"

    @property
    def images_lock(self) -> Path:
        """Serializes writers of saved images: suspend, resume, the placing
        of a save, and a policy update relabelling images."""
        return self.state_dir / ".suspended.lock"

    @property
    def dump_dir(self) -> Path:
        """`xm dump-core`'s default folder, Xen's /var/xen/dump."""
        return self.under("var/xen/dump")

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

    def seed_example(self, name: str = EXAMPLE_POLICY) -> None:
        """Give the root an example policy (never overwrites)."""
        target = Path(self.policy_files(name).xml)
        if target.exists():
            return
        from xm_core.files.atomic import atomic_write

        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, example_policy_bytes(INSTALLED_POLICIES[name]))

    def seed_installed(self) -> None:
        """What `make install` of Xen's security tools put in place: every
        example policy and the schema; and a boot menu with a Xen entry, as
        a host with Xen installed has (never overwrites)."""
        for name in INSTALLED_POLICIES:
            self.seed_example(name)
        menu = self.grub_dir / "menu.lst"
        if not menu.exists() and not (self.grub_dir / "grub.conf").exists():
            from xm_core.files.atomic import atomic_write
            from xm_core.files.grub import INSTALLED_MENU

            menu.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(menu, INSTALLED_MENU)
        schema = self.policies / SCHEMA_FILE
        if not schema.exists():
            from acm.source import schema_path
            from xm_core.files.atomic import atomic_write

            atomic_write(schema, Path(schema_path()).read_bytes())


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

    @property
    def set_names(self) -> Path:
        """The side file with the conflict sets' names (`acm.mapfile`),
        which the `.map` has no place for, beside the `.map` and `.bin`."""
        folder, _, stem = self.map.rpartition("/")
        return Path(f"{folder}/.{stem[: -len('.map')]}.sets")

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


def is_new_root(root: Path) -> bool:
    """A root `xm` may install: missing, or an empty folder."""
    try:
        return not root.exists() or (root.is_dir() and not any(root.iterdir()))
    except OSError:
        return False


def host_paths(
    option: str | None = None,
    writes: bool = True,
    on_created: Callable[[Path], None] | None = None,
) -> HostPaths:
    """The host root chosen by `option` (--root), installed when new. A root
    that does not exist is created only for a command that `writes`, which
    is told so (`on_created`, to say it on stderr): a read-only command on a
    mistyped path fails instead of leaving a host tree there. An existing
    empty folder is installed for any command."""
    root, how = resolve_root(option)
    paths = HostPaths(root)
    if root == Path("/"):
        return paths
    missing = not os.path.lexists(root)
    if missing and not writes:
        from xm_core.errors import XmError

        raise XmError(
            f"Host root '{root}' ({how}) does not exist: a command that only reads "
            "the host does not create one (a command that changes it does)."
        )
    if is_new_root(root):
        root.mkdir(parents=True, exist_ok=True)
        paths.seed_installed()
        if missing and on_created is not None:
            on_created(root)
    return paths
