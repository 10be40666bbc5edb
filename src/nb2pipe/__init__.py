"""nb2pipe: notebook cells become a cached, exportable pipeline.

``%load_ext nb2pipe`` in a Jupyter kernel registers the magics (``%%step``,
``%%setup``, ``%%params``, ``%dag``) and the ``nb2pipe`` comm.  The engine core
(:mod:`nb2pipe.engine`) does not import IPython.
"""
__version__ = "0.1.0"


def load_ipython_extension(ip):  # pragma: no cover - exercised through real kernels
    from .magics import load
    load(ip)


def unload_ipython_extension(ip):  # pragma: no cover
    from .magics import unload
    unload(ip)
