"""The versioned policy lifecycle on a host (Xen 3.2-3.4): the policy update
(`setpolicy`, `loadpolicy` of a versioned policy, `resetpolicy`), its plan
and its one-transaction apply, relabelling running domains (`addlabel ...
mgt`), and the label strings of Xen 3.4."""
