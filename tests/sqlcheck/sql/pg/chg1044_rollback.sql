DELETE FROM public.audit_log WHERE actor = 'release' AND action = 'MES 4.3.1 deployed';
