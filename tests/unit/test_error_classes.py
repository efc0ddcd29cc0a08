"""The named problems: each class carries its status and code, and a route's declared classes reach its schema."""

from __future__ import annotations

import re
from pathlib import Path

from litestar.handlers import HTTPRouteHandler

from app.core.errors import AppError, InvalidState, declared_errors, problem_classes, raises
from app.main import create_app

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_problem_has_its_own_code_and_an_error_status():
    classes = problem_classes()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)), codes
    for cls in classes:
        assert issubclass(cls, AppError)
        assert 400 <= cls.status <= 599, cls
        assert re.fullmatch(r"[a-z_]+", cls.code), cls


def test_an_instance_answers_with_its_class_status_and_code():
    error = InvalidState("Invoice INV-0001 is paid; only drafts can be edited")
    assert (error.status, error.code, error.detail) == (409, "invalid_state", str(error))


def test_the_readme_error_table_lists_every_code_under_its_status():
    table = {}
    for statuses, cells in re.findall(r"^\| (\d{3}(?: / \d{3})*) \| (.+) \|$", README.read_text(), re.M):
        # "| 502 / 503 | `a` / `b`, `c` |": each status has its own share of the codes
        for status, codes in zip(statuses.split(" / "), cells.split(" / "), strict=True):
            table.setdefault(int(status), set()).update(re.findall(r"`([a-z_]+)`", codes))
    for cls in problem_classes():
        assert cls.code in table.get(cls.status, set()), f"{cls.__name__}: {cls.status} {cls.code}"


def test_a_handler_declares_its_problems_and_the_schema_lists_their_statuses():
    app = create_app()
    schema = app.openapi_schema.to_schema()
    declared = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            if not isinstance(handler, HTTPRouteHandler) or path not in schema["paths"]:
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                responses = schema["paths"][path][method.lower()]["responses"]
                for error in declared_errors(handler.opt):
                    declared += 1
                    assert str(error.status) in responses, (path, method, error.__name__)
    assert declared > 20  # every area declares what its writes refuse


def test_raises_round_trips_through_a_handler_opt():
    assert declared_errors(raises(InvalidState)) == (InvalidState,)
    assert declared_errors({}) == ()
