"""The rule registry of `acm lint`: one stable code per kind of mistake.

The codes are shared with the parser (ACM001-003) and the compiler
(ACM010-014, 016, 017, 019, 023), whose findings lint takes over as they
are. Severities here are the defaults; a configuration may change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from acm.errors import Severity


class Origin(StrEnum):
    """Which stage finds the mistake."""

    PARSER = "parser"  # acm.source: the file cannot be read as a policy at all
    COMPILER = "compiler"  # acm.sourcecompiler: the finding comes from compile_source
    LINT = "lint"  # acm.lint.checks


@dataclass(frozen=True)
class Rule:
    code: str
    name: str  # a short slug, used by SARIF as the rule's name
    severity: Severity
    summary: str  # one line: what is wrong
    rationale: str  # why it matters, briefly
    origin: Origin = Origin.LINT

    @property
    def configurable(self) -> bool:
        """A file that cannot be parsed cannot be checked, so parser findings
        can be neither disabled nor downgraded."""
        return self.origin is not Origin.PARSER


ERR, WARN, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
P, C = Origin.PARSER, Origin.COMPILER

_RULES = (
    Rule("ACM001", "unsafe-or-malformed-xml", ERR,
         "the file is not well-formed XML, or it has a DOCTYPE with an internal subset or an "
         "external identifier",
         "Nothing else can be checked; such a DOCTYPE can smuggle in entities or name a DTD "
         "to fetch, so it is refused.", P),
    Rule("ACM002", "schema-violation", ERR,
         "the document does not follow the policy schema",
         "Xen's compiler refused such a document; every violation is listed with its line.", P),
    Rule("ACM003", "unreadable-file", ERR,
         "the file cannot be read",
         "A policy that cannot be read cannot be checked.", P),
    Rule("ACM010", "duplicate-type", ERR,
         "a type is declared twice in one part",
         "The second declaration would get a second number for the same name.", C),
    Rule("ACM011", "undeclared-type", ERR,
         "a label uses a type that its part does not declare",
         "The compiler refuses it; usually a typo.", C),
    Rule("ACM012", "conflict-set-unknown-type", ERR,
         "a conflict set names a type that is not a Chinese Wall type",
         "A conflict set can only hold Chinese Wall types; the wall it meant is missing.", C),
    Rule("ACM013", "conflict-set-duplicate-type", ERR,
         "a conflict set names one type twice",
         "The compiler refuses it; usually a copy-and-paste slip.", C),
    Rule("ACM014", "missing-bootstrap", ERR,
         "the bootstrap label is missing from a part",
         "Domain-0 runs with the bootstrap label; without it the policy cannot load.", C),
    Rule("ACM015", "duplicate-label", ERR,
         "two labels of the same kind have one name",
         "The label's ssidref is no longer unique: `xm` refuses to translate it.", ),
    Rule("ACM016", "bad-name-characters", ERR,
         "a name holds white space or a control character",
         "Names are written into the `.map` in space-separated columns; such a name "
         "breaks the file for every reader.", C),
    Rule("ACM017", "too-many-types-or-ssids", ERR,
         "a part has more than 65535 types or SSIDs",
         "Types and SSIDs are 16-bit numbers in the binary policy.", C),
    Rule("ACM018", "policy-name-mismatch", WARN,
         "PolicyName does not match the file's place under the policy root",
         "`xm makepolicy NAME` finds the file by its name; a different PolicyName makes "
         "the compiled policy answer to another name than the one it was built from."),
    Rule("ACM019", "empty-name", ERR,
         "a name is empty",
         "An empty name cannot be written to or read back from the `.map`.", C),
    Rule("ACM020", "ignored-priority", WARN,
         "`priority` on the STE part has no effect",
         "Chinese Wall is the primary part whenever it is present; no Xen release "
         "honoured the attribute, so it misleads the reader."),
    Rule("ACM021", "label-cannot-start", WARN,
         "a VM label has no Chinese Wall types under a Chinese Wall policy",
         "It gets no Chinese Wall SSID, so a domain with this label can never start."),
    Rule("ACM022", "label-shares-nothing", WARN,
         "a VM label has no STE types under an STE policy",
         "It can share with nothing, not even its backend domain, and use no resource."),
    Rule("ACM023", "duplicate-type-in-label", WARN,
         "a label lists one type twice",
         "Harmless to the compiler, but usually a slip for another type.", C),
    Rule("ACM024", "small-conflict-set", WARN,
         "a conflict set has fewer than two types",
         "A conflict set with one type keeps nothing apart."),
    Rule("ACM025", "bootstrap-in-conflict-set", WARN,
         "the bootstrap label's Chinese Wall type sits in a conflict set",
         "Domain-0 always runs, so every label with another type of that set can never start."),
    Rule("ACM026", "unused-type", INFO,
         "a declared type is used by no label",
         "Dead declarations hide the types that matter; often a label lost its type."),
    Rule("ACM027", "several-type-groups", WARN,
         "a label has several type groups of one part",
         "Each group becomes its own SSID under the same name, so the name maps to several "
         "ssidrefs and cannot be resolved."),
    Rule("ACM028", "unusable-resource-label", WARN,
         "a resource label has no STE types under an STE policy",
         "No domain can use the resource: every access is denied."),
    Rule("ACM029", "reserved-label-name", ERR,
         "a label or the bootstrap is named `__NULL_LABEL__`",
         "That name belongs to SSID 0; a label with it makes the name ambiguous and a "
         "bootstrap with it moves the null entry."),
    Rule("ACM030", "conflict-bridge", WARN,
         "two labels that may not run together can exchange data through a third label",
         "A conflict set walls two labels apart; a label or resource that shares STE types "
         "with both carries data over the wall."),
    Rule("ACM031", "long-name", INFO,
         "a name is longer than 25 bytes",
         "The `.map` pads names to 25 columns; longer names misalign its columns."),
    Rule("ACM032", "plain-doctype", WARN,
         "the policy has a plain `<!DOCTYPE Name>`",
         "Accepted, as Xen's compiler accepted it, but it does nothing: no DTD is loaded and "
         "the schema decides. Any edit that adds an internal subset or a DTD to it makes "
         "the file refused (ACM001)."),
    # The versioned format's rules (Xen 3.4; acm.versioned.checks), found by
    # the compiler of versioned policies.
    Rule("ACM040", "bad-version", ERR,
         "a Version Xen 3.4 cannot read, or one past its 32-bit field",
         "Xen's schema lets `1x0` through, then its tools fail on it.", C),
    Rule("ACM041", "colon-in-label", ERR,
         "a label name holds a `:`",
         "Xen 3.4 writes labels as ACM:POLICY:LABEL; a `:` in the name breaks that.", C),
    Rule("ACM042", "unnamed-conflict-set", ERR,
         "a conflict set of a versioned policy has no name",
         "Xen 3.4 orders conflict sets by name and refuses an unnamed one.", C),
    Rule("ACM043", "resource-label-types", ERR,
         "a resource label of a versioned policy has more than one STE type",
         "Xen 3.4 gives a resource label one STE type.", C),
    Rule("ACM044", "rename-claimed-twice", ERR,
         "two labels are renamed from the same old label",
         "One old label can become only one new label.", C),
    Rule("ACM045", "rename-chain", ERR,
         "a rename's old name is still a label of the policy",
         "A chain or cycle of renames; Xen ignored such renames for running domains.", C),
    Rule("ACM046", "non-ascii-versioned", ERR,
         "a versioned policy holds a character outside ASCII",
         "Xen 3.4's tools can neither hash nor write it.", C),
    Rule("ACM047", "duplicate-label-versioned", ERR,
         "a versioned policy defines a label name twice in one kind",
         "Xen 3.4 refuses policies with duplicates.", C),
    Rule("ACM048", "no-chinese-wall", ERR,
         "a versioned policy has no Chinese Wall types",
         "Xen 3.4 then writes a binary its hypervisor refuses to load.", C),
    Rule("ACM051", "no-ste-types-versioned", WARN,
         "a versioned policy has no STE types",
         "Xen 3.4 still loads an STE part, with no types: no two domains may share "
         "anything, Domain-0 and its backends included.", C),
)  # fmt: skip

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}


def rule(code: str) -> Rule:
    return RULES[code]
