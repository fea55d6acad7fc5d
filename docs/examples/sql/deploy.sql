-- CHG-1: work orders get a priority, and the scheduler reads them by line and priority.
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 5;
CREATE INDEX IF NOT EXISTS ix_work_orders_line_priority ON work_orders (line, priority);
INSERT INTO work_orders (id, line, product, created_at, priority)
VALUES (3, 'line-3', 'ham 400 g rush', '2026-12-01T06:00:00Z', 1)
ON CONFLICT (id) DO NOTHING;
