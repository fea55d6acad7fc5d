"""The SQL check's machinery: scratch databases on SQLite and PostgreSQL, schema and data
fingerprints, and the throwaway PostgreSQL cluster it (and the test suite) starts."""
