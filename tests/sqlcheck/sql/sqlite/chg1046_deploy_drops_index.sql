-- CHG-1046: replace the created_at index by one that also covers the customer.
DROP INDEX IF EXISTS ix_orders_created;
CREATE INDEX IF NOT EXISTS ix_orders_created_customer ON orders (created_at, customer_id);
