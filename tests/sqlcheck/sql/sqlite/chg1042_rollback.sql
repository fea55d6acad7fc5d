-- CHG-1042 rollback (SQLite); safe to run twice.
UPDATE production_lines SET name = 'Packing' WHERE code = 'PK' AND name <> 'Packing';
DELETE FROM production_lines WHERE code = 'L3';
DROP VIEW IF EXISTS open_line_stops;
DROP TRIGGER IF EXISTS trg_line_stops_audit;
DROP TABLE IF EXISTS line_stops;
