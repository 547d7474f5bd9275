"""Alembic environment and revisions of the softswitch schema (run through ``storage.migrate``)."""
