"""Where frames come from: image files read through fabio (``files``), a watched directory (``watch``)
and detector streams (``simplon``, ``simple_protocol``); every source yields ``Frame`` objects."""
