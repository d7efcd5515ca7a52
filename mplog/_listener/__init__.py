"""The listener side: the loop that reads every process's stream, where it runs, and the
supervisor in main that starts, asks and stops it.
"""
