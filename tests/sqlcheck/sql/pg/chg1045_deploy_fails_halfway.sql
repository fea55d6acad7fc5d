-- CHG-1045: shift tracking. Statement 3 references a production line that does not exist.
CREATE TABLE IF NOT EXISTS mes.shift_notes (
    id bigserial PRIMARY KEY,
    line_id integer NOT NULL REFERENCES mes.production_lines (id),
    note text NOT NULL
);
ALTER TABLE mes.work_orders ADD COLUMN IF NOT EXISTS shift char(1);
INSERT INTO mes.shift_notes (id, line_id, note) VALUES (1, 99, 'line 99 handover') ON CONFLICT (id) DO NOTHING;
