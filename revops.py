#!/usr/bin/env python3
"""The plugin's entry point where CLN's ``reckless`` looks for one: a
Python plugin's directory holds ``<name>.py`` beside ``requirements.txt``.

reckless replaces this file with a wrapper that runs ``python -m revops``
in the virtualenv it made; run directly from a checkout, it starts the
same plugin (``revops-plugin``) with whatever Python runs it.
"""

from revops.plugin import main

if __name__ == "__main__":
    main()
