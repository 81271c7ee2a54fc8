"""
Django 2.2's PostgreSQL backend, mended for psycopg2 2.9 (the first
psycopg2 that imports on Python 3.11). A postgres:// DATABASE_URL selects
it (proj/settings.py).
"""
