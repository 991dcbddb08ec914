"""`python -m cli ...` is `vmo ...` (how `vmo serve` starts its worker with the same interpreter)."""

from cli.main import main

main()
