"""SQL change safety: lexing and splitting scripts, refusals, lint."""
