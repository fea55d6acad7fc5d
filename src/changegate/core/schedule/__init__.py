"""The schedule: windows, blackouts, freezes, local time across daylight saving, conflicts."""
