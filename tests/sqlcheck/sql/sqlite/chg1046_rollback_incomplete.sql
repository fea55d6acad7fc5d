-- Drops the new index but does not bring the old one back.
DROP INDEX IF EXISTS ix_orders_created_customer;
