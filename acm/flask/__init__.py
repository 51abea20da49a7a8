"""Export of an ACM policy to FLASK/XSM, the mandatory access control of
every Xen since 4.2 (pure: texts and records, nothing printed or written).

- `naming`: ACM names mangled to identifiers checkpolicy accepts, and the
  table that maps them back;
- `plan`: what each label becomes (its domain type, its attributes, whom it
  may talk to), worked out once from the ACM semantics;
- `module`: the `.te` module text, using Xen 4.13's macros (`xen.if`);
- `guard`: the Chinese Wall guard the toolstack runs before `xl create`;
- `report`: what was carried over, mapped approximately, or cannot be;
- `export`: `export_flask`, all of the above for one policy.
"""

from acm.flask.export import FlaskExport, export_flask, load_for_export

__all__ = ["FlaskExport", "export_flask", "load_for_export"]
