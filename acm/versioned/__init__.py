"""Versioned policies: the format of Xen 3.2-3.4, beside Xen 3.0.4's.

A policy whose PolicyHeader has a `Version` (and optionally `FromPolicy`,
the policy and version it updates) may rename labels with `<Name
from="old">new</Name>` and may name `__UNLABELED__`. It is read by
`acm.source` (its own schema), checked here, numbered and compiled here as
Xen 3.4 numbers it, and written and read by `acm.binfmt` (the version-4
layout). A policy without `Version` never comes here.

- `info`: what a policy says about its life (name, version, FromPolicy,
  renames, `__UNLABELED__`), from its source or its compiled form; version
  parsing and comparison.
- `checks`: the format's rules (ACM040-ACM048, ACM051) and the checks of an update
  from one policy to the next (ACM049, ACM050), as error values.
- `xmlhash`: the SHA-1 Xen 3.4 puts in the binary (of the XML as Python
  2's minidom wrote it).
- `numbering`: the compiler of versioned policies (Xen 3.4's numbering).
"""
