-- CHG-1042 verify (SQLite): fails unless the change is in place.
SELECT id, line, reason, started_at FROM open_line_stops WHERE 0;
SELECT 1 FROM line_stops WHERE 0;
