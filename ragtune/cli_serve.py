def serve() -> None:
    raise NotImplementedError
