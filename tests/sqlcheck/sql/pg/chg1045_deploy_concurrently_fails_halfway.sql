-- CHG-1045, second attempt: the index is built CONCURRENTLY, so the script cannot run in one transaction.
CREATE TABLE IF NOT EXISTS mes.shift_notes (
    id bigserial PRIMARY KEY,
    line_id integer NOT NULL REFERENCES mes.production_lines (id),
    note text NOT NULL
);
ALTER TABLE mes.work_orders ADD COLUMN IF NOT EXISTS shift char(1);
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_work_orders_shift ON mes.work_orders (shift);
INSERT INTO mes.shift_notes (id, line_id, note) VALUES (1, 99, 'line 99 handover') ON CONFLICT (id) DO NOTHING;
