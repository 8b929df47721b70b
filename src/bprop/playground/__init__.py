"""``bprop playground``: a local page that steps backpropagation on the real engine and shows every number
(server, one session per tab, the protocol, the static page). Needs the ``live`` extra.
May import: nn, training, insight, files."""
