"""Output of the commands Xen 3.4 added to the policy lifecycle
(`setpolicy`, `getpolicy`, `resetpolicy`, labels of running domains)."""
