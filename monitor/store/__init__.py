"""Where leads are kept: the schema (models), its migrations, engines and sessions (db), the
values the web sends cut to fit (sanitize), and the recorded operations (records).

SQLite by default, PostgreSQL at scale; the same code and migrations serve both."""
