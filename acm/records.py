"""`NamedTuple` for the records that `xm makepolicy` defines at start-up.

To the type checker this is `typing.NamedTuple`. At run time it makes the
same class from the same class body (`collections.namedtuple` with the
annotated fields, their defaults, and the body's methods and docstring)
without the part of `typing.NamedTuple` that costs the most: it checks
every field's annotation, and with `from __future__ import annotations`
each one is a string that it compiles. Some twenty records with ninety
fields are defined before `xm makepolicy` compiles anything; defined this
way they take about 1.7 ms less of the command's start-up.

The fields' annotations are kept as written (strings) in `__annotations__`.
As with `typing.NamedTuple` (Python 3.11), a record may not be generic and
its body's descriptors are set on the class (no `__set_name__`).
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False  # typing itself need not be loaded for this
if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    # What the class body may not set, and what it sets that the class has already.
    _RESERVED = frozenset(("__new__", "__init__", "__slots__", "__getnewargs__", "_fields"))
    _RESERVED |= frozenset(("_field_defaults", "_make", "_replace", "_asdict", "_source"))
    _OWN = frozenset(("__module__", "__name__", "__annotations__"))

    class _RecordMeta(type):
        def __new__(mcs, typename: str, bases: tuple[type, ...], ns: dict[str, object]) -> type:
            if not bases:  # the base class below
                return super().__new__(mcs, typename, bases, ns)
            if bases != (NamedTuple,):
                raise TypeError("a record's only base is NamedTuple")
            fields: dict[str, object] = dict(ns.get("__annotations__", {}))  # type: ignore[call-overload]
            defaults = [ns[name] for name in fields if name in ns]
            if any(name not in ns for name in list(fields)[len(fields) - len(defaults) :]):
                raise TypeError(f"{typename}: a field without a default follows one with a default")
            record = collections.namedtuple(
                typename, fields, defaults=defaults, module=str(ns["__module__"])
            )
            record.__annotations__ = fields
            for key, value in ns.items():
                if key in _RESERVED:
                    raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
                if key not in _OWN and key not in fields:
                    setattr(record, key, value)
            return record

    class NamedTuple(metaclass=_RecordMeta):
        """The base of a record (see the module's docstring)."""
