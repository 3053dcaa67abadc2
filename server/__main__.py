"""`python -m server --host H --port P`: the server process that `ragtune serve` hands over to.

vLLM starts its engine processes with spawn, which re-imports this main module in each of them; so
nothing is imported at module level here (importing the knowledge base pulls in bm25s -> numba ->
llvmlite, whose objects crash vLLM's worker start-up).
"""

if __name__ == "__main__":
    import argparse
    import json
    import socket
    import sys

    import uvicorn
    from rich.console import Console

    from core.settings import Settings
    from server.app import create_app
    from server.background_training import AdapterJob

    parser = argparse.ArgumentParser(prog="python -m server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--train-adapter", help="an adapter to train in the background, then load")
    parser.add_argument("--train-command", help="the command that trains it, as a JSON list")
    args = parser.parse_args()
    jobs = (AdapterJob(args.train_adapter, json.loads(args.train_command)),) if args.train_adapter else ()
    # Listen before the engine starts: a busy port fails at once, and vLLM's processes, which open ports of
    # their own, cannot take this one in the meantime. Connections wait until the app is ready.
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror}")
    console = Console(highlight=False, soft_wrap=True)
    where = f"serving on http://{args.host}:{args.port}"
    app = create_app(Settings(), announce=lambda summary: console.print(f"{summary}\n{where}"), jobs=jobs)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
