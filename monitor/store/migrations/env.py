"""Alembic environment: the URL comes from `monitor init`, never from an ini file."""

from alembic import context

from monitor.store.db import engine_for
from monitor.store.models import Base

url = context.config.attributes["url"]
with engine_for(url).connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
