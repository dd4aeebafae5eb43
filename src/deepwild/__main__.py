"""`python -m deepwild ...` (and `torchrun -m deepwild train ...`) runs the CLI."""

from deepwild.cli.main import main

if __name__ == "__main__":
    main()
