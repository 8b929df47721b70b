"""``python -m bprop.cli``: the same as the ``bprop`` command (whose entry point is ``_bprop_entry``)."""

from _bprop_entry import main

raise SystemExit(main())
