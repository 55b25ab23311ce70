"""revops-sim's startup hook for plugins run with ``--plugin-time sim``.

``revops-sim`` puts this directory first on the plugin's ``PYTHONPATH``, so
Python imports this file at startup (see the ``site`` module). It installs
the plugin-time shim (``_revops_plugin_time.py`` beside it) when the sim
asked for it, then hands over to the ``sitecustomize`` this one shadows
(a distribution's own, or a virtualenv's), if there is one.
"""

import os as _os
import sys as _sys


def _chain() -> None:
    here = _os.path.dirname(_os.path.abspath(__file__))
    mine = _sys.modules.pop("sitecustomize", None)
    saved = list(_sys.path)
    _sys.path[:] = [p for p in _sys.path
                    if _os.path.abspath(p or _os.curdir) != here]
    try:
        import sitecustomize  # noqa: F401  (the next one on the path, if any)
    except ImportError as e:
        if e.name != "sitecustomize":
            raise
        if mine is not None:
            _sys.modules["sitecustomize"] = mine
    finally:
        _sys.path[:] = saved


def _install() -> None:
    if "REVOPS_PLUGIN_TIME" not in _os.environ:
        return
    import _revops_plugin_time

    _revops_plugin_time.install()


_install()
_chain()
