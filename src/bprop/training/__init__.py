"""The loop: the Trainer and ``fit``, batch sources, stopping rules, callbacks, History, checkpoints,
interrupts, splits, and the per-epoch diagnostics recorder.
May import: nn, files."""
