-- CHG-1042 (MES 4.3.0): work order priority and line stop tracking.
-- Safe to run twice: every statement checks before it acts.

ALTER TABLE mes.work_orders ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 3;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'work_orders_priority_range' AND conrelid = 'mes.work_orders'::regclass) THEN
        ALTER TABLE mes.work_orders
            ADD CONSTRAINT work_orders_priority_range CHECK (priority BETWEEN 1 AND 5);
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS ix_work_orders_priority ON mes.work_orders (priority) WHERE status <> 'done';

CREATE TABLE IF NOT EXISTS mes.line_stops (
    id bigserial PRIMARY KEY,
    line_id integer NOT NULL REFERENCES mes.production_lines (id),
    reason text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    CONSTRAINT line_stops_period CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE OR REPLACE FUNCTION mes.open_stop_count(p_line integer) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM mes.line_stops WHERE line_id = p_line AND ended_at IS NULL $$;

CREATE OR REPLACE FUNCTION mes.log_line_stop() RETURNS trigger
    LANGUAGE plpgsql
    AS $fn$
BEGIN
    INSERT INTO public.audit_log (actor, action)
    VALUES ('mes', format('line %s stopped: %s', NEW.line_id, NEW.reason));
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER trg_line_stops_audit AFTER INSERT ON mes.line_stops
    FOR EACH ROW EXECUTE FUNCTION mes.log_line_stop();

INSERT INTO mes.production_lines (code, name, plant) VALUES ('L3', 'Assembly 3', 'PLANT-1')
    ON CONFLICT (code) DO NOTHING;

UPDATE mes.production_lines SET name = 'Packing line' WHERE code = 'PK' AND name <> 'Packing line';

GRANT SELECT ON mes.line_stops TO mes_reporting;
