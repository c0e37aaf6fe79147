"""``vecs_core.client``: the clients (the module path vecs has for ``Client``).

Everything here is also exported by :mod:`vecs_core`.
"""

from ._async_client import AsyncClient, create_async_client
from ._sync_client import Client, create_client

__all__ = ["AsyncClient", "Client", "create_async_client", "create_client"]
