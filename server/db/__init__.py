"""Database layer: SQLAlchemy 2 models, sessions, migrations live in ``server/migrations``."""
