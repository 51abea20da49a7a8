"""Analyses of a compiled policy, beyond what Xen offered (issue 7).

One module per analysis, each building its networkx graph once and
answering from it; results are small dataclasses with `format()` (text
lines) and `as_dict()` (the `--json` document):

- `loader`: a compiled policy seen as labels and the types the hypervisor
  enforces for them; loading from XML or from `.bin` + `.map`;
- `graphs`: node-link JSON, DOT and SVG export shared by the graphs;
- `conflicts`: the Chinese Wall "A running blocks B" graph;
- `flows`: the STE sharing graph and the paths data can take;
- `coexist`: which labels can run at the same time, and in which order;
- `diff`: what changes between two versions of a policy;
- `decompile`: a `.bin` (and `.map`) back to an XML source.
"""
