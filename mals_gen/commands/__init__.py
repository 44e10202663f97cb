"""One module per `mals` command; each exposes `register(app: typer.Typer)`."""
