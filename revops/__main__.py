"""``python -m revops``: the plugin, as ``revops-plugin`` (how CLN's
``reckless`` starts an installed Python plugin)."""

from revops.plugin import main

main()
