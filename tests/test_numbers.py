"""No traceback on any number (issue 12, part 5): every numeric argument and
config value is parsed and range-checked by `xm_core.host.numbers`; a
huge, negative or non-numeric value typed into any command that takes a
number ends in one error line and exit 2, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hosttools import loaded_host, snapshot, xm_run
from xm_core.errors import UsageError
from xm_core.files.paths import HostPaths
from xm_core.host import numbers

HUGE = st.integers(min_value=2**63).map(str) | st.integers(min_value=10**20, max_value=10**40).map(
    str
)
NEGATIVE = st.integers(max_value=-1).map(str)
NON_NUMERIC = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=12
).filter(lambda s: not numbers.is_integer(s) and not s.startswith("-"))

# (command line with {} where the value goes, which kinds of value must fail)
DOMAIN_COMMANDS = [
    "destroy {}",
    "shutdown {}",
    "reboot {}",
    "pause {}",
    "unpause {}",
    "rename {} newname",
    "domid {}",
    "domname {}",
    "list {}",
    "uptime {}",
    "save {} /nonexistent/x.save",
    "migrate {} /nonexistent",
    "mem-max {} 64",
    "mem-set {} 64",
    "vcpu-set {} 1",
    "vcpu-list {}",
    "vcpu-pin {} 0 0",
    "sysrq {} s",
    "block-attach {} phy:hda1 sdc1 r",
    "block-detach {} sda1",
    "block-list {}",
    "network-attach {}",
    "network-detach {} 0",
    "network-list {}",
    "vtpm-list {}",
    "suspend {}",
    "dump-core {}",
]
NUMBER_COMMANDS = [
    "mem-max boinc {}",
    "mem-set boinc {}",
    "vcpu-set boinc {}",
    "vcpu-pin boinc {} 0",
    "block-detach boinc {}",
    "network-detach boinc {}",
    "migrate -r {} boinc /nonexistent",
    "create boinc name=other memory={}",
    "create boinc name=other maxmem={}",
    "create boinc name=other vcpus={}",
]
# Whose number may also be a name (a domain, a device): non-numeric is no usage error there.
NAMES_TOO = {"block-detach boinc {}", "network-detach boinc {}"}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = loaded_host(tmp_path_factory.mktemp("numbers") / "root").root
    assert xm_run(root, "create", "boinc").code == 0
    return root


def _typed(root: Path, line: str, value: str) -> None:
    # typed as it is: a negative value must not read as an option
    words = [w.replace("{}", value) for w in line.split()]
    before = snapshot(HostPaths(root))
    run = xm_run(root, *words)
    assert run.code == 2, (words, run.code, run.err)
    assert len(run.err.splitlines()) == 1 and run.err.startswith("Error: "), (words, run.err)
    assert "Traceback" not in run.err and run.out == ""
    assert snapshot(HostPaths(root)) == before


@pytest.mark.parametrize("line", DOMAIN_COMMANDS)
@settings(max_examples=8)
@given(value=HUGE | NEGATIVE)
def test_domain_ids_out_of_range(host: Path, line: str, value: str) -> None:
    _typed(host, line, value)


@pytest.mark.parametrize("line", NUMBER_COMMANDS)
@settings(max_examples=8)
@given(value=HUGE | NEGATIVE)
def test_numbers_out_of_range(host: Path, line: str, value: str) -> None:
    _typed(host, line, value)


@pytest.mark.parametrize("line", [c for c in NUMBER_COMMANDS if c not in NAMES_TOO])
@settings(max_examples=8)
@given(value=NON_NUMERIC)
def test_numbers_that_are_not_numbers(host: Path, line: str, value: str) -> None:
    if line.startswith("vcpu-pin") and value.lower() == "all":
        return  # `all` is a VCPU
    if line.startswith("create") and (value.lower() in ("true", "false", "none") or "," in value):
        return  # literals and tuples of the config language are checked by type, below
    _typed(host, line, value)


def test_a_number_longer_than_int_reads(host: Path) -> None:
    """Python refuses int() of more than 4300 digits: still one error line."""
    value = "9" * 5000
    for line in ("destroy {}", "mem-set boinc {}", "vcpu-set boinc {}", "block-detach boinc {}"):
        _typed(host, line, value)
    _typed(host, "mem-set boinc {}", value + "k")


@pytest.mark.parametrize(
    ("value", "what"),
    [("True", "memory"), ("'no'", "memory"), ("(1, 2)", "vcpus"), ("0", "vcpus"), ("33", "vcpus")],
)
def test_config_values_of_the_wrong_type_or_range(host: Path, value: str, what: str) -> None:
    _typed(host, f"create boinc name=other {what}={{}}", value)


@pytest.mark.parametrize("value", ["1#", "2 # two", "(1)#"])
@pytest.mark.parametrize("what", ["memory", "vcpus"])
def test_a_number_followed_by_a_comment_is_not_a_number(host: Path, value: str, what: str) -> None:
    """`vcpus=1#` on the command line is no literal (it read as 1)."""
    _typed(host, f"create boinc name=other {what}={{}}", value)


@pytest.mark.parametrize(
    ("frontend", "message"),
    [("0x10000", "Invalid device number 0x10000"), ("99999999999999999999999", "number")],
)
def test_block_device_numbers_are_range_checked(host: Path, frontend: str, message: str) -> None:
    before = snapshot(HostPaths(host))
    run = xm_run(host, "block-attach", "boinc", "phy:hda2", frontend, "r")
    assert run.code in (1, 2) and len(run.err.splitlines()) == 1 and message in run.err
    assert snapshot(HostPaths(host)) == before


# ------------------------------------------------------------------ the parsers themselves


@given(st.integers(min_value=0, max_value=numbers.DOMID_MAX))
def test_every_domain_id_in_range_parses(domid: int) -> None:
    assert numbers.parse_domain_ref(str(domid)) == str(domid)
    assert numbers.parse_domain_ref(f"+{domid}") == str(domid)


@given(st.integers(min_value=1, max_value=numbers.MEMORY_MAX_MIB), st.sampled_from("kKmMgG"))
def test_memory_units(mib: int, unit: str) -> None:
    shift = {"k": -10, "m": 0, "g": 10}[unit.lower()]
    text = f"{mib << 10}{unit}" if shift < 0 else f"{mib}{unit}"
    if shift > 0 and mib << 10 > numbers.MEMORY_MAX_MIB:
        with pytest.raises(UsageError):
            numbers.parse_memory(text)
        return
    assert numbers.parse_memory(text) == (mib << shift if shift > 0 else mib)


def test_the_ranges() -> None:
    assert numbers.parse_vcpu_count("0") == 0  # ignored by vcpu-set, as Xen
    assert numbers.parse_vcpu_count(str(numbers.MAX_VIRT_CPUS)) == numbers.MAX_VIRT_CPUS
    assert numbers.parse_vcpu("all") is None
    assert numbers.parse_devid("sdb1") == "sdb1"
    assert numbers.parse_devid("0x10") == "0x10"  # a name to the device lookup
    for bad in (
        lambda: numbers.parse_vcpu_count("33"),
        lambda: numbers.parse_vcpu("32"),
        lambda: numbers.parse_devid("65536"),
        lambda: numbers.parse_domain_ref(str(numbers.DOMID_MAX + 1)),
        lambda: numbers.parse_mbs("0"),
        lambda: numbers.parse_memory("0"),
    ):
        with pytest.raises(UsageError):
            bad()


@pytest.mark.parametrize(
    "entry",
    ["disk=['phy:hda2,0x10000,r']", "vif=['mac=00:16:3e:00:00']", "vif=['ip=10.0.0.300']"],
)
def test_malformed_device_values_in_a_config_are_usage_errors(host: Path, entry: str) -> None:
    cfg = HostPaths(host).etc_xen / "devvalues"
    cfg.write_text(f'name = "devvalues"\nmemory = 64\n{entry}\n')
    before = snapshot(HostPaths(host))
    run = xm_run(host, "create", str(cfg))
    assert run.code == 2 and len(run.err.splitlines()) == 1, run.err
    assert run.err.startswith(f"Error: {cfg}: ")
    assert snapshot(HostPaths(host)) == before


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10**5000, "a number of more than 30 digits"),  # str() of it would raise
        (-(10**40), "a number of more than 30 digits"),
        ("x" * 1000, "'" + "x" * 36 + "..."),
        (True, "True"),
        (33, "33"),
    ],
    ids=["huge", "negative", "long-text", "bool", "too-large"],
)
def test_check_int_shows_a_wrong_value_in_at_most_40_characters(value: object, shown: str) -> None:
    """One check for every integer of a config or a saved domain; the error
    names the value, cut short, whatever its type or size."""
    with pytest.raises(UsageError) as caught:
        numbers.check_int(value, "vcpus", 1, 32, "web.cfg:3", " (vcpus= on the command line)")
    assert str(caught.value) == (
        f"web.cfg:3: 'vcpus' must be an integer from 1 to 32, not {shown}"
        " (vcpus= on the command line)"
    )
