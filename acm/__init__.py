"""Xen Access Control Module (sHype) policy library.

A pure library: policy model, XML source and schema, compiler, the `.bin`
and `.map` formats, the decision engine and the analyses. It does no
printing, knows nothing of click or SQLite, and never imports `xm_core`.
Submodules are imported on demand so that command start-up stays cheap.
"""
