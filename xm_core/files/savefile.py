"""The save file of `xm save` / `xm restore`, owned here alone.

Xen wrote a binary image (the guest's memory after a config S-expression).
No guest runs here, so the file holds the domain record only: one JSON
document, read with `json.loads` (never executed), with a SHA-256 checksum
over everything else, written atomically:

    {
      "format": "xm-acm-save",
      "version": 1,
      "checksum": "sha256:<hex of the canonical JSON of the document without it>",
      "saved": {"at": <unix time>, "host": "<root>", "policy": "<active policy>"},
      "domain": {"name", "uuid", "memory", "maxmem", "vcpus", "state",
                 "policy", "label", "ssidref", "config"},
      "devices": [{"kind", "devid", "frontend", "resource", "written", "mode",
                   "backend", "params"}, ...]
    }

The checksum catches a damaged or edited file; it is no authentication
(anyone can recompute it). Security does not rest on it: `restore`
translates the saved label again under the policy active then and checks
the domain and every device as `create` does; the saved ssidref is
informational and never trusted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xm_core.errors import UsageError, XmError
from xm_core.files.atomic import atomic_write

SAVE_FORMAT = "xm-acm-save"
SAVE_VERSION = 1
MAX_SAVE_BYTES = 16 * 1024 * 1024


@dataclass
class SavedDevice:
    kind: str  # vbd or vif
    devid: int
    frontend: str
    resource: str | None
    written: str
    mode: str
    backend: str  # the backend domain's *name* (ids differ from host to host)
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class SavedDomain:
    name: str
    uuid: str
    memory: int
    maxmem: int
    vcpus: int
    state: str
    policy: str | None
    label: str | None
    ssidref: int
    config: dict[str, Any]
    devices: list[SavedDevice]
    saved_at: float = 0.0
    saved_host: str = ""
    saved_policy: str = ""

    @property
    def access(self) -> tuple[str, str] | None:
        if self.policy and self.label:
            return self.policy, self.label
        return None


# ------------------------------------------------------------------ writing


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _checksum(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()


def _body(saved: SavedDomain) -> dict[str, Any]:
    domain = {
        "name": saved.name,
        "uuid": saved.uuid,
        "memory": saved.memory,
        "maxmem": saved.maxmem,
        "vcpus": saved.vcpus,
        "state": saved.state,
        "policy": saved.policy,
        "label": saved.label,
        "ssidref": saved.ssidref,
        "config": saved.config,
    }
    return {
        "format": SAVE_FORMAT,
        "version": SAVE_VERSION,
        "saved": {"at": saved.saved_at, "host": saved.saved_host, "policy": saved.saved_policy},
        "domain": domain,
        "devices": [asdict(d) for d in saved.devices],
    }


def encode_save(saved: SavedDomain) -> bytes:
    body = _body(saved)
    doc = {"format": body["format"], "version": body["version"], "checksum": _checksum(body)}
    doc.update({k: v for k, v in body.items() if k not in doc})
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_save_file(path: Path, saved: SavedDomain) -> None:
    """Atomically; a new file is readable by its owner only (it holds the config)."""
    atomic_write(path, encode_save(saved), mode=0o600)


# ------------------------------------------------------------------ core files

CORE_FORMAT = "xm-acm-core"
CORE_VERSION = 1


def encode_core(saved: SavedDomain, domid: int, live: bool, crash: bool) -> bytes:
    """`xm dump-core`'s file: the save file's document (its `domain` and
    `devices` exactly as a save holds them, `saved` being the time of the
    dump) with `format` `xm-acm-core` and a `core` object: the domain's id
    and the `live` / `crash` options. No guest memory exists in the model,
    so the recorded state is the whole core. It carries the same checksum
    and is meant for reading, not for restoring."""
    body = _body(saved)
    body["format"] = CORE_FORMAT
    body["version"] = CORE_VERSION
    body["core"] = {"domid": domid, "live": live, "crash": crash}
    doc = {"format": CORE_FORMAT, "version": CORE_VERSION, "checksum": _checksum(body)}
    doc.update({k: v for k, v in body.items() if k not in doc})
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_core_file(path: Path, saved: SavedDomain, domid: int, live: bool, crash: bool) -> None:
    atomic_write(path, encode_core(saved, domid, live, crash), mode=0o600)


# ------------------------------------------------------------------ reading


class _Bad(Exception):
    """One thing wrong with a save file (turned into one XmError)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _Bad(f"key '{key}' is given twice")
        doc[key] = value
    return doc


def _no_constant(name: str) -> Any:
    raise _Bad(f"'{name}' is not a number JSON allows")


