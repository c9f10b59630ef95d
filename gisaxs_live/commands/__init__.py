"""One module per ``gisaxs-live`` subcommand: ``register(subparsers)`` adds its parser, whose ``func``
default runs it and returns the exit status. Heavy imports stay inside ``run`` so ``--help`` is instant."""
