"""
Django 2.2's SQLite backend, set up for several worker processes writing
one file. The default sqlite:/// DATABASE_URL selects it (proj/settings.py).
"""
