"""``nb2pipe export``: compile a notebook's pipeline cells into an installable,
versioned, tested Python package.  Deterministic: the same notebook and store
give byte-identical files."""
from .package import export

__all__ = ["export"]
