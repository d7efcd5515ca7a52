"""The logging side: what runs in every process that logs (main, pool workers, children).

Nothing here imports the listener or the outputs: a spawned worker loads only this side.
"""
