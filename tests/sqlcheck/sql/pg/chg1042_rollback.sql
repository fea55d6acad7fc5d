-- CHG-1042 rollback: undoes chg1042_deploy.sql; safe to run twice.
UPDATE mes.production_lines SET name = 'Packing' WHERE code = 'PK' AND name <> 'Packing';
DELETE FROM mes.production_lines WHERE code = 'L3';
DROP TRIGGER IF EXISTS trg_line_stops_audit ON mes.line_stops;
DROP TABLE IF EXISTS mes.line_stops;
DROP FUNCTION IF EXISTS mes.log_line_stop();
DROP FUNCTION IF EXISTS mes.open_stop_count(integer);
DROP INDEX IF EXISTS mes.ix_work_orders_priority;
ALTER TABLE mes.work_orders DROP CONSTRAINT IF EXISTS work_orders_priority_range;
ALTER TABLE mes.work_orders DROP COLUMN IF EXISTS priority;
