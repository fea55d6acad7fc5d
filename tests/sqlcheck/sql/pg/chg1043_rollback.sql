DROP TABLE IF EXISTS mes.shift_notes;
