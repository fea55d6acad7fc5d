"""The change record: vocabulary and facts, the lifecycle table, the approval matrix."""
