"""The logging side: what runs in every process that logs (main, pool workers, children).

::

    logger.info(...) in any thread
        |  logging's own machinery: levels (set by main, changed live by levels.py)
        v
    handler.ShippingHandler            one per process, installed by configure_worker
        |  context.stamp: worker index, task (tasks.py), context() fields
        |  formatting.LineFormatter: a finished line when the destination takes lines,
        |  lines.PlanLines: with a line plan (JSON, handlers=, dictConfig), the line of each
        |    handler the record reaches, tagged with that handler (a _protocol.Shipment: on a
        |    pipe, Stream.send_shipment writes a record of one line as a plain line),
        |  else mplog._protocol.record_body: the record as plain data (nothing to unpickle)
        v
    connection.Stream                  this process's own pipe (Unix socket listener) or
        |                              socket (TCP); bounded by the kernel: on_full policy
        |  over TCP, reconnect.ResilientStream: every frame also kept in a spool.Spool
        |  (bounded; a file with spool_dir) until the listener acknowledges it; a thread
        |  reads the acknowledgements and reconnects, sending the spool again first;
        |  the listener's welcome (its line format or plan, as data: mplog._plaindata)
        |  becomes the handler's config, so a network sender ships lines too
        v
    ... the listener side (mplog._listener) reads it

Nothing here imports the listener or the outputs (``tests/test_layout.py`` checks it): a
spawned worker unpickles its initializer from ``initializer.py`` and loads only this side,
``mplog._protocol``, ``mplog._settings`` and ``mplog._lineplan`` (and, only under a plan with a
JSON handler, ``mplog._outputs.jsonlines``, imported when the plan is applied); nor
``typing``, ``dataclasses`` or any other standard-library module its pool does not load
anyway (checked too), since every spawned worker pays its imports when it starts.
"""
