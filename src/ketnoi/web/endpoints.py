"""Endpoints made at run time by route factories (the PBX object API, the video-call partner
configuration): FastAPI reads an endpoint's parameters from its signature, so a factory builds the
signature from ``inspect.Parameter`` objects."""

import inspect
from collections.abc import Callable
from typing import Any


def param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """A keyword parameter of a made endpoint (``annotation`` as FastAPI reads it: a type, an
    ``Annotated[…]`` dependency or query)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def endpoint(name: str, params: list[inspect.Parameter], run: Callable[..., Any]) -> Callable[..., Any]:
    """A plain (threadpool) endpoint named ``name`` (its OpenAPI operation id) that calls ``run``
    with ``params`` as keywords."""

    def made(**kw: Any) -> Any:
        return run(**kw)

    made.__name__ = made.__qualname__ = name
    made.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return made
