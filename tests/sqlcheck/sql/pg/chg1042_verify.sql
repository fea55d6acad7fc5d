-- CHG-1042 verify: every statement raises an error unless the change is in place.
SELECT 1 / COUNT(*) FROM information_schema.columns
 WHERE table_schema = 'mes' AND table_name = 'work_orders' AND column_name = 'priority';
SELECT id, line_id, reason, started_at, ended_at FROM mes.line_stops WHERE false;
SELECT mes.open_stop_count(1);
