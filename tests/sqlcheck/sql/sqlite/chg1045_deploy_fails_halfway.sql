-- CHG-1045: shift tracking. Statement 3 references a production line that does not exist.
CREATE TABLE IF NOT EXISTS shift_notes (
    id INTEGER PRIMARY KEY,
    line_id INTEGER NOT NULL REFERENCES production_lines (id),
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_shift_notes_line ON shift_notes (line_id);
INSERT INTO shift_notes (id, line_id, note) VALUES (1, 99, 'line 99 handover') ON CONFLICT (id) DO NOTHING;