def _get(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise _Bad(f"{where} has no '{key}'")
    value = doc[key]
    if isinstance(value, bool) and kind is not bool:
        raise _Bad(f"{where}.{key} has the wrong type")
    if not isinstance(value, kind):
        raise _Bad(f"{where}.{key} has the wrong type")
    return value


def _optional_str(doc: dict[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise _Bad(f"{where}.{key} has the wrong type")
    return value


def _positive(value: int, key: str) -> int:
    if value < 1:
        raise _Bad(f"domain.{key} must be at least 1")
    return value


def _device(doc: Any, i: int) -> SavedDevice:
    where = f"devices[{i}]"
    if not isinstance(doc, dict):
        raise _Bad(f"{where} is not an object")
    params = _get(doc, "params", dict, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise _Bad(f"{where}.params must map names to strings")
    kind = _get(doc, "kind", str, where)
    if kind not in ("vbd", "vif"):
        raise _Bad(f"{where}.kind must be vbd or vif")
    return SavedDevice(
        kind=kind,
        devid=_get(doc, "devid", int, where),
        frontend=_get(doc, "frontend", str, where),
        resource=_optional_str(doc, "resource", where),
        written=_get(doc, "written", str, where),
        mode=_get(doc, "mode", str, where),
        backend=_get(doc, "backend", str, where),
        params=dict(params),
    )


def decode_save(raw: bytes, file: str) -> SavedDomain:
    """The saved domain, or XmError: `Save file '<F>' ...` in one line."""
    try:
        return _decode(raw)
    except _Bad as exc:
        raise XmError(f"Save file '{file}' is damaged: {exc}") from None
    except _Foreign as exc:
        # past a limit (a number too long, nesting too deep) is bad input: exit 2
        kind = UsageError if isinstance(exc, _BeyondLimits) else XmError
        raise kind(f"Save file '{file}' is not an xm-acm save file ({exc})") from None


class _Foreign(Exception):
    """Not a save file of ours at all."""


class _BeyondLimits(_Foreign):
    """JSON past the parser's limits: a number too long, nesting too deep."""


def _decode(raw: bytes) -> SavedDomain:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Foreign("not UTF-8 text; Xen's own save images cannot be restored here") from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _Foreign(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except ValueError:  # an integer of more digits than Python converts
        raise _BeyondLimits("a number in it is too long") from None
    except RecursionError:
        raise _BeyondLimits("nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != SAVE_FORMAT:
        raise _Foreign(f"its format is not {SAVE_FORMAT}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _Bad("'version' is not a number")
    if version > SAVE_VERSION:
        raise _Bad(f"version {version} is newer than this xm-acm reads ({SAVE_VERSION})")
    if version < 1:
        raise _Bad(f"unknown version {version}")
    checksum = doc.get("checksum")
    body = {k: v for k, v in doc.items() if k != "checksum"}
    if not isinstance(checksum, str) or checksum != _checksum(body):
        raise _Bad("its checksum does not match its contents (changed after it was saved?)")
    extra = set(doc) - {"format", "version", "checksum", "saved", "domain", "devices"}
    if extra:
        raise _Bad(f"unknown keys {sorted(extra)}")
    saved = _get(doc, "saved", dict, "file")
    domain = _get(doc, "domain", dict, "file")
    devices = _get(doc, "devices", list, "file")
    ssidref = _get(domain, "ssidref", int, "domain")
    if not 0 <= ssidref <= 0xFFFFFFFF:
        raise _Bad("domain.ssidref is out of range")
    return SavedDomain(
        name=_get(domain, "name", str, "domain"),
        uuid=_get(domain, "uuid", str, "domain"),
        memory=_positive(_get(domain, "memory", int, "domain"), "memory"),
        maxmem=_positive(_get(domain, "maxmem", int, "domain"), "maxmem"),
        vcpus=_positive(_get(domain, "vcpus", int, "domain"), "vcpus"),
        state=_get(domain, "state", str, "domain"),
        policy=_optional_str(domain, "policy", "domain"),
        label=_optional_str(domain, "label", "domain"),
        ssidref=ssidref,
        config=_get(domain, "config", dict, "domain"),
        devices=[_device(d, i) for i, d in enumerate(devices)],
        saved_at=float(_get(saved, "at", (int, float), "saved")),
        saved_host=_get(saved, "host", str, "saved"),
        saved_policy=_get(saved, "policy", str, "saved"),
    )


def read_save_file(path: Path) -> SavedDomain:
    from acm.inputfile import InputFileError, read_input

    try:
        raw = read_input(path, MAX_SAVE_BYTES)
    except InputFileError as exc:
        if exc.missing:
            raise XmError(f"Save file '{path}' not found.") from None
        if exc.too_large:
            raise UsageError(
                f"Save file '{path}' is not an xm-acm save file (larger than 16 MiB)"
            ) from None
        raise XmError(f"Save file '{path}' {exc.reason}") from None
    return decode_save(raw, str(path))
