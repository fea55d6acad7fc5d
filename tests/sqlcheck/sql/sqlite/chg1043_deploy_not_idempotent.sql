-- CHG-1043: shift notes. Written without repeat guards.
CREATE TABLE shift_notes (
    id INTEGER PRIMARY KEY,
    line_id INTEGER NOT NULL REFERENCES production_lines (id),
    shift TEXT NOT NULL CHECK (shift IN ('A', 'B', 'C')),
    note TEXT NOT NULL
);
CREATE INDEX ix_shift_notes_line ON shift_notes (line_id);
