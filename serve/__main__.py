"""The ``lcpfn`` command: ``lcpfn serve [--model PATH] [--host H] [--port N] [--workers N]``.

``python -m serve`` is the same as ``lcpfn serve``; settings not given as options
come from the ``LCPFN_*`` environment variables (see :mod:`serve.config`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time


class JsonFormatter(logging.Formatter):
    """One JSON object per line; messages that already are JSON objects are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
        }
        msg = record.getMessage()
        try:
            parsed = json.loads(msg)
            out.update(parsed if isinstance(parsed, dict) else {"message": msg})
        except ValueError:
            out["message"] = msg
        return json.dumps(out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="lcpfn serve", description="Start the lcpfn HTTP service.")
    p.add_argument("--model", help="exported .onnx model (default: LCPFN_MODEL or the shipped model)")
    p.add_argument("--host", help="default: LCPFN_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, help="default: LCPFN_PORT or 8000")
    p.add_argument("--workers", type=int, help="default: LCPFN_WORKERS or 1")
    args = p.parse_args(argv)

    import uvicorn

    from serve.config import Settings

    settings = Settings.from_env(model=args.model, host=args.host, port=args.port, workers=args.workers)
    # Worker processes rebuild the app from the environment, so pass the options on that way.
    for key in ("model", "host", "port", "workers"):
        value = getattr(settings, key)
        if value is not None:
            os.environ[f"LCPFN_{key.upper()}"] = str(value)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # A missing or corrupt model, or a bad setting, stops here with one log line naming it, before uvicorn starts.
    try:
        import lcpfn
        from serve.access import read_keys

        read_keys(settings.api_keys)
        lcpfn.load(settings.model, threads=1)
    except (lcpfn.ModelFileError, ValueError) as e:
        logging.getLogger("lcpfn.serve").error(json.dumps({"event": "startup_failed", "error": str(e)}))
        sys.exit(2)
    uvicorn.run(
        "serve.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
