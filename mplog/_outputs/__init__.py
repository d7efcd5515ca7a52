"""Where records end up, inside the listener.

::

    destinations.Destination     a picklable description (file, handlers, dictConfig) that
        |                        builds, wherever the listener runs, a
        v
    router.Router                records by logger name and level (propagate, filters),
        |                        runs of finished lines appended in one write per handler;
        |                        plan.build_plan: the line plan of its handlers, sent to
        |                        the processes, which then ship lines tagged per handler
        v
    handlers                     FileHandler, rotation.RotatingHandler (schedule.Rotation:
                                 when to rotate, what to keep; compress: background codecs),
                                 jsonlines.JsonFormatter, or the user's own
"""
