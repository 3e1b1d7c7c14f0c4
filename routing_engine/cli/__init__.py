"""The command line (typer): one module per command group, each adding its commands through its
`register`; `common` holds what the groups share, and `app` puts them together and holds `main`."""
