"""Config files for setup_listener(config=path): TOML and JSON dictConfig, clear errors."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

import mplog
from mplog._outputs.destinations import load_config_file

TOML = """
version = 1
[formatters.plain]
format = "{levelname} {name} {message}"
style = "{"
[handlers.app]
class = "logging.FileHandler"
filename = "{app}"
formatter = "plain"
[handlers.foo]
class = "logging.FileHandler"
filename = "{foo}"
formatter = "plain"
[loggers.foo]
handlers = ["foo"]
propagate = false
level = "DEBUG"
[root]
handlers = ["app"]
level = "INFO"
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_toml_config_routes_per_logger(tmp_path: Path, mode: str) -> None:
    """A TOML dictConfig routes the foo logger to its own file with '{' style formatting."""
    app, foo = tmp_path / "app.log", tmp_path / "foo.log"
    path = tmp_path / "logging.toml"
    path.write_text(
        TOML.replace('"{app}"', json.dumps(str(app))).replace('"{foo}"', json.dumps(str(foo)))
    )
    with mplog.setup_listener(config=path, mode=mode):
        logging.getLogger("foo.bar").debug("to foo")
        logging.getLogger("other").info("to app")
        logging.getLogger("other").debug("filtered")
    assert foo.read_text().splitlines() == ["DEBUG foo.bar to foo"]
    assert app.read_text().splitlines() == ["INFO other to app"]


def test_json_config_file(tmp_path: Path) -> None:
    """A JSON file holding a dictConfig works like the dict."""
    out = tmp_path / "out.log"
    path = tmp_path / "logging.json"
    config = {
        "version": 1,
        "handlers": {"f": {"class": "logging.FileHandler", "filename": str(out)}},
        "root": {"handlers": ["f"], "level": "INFO"},
    }
    path.write_text(json.dumps(config))
    with mplog.setup_listener(config=str(path)):
        logging.getLogger("x").info("hello")
    assert out.read_text() == "hello\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("logging.yaml", "version: 1", "use a .toml or .json file"),
        ("bad.json", "{not json", "is not valid"),
        ("list.json", "[1, 2]", "must hold a table/object"),
    ],
)
def test_bad_config_files_give_clear_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    """Unsupported suffixes, invalid syntax and a non-mapping top level are named clearly."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_config_file(path)
