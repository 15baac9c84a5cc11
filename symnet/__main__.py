"""``python -m symnet`` is the ``symnet`` command."""
from symnet.cli import main

raise SystemExit(main())
