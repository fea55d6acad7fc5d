"""The Final Checkout gate: its rules and their policy."""
