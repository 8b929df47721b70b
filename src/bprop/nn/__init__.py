"""The engine: activations, losses, initialisers, layers, the network, optimisers, schedules and the
BLAS binding — everything of one training step, vectorised over the batch. Read this package first.
May import: numpy only (nothing else of bprop)."""
