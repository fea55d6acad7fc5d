-- CHG-1046: replace the created_at index by a covering one.
DROP INDEX IF EXISTS public.ix_orders_created;
CREATE INDEX IF NOT EXISTS ix_orders_created_cover ON public.orders (created_at) INCLUDE (customer_id);
