"""The web process: `gunicorn -c gunicorn.conf.py wsgi:app` (Procfile, make run)."""

from gateway import create_app

app = create_app()
