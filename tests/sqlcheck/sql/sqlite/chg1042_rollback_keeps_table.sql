-- CHG-1042 rollback, first draft: forgets to drop the table (and with it its index and trigger).
UPDATE production_lines SET name = 'Packing' WHERE code = 'PK' AND name <> 'Packing';
DELETE FROM production_lines WHERE code = 'L3';
DROP VIEW IF EXISTS open_line_stops;
