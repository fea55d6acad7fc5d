DROP TABLE IF EXISTS shift_notes;
