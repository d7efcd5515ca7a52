"""Where records end up, inside the listener: routing by logger, destinations, rotation,
compression, JSON lines.
"""
