"""`python -m server --host H --port P`: the server process that `ragtune serve` hands over to.

vLLM starts its engine processes with spawn, which re-imports this main module in each of them; so
nothing is imported at module level here (importing the knowledge base pulls in bm25s -> numba ->
llvmlite, whose objects crash vLLM's worker start-up).
"""

if __name__ == "__main__":
    import argparse

    import uvicorn
    from rich.console import Console

    from core.settings import Settings
    from server.app import create_app

    parser = argparse.ArgumentParser(prog="python -m server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    console = Console(highlight=False, soft_wrap=True)
    where = f"serving on http://{args.host}:{args.port}"
    app = create_app(Settings(), announce=lambda summary: console.print(f"{summary}\n{where}"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
