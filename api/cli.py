"""The `ipam` command line."""

from __future__ import annotations

import argparse
import os
import sys


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.database_url:
        os.environ["IPAM_DATABASE_URL"] = args.database_url
    if args.workers > 1:
        uvicorn.run("api.main:app", host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level)
    else:
        from api.app import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ipam", description="Event-sourced dual-stack IPAM.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the HTTP API",
                              description="Serve the metal-api v1 network and IP API.")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    run.add_argument("--workers", type=int, default=1,
                     help="server processes (use PostgreSQL for more than one)")
    run.add_argument("--database-url", default=None,
                     help="overrides IPAM_DATABASE_URL (default: SQLite file under ./data)")
    run.add_argument("--log-level", default="info")
    run.set_defaults(func=serve)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
