CREATE TABLE work_orders (
    id integer PRIMARY KEY,
    line text NOT NULL,
    product text NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO work_orders (id, line, product, created_at) VALUES
    (1, 'line-3', 'ham 200 g', '2026-11-30T06:10:00Z'),
    (2, 'line-3', 'ham 400 g', '2026-11-30T14:20:00Z');
