-- CHG-1042 (MES 4.3.0), SQLite edition: line stop tracking.
-- SQLite has no ADD COLUMN IF NOT EXISTS, so this change only adds objects it can guard.
CREATE TABLE IF NOT EXISTS line_stops (
    id INTEGER PRIMARY KEY,
    line_id INTEGER NOT NULL REFERENCES production_lines (id),
    reason TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ended_at TEXT,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX IF NOT EXISTS ix_line_stops_open ON line_stops (line_id) WHERE ended_at IS NULL;
CREATE TRIGGER IF NOT EXISTS trg_line_stops_audit AFTER INSERT ON line_stops
BEGIN
    INSERT INTO audit_log (actor, action)
    VALUES ('mes', 'line ' || NEW.line_id || ' stopped: ' || CASE WHEN NEW.reason = '' THEN '?' ELSE NEW.reason END);
END;
CREATE VIEW IF NOT EXISTS open_line_stops AS
    SELECT s.id, l.code AS line, s.reason, s.started_at FROM line_stops s JOIN production_lines l ON l.id = s.line_id
    WHERE s.ended_at IS NULL;
INSERT OR IGNORE INTO production_lines (code, name) VALUES ('L3', 'Assembly 3');
UPDATE production_lines SET name = 'Packing line' WHERE code = 'PK' AND name <> 'Packing line';
