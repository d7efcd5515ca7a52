"""Public output classes, for ``handlers=``, dictConfig (``"class": "mplog.handlers.X"`` or
``"()"``) and plain ``logging``.

* :class:`RotatingHandler`: a file rotated by size and/or time, with retention and background
  compression, safe because the mplog listener is its only writer.
* :class:`JsonFormatter`: one JSON object per line, valid for any record.
* :class:`Codec`: a custom compression for ``RotatingHandler(compress=...)``.
"""

from mplog._outputs.compress import Codec
from mplog._outputs.jsonlines import JsonFormatter
from mplog._outputs.rotation import RotatingHandler
from mplog._outputs.schedule import parse_size

__all__ = ["Codec", "JsonFormatter", "RotatingHandler", "parse_size"]
