"""The `deepwild` command: thin typer commands that parse, call the library once, and turn errors
into one clear line. Heavy imports (torch, matplotlib) happen inside commands, so `--help` is fast."""
