"""The policy file as the core reads it: the validated model, YAML with line numbers, durations."""
