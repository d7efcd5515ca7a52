"""The ``python -m mplog`` command line: parse the arguments and run the chosen command."""

from __future__ import annotations

import argparse
import sys

from mplog import _demo, _serve


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m mplog`` and its commands."""
    parser = argparse.ArgumentParser(
        prog="python -m mplog",
        description="Safe, lossless logging from process pools into one destination.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="log from a process pool and check that every record arrived exactly once",
        description=(
            "Run a real mplog.ProcessPoolExecutor whose tasks log numbered records, then read "
            "the log file back and check every record is there exactly once, intact and in "
            "order. Exit status 1 if anything was lost or damaged."
        ),
    )
    _demo.add_arguments(demo)
    demo.set_defaults(run=_demo.main)
    serve = commands.add_parser(
        "serve",
        help="a standalone listener that programs of this and other hosts log into",
        description=(
            "Listen on --listen for senders (mplog.connect) that prove they hold the shared "
            "key, optionally over TLS, and write their records to --file or as --config says. "
            "SIGINT/SIGTERM drain and stop (exit 0); SIGHUP reopens the files."
        ),
    )
    _serve.add_arguments(serve)
    serve.set_defaults(run=_serve.main, parser=serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m mplog``; with no command, print the usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
