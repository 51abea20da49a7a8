"""What Xen never had, on a host: explanations, audits, the impact of a policy
load, policy unit tests."""
