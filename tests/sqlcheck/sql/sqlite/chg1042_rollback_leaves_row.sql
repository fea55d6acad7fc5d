UPDATE production_lines SET name = 'Packing' WHERE code = 'PK' AND name <> 'Packing';
DROP VIEW IF EXISTS open_line_stops;
DROP TRIGGER IF EXISTS trg_line_stops_audit;
DROP TABLE IF EXISTS line_stops;
