"""``python -m mpe_teach ...``: the same as the ``mpe-teach`` command (see mpe_teach.cli)."""
from .cli import main

raise SystemExit(main())
