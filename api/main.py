"""ASGI entry point for uvicorn/gunicorn workers: `uvicorn api.main:app`."""

import os

from api.app import create_app

app = create_app(follow=os.environ.get("IPAM_FOLLOW", "1") != "0")
