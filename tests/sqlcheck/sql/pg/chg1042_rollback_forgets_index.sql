-- CHG-1042 rollback, first draft: forgets the index and the priority column.
UPDATE mes.production_lines SET name = 'Packing' WHERE code = 'PK' AND name <> 'Packing';
DELETE FROM mes.production_lines WHERE code = 'L3';
DROP TABLE IF EXISTS mes.line_stops;
DROP FUNCTION IF EXISTS mes.log_line_stop();
DROP FUNCTION IF EXISTS mes.open_stop_count(integer);
ALTER TABLE mes.work_orders DROP CONSTRAINT IF EXISTS work_orders_priority_range;
