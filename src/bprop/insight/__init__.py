"""Looking at a network or a run without changing it: gradcheck, Trace, findings, and explain (one real
step of the real engine, recorded).
May import: nn, training."""
