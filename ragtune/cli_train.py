import typer

train_app = typer.Typer(no_args_is_help=True)
data_app = typer.Typer(no_args_is_help=True)
adapters_app = typer.Typer(no_args_is_help=True)
