DROP INDEX CONCURRENTLY IF EXISTS mes.ix_work_orders_shift;
ALTER TABLE mes.work_orders DROP COLUMN IF EXISTS shift;
DROP TABLE IF EXISTS mes.shift_notes;
