-- Forgets the rush order inserted by deploy.sql; dropping the column drops the index with it.
ALTER TABLE work_orders DROP COLUMN IF EXISTS priority;
