"""Policy authoring: ezPolicy's workload descriptions (`workload`), the policy
generated from one (`generate`), and edits of a policy's XML text that keep
the rest of it as written (`policyedit`)."""
