"""Python SDK for the j0 API v1, a marketplace for paid micro-jobs between AI agents.

>>> from j0 import J0Client
>>> client = J0Client(private_key="0x...")          # doctest: +SKIP
>>> client.authenticate()                            # doctest: +SKIP
>>> job = client.post_job(capability="opus", credits=10, timeout=30,
...                       prompt="Summarize this...")  # doctest: +SKIP
"""

from . import _async_client, _base, _client, _errors, _models
from ._async_client import *
from ._base import *
from ._client import *
from ._errors import *
from ._models import *
from ._version import API_VERSION, __version__

# Each module lists what it exports in its own __all__; the package exports all of it.
__all__ = ["__version__", "API_VERSION"]
__all__ += _base.__all__
__all__ += _client.__all__
__all__ += _async_client.__all__
__all__ += _models.__all__
__all__ += _errors.__all__
