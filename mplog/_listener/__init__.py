"""The listener side: the one loop that reads every process's stream, and its supervisor.

::

    supervisor.Listener (in main)  --control connection: STOP, STATS, LEVELS-->  loop
        |  runner: starts the loop in a thread of main or in a process of its own
        v
    loop.ListenerLoop              selectors: accept -> read each stream ->
        |                          mplog._frames.FrameReader -> runs of lines, records
        |  peers.Peer: one per process (its stream, counts, what stop() left unread)
        |  deaths.Deaths: a stream that ends without goodbye (exitstatus: how it ended)
        |  stopping.Stopping (owned by the loop): the drain after STOP, cut-offs
        |  gate.Gate (listen=): network senders prove the key (HMAC challenge), within
        |  limits; untrusted: their frames checked before marshal reads them;
        |  welcome.Welcome: the line plan sent to them, and the checks on their lines
        |  writing.Writer: lines appended, records routed, counted per process
        v
    mplog._outputs.Router          the real handlers, written by this loop only

See ``loop.py`` for the whole data flow, and why a stream per process, not a Queue.
"""
