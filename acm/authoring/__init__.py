"""Policy authoring: ezPolicy's workload descriptions (`workload`), the policy
generated from one (`generate`), edits of a policy's XML text that keep
the rest of it as written (`policyedit`), and the check of such an edit
where it touched the policy (`recheck`)."""
