"""Scale-out on Dask (``dask.distributed``): the only package that imports dask, and only when a command
that needs it runs. ``inputs``: archive paths → the sorted list of files; ``tasks``: what a worker does;
``reprocess``: the client that schedules tasks and writes the CSV in order."""
