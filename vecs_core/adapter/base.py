"""``vecs_core.adapter.base``: the adapter pipeline and its step interface (a vecs module path).

Everything here is also exported by :mod:`vecs_core.adapter`.
"""

from ._base import Adapter, AdapterContext, AdapterStep

__all__ = ["Adapter", "AdapterContext", "AdapterStep"]
