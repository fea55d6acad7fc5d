-- CHG-1044: record the release in the audit log (every run adds the row again).
INSERT INTO audit_log (actor, action) VALUES ('release', 'MES 4.3.1 deployed');
UPDATE production_lines SET active = 1 WHERE code IN ('L1', 'L2') AND active = 0;
