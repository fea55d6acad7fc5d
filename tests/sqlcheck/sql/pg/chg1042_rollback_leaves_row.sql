-- CHG-1042 rollback, second draft: forgets the production line it inserted.
UPDATE mes.production_lines SET name = 'Packing' WHERE code = 'PK' AND name <> 'Packing';
DROP TABLE IF EXISTS mes.line_stops;
DROP FUNCTION IF EXISTS mes.log_line_stop();
DROP FUNCTION IF EXISTS mes.open_stop_count(integer);
DROP INDEX IF EXISTS mes.ix_work_orders_priority;
ALTER TABLE mes.work_orders DROP CONSTRAINT IF EXISTS work_orders_priority_range;
ALTER TABLE mes.work_orders DROP COLUMN IF EXISTS priority;
