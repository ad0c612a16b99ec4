"""Frame Studio: `python app.py` (see README). Arguments -> studio builds the app -> launch."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if os.environ.get("SPACE_ID"):
    # On a ZeroGPU Space `spaces` must be imported before torch.
    import spaces  # noqa: F401


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Frame Studio")
    p.add_argument("--server", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--share", action="store_true", help="opt-in public gradio share link")
    p.add_argument("--auth", default=None, help="user:pass (or alice:pw1,bob:pw2) required to open the app")
    p.add_argument("--inbrowser", action="store_true")
    p.add_argument("--models-dir", type=Path, default=None, help="folder with <owner>/<repo>/ model folders")
    p.add_argument("--outputs", type=Path, default=Path("outputs"))
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--tiny", action="store_true", help="tiny random weights for every model (output is noise)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    from starlette.middleware import Middleware

    from studio.env import StudioEnv
    from studio.ui.app import build_app, serving_paths
    from studio.ui.body_limit import BodyLimit

    auth = None
    if args.auth:  # user:pass, or several people: alice:pw1,bob:pw2 (each sees only their own jobs)
        auth = []
        for entry in args.auth.split(","):
            user, sep, password = entry.partition(":")
            if not sep or not user or not password:
                sys.exit("--auth must look like user:pass or alice:pw1,bob:pw2")
            auth.append((user, password))
    on_space = bool(os.environ.get("SPACE_ID"))
    env = StudioEnv(outputs=args.outputs, models_dir=args.models_dir, tiny=args.tiny, offline=args.offline,
                    shared=bool(auth or args.share or on_space))
    env.outputs.mkdir(parents=True, exist_ok=True)
    from studio.recovery import (
        recover_interrupted,  # jobs a crash or kill -9 left "running"
    )

    for job in recover_interrupted(env.outputs):
        print(f"marked interrupted (its process is gone): {job}", file=sys.stderr)
    app = build_app(env)
    app.launch(
        server_name="0.0.0.0" if on_space else args.server,
        server_port=args.port,
        share=args.share,
        auth=auth,
        inbrowser=args.inbrowser,
        # Shared: results reach each caller through gradio's cache, never by a path into the
        # outputs folder that anyone could fetch (see serving_paths).
        allowed_paths=serving_paths(env),
        max_file_size=f"{env.max_upload_mb}mb",
        app_kwargs={"middleware": [Middleware(BodyLimit)]},
        show_error=True,
    )


if __name__ == "__main__":
    main()
