PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), actor TEXT NOT NULL, action TEXT NOT NULL);
INSERT INTO "audit_log" VALUES(1,'2026-11-01T06:00:00Z','system','seeded');
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL CHECK (length(country) = 2)
);
INSERT INTO "customers" VALUES(1,'Acme GmbH','DE');
INSERT INTO "customers" VALUES(2,'Bolt SA','FR');
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    work_order_id INTEGER NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    printed_at TEXT,
    payload TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO "labels" VALUES(1,1,'SN-0001',NULL,'{}');
INSERT INTO "labels" VALUES(2,1,'SN-0002',NULL,'{}');
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    reference TEXT NOT NULL UNIQUE,
    quantity NUMERIC NOT NULL CHECK (quantity > 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO "orders" VALUES(1,1,'SO-1001',100,'2026-11-02T08:00:00Z');
INSERT INTO "orders" VALUES(2,2,'SO-1002',250.5,'2026-11-03T09:30:00Z');
CREATE TABLE production_lines (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    plant TEXT NOT NULL DEFAULT 'PLANT-1',
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);
INSERT INTO "production_lines" VALUES(1,'L1','Assembly 1','PLANT-1',1);
INSERT INTO "production_lines" VALUES(2,'L2','Assembly 2','PLANT-1',1);
INSERT INTO "production_lines" VALUES(3,'PK','Packing','PLANT-1',1);
CREATE TABLE work_orders (
    id INTEGER PRIMARY KEY,
    order_id INTEGER REFERENCES orders(id) ON DELETE SET NULL,
    line_id INTEGER NOT NULL REFERENCES production_lines(id),
    status TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'released', 'running', 'done', 'cancelled')),
    planned_start TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO "work_orders" VALUES(1,1,1,'released',NULL,'2026-11-02T08:05:00Z');
INSERT INTO "work_orders" VALUES(2,2,2,'planned',NULL,'2026-11-03T09:35:00Z');
INSERT INTO "work_orders" VALUES(3,NULL,3,'done',NULL,'2026-11-01T07:00:00Z');
CREATE INDEX ix_orders_created ON orders (created_at);
CREATE INDEX ix_work_orders_line_status ON work_orders (line_id, status) WHERE status <> 'done';
CREATE TRIGGER trg_work_orders_touch AFTER UPDATE OF status ON work_orders
BEGIN
    UPDATE work_orders SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;
CREATE UNIQUE INDEX ux_labels_serial ON labels (serial);
CREATE VIEW open_work_orders AS
    SELECT w.id, l.code AS line, w.status FROM work_orders w JOIN production_lines l ON l.id = w.line_id
    WHERE w.status IN ('planned', 'released', 'running');
COMMIT;
