-- Drops the new index but does not bring the old one back.
DROP INDEX IF EXISTS public.ix_orders_created_cover;
