-- CHG-1043: shift notes. Written without repeat guards.
CREATE TABLE mes.shift_notes (
    id bigserial PRIMARY KEY,
    line_id integer NOT NULL REFERENCES mes.production_lines (id),
    shift char(1) NOT NULL CHECK (shift IN ('A', 'B', 'C')),
    note text NOT NULL
);
CREATE INDEX ix_shift_notes_line ON mes.shift_notes (line_id);
