"""Sub-commands of the ``fireassay`` CLI (one module each, registered in ``loop.cli``)."""
