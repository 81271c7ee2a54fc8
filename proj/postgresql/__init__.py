"""
Django 2.2's PostgreSQL backend for psycopg2 2.9 (why: base.py's
docstring). A postgres:// DATABASE_URL selects it (proj/settings.py).
"""
