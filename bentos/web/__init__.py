"""The viewer page of the service (``GET /``) and the read-only catalogue endpoints it uses.

``pages_app(current_engine)`` is mounted by the service after its JSON API:

* ``GET /``: the page (``bentos/web/static/index.html``), its files under ``/web/``;
* ``GET /items/search?q=&limit=10``: type-ahead over the catalogue's titles;
* ``GET /items/popular?per_genre=8&genres=12``: the most-rated movies of each genre;
* ``GET /items/info?ids=1,2,3``: title, year and genres of given movies;
* ``GET /viewer/options``: platforms, regions and attribution of the availability data.

Everything is bundled (no CDN, no web fonts): the page works with the machine offline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Mount, Route

from recsys.data.catalogue import MAX_RESULTS, Catalogue

STATIC = Path(__file__).resolve().parent / "static"
MAX_INFO_IDS = 100

_lock = threading.Lock()
_catalogues: dict[int, Catalogue] = {}


def catalogue_of(engine: Any) -> Catalogue:
    """The catalogue of the engine's model and items table (built once per served model)."""
    served = engine.served
    with _lock:
        cached = _catalogues.get(id(served))
        if cached is not None:
            return cached
        if engine.items is None:
            raise HTTPException(503, "no items table: the catalogue cannot be searched")
        recommender = served.info.recommender
        ids = np.asarray(recommender.items_.ids, dtype=np.int64)
        raters = np.diff(recommender.seen_.tocsc().indptr)
        popularity = pd.Series(raters, index=ids)
        catalogue = Catalogue(engine.items, popularity, known=ids.tolist())
        _catalogues.clear()
        _catalogues[id(served)] = catalogue
        return catalogue


def pages_app(current_engine: Callable[[], Any]) -> FastAPI:
    """The viewer page, its static files and the catalogue endpoints, as an app the service
    mounts after its JSON API; ``current_engine`` gives the engine serving now (``None``
    while the model loads), so a hot model swap reaches the page too."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def _engine() -> Any:
        engine = current_engine()
        if engine is None:
            raise HTTPException(503, "the service is starting: no model loaded yet")
        return engine

    app.mount("/web", StaticFiles(directory=STATIC), name="web")

    @app.get("/", include_in_schema=False)
    def viewer() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/items/search")
    def search_items(q: str = Query("", max_length=200),
                     limit: int = Query(10, ge=1, le=MAX_RESULTS)) -> dict[str, Any]:
        found = catalogue_of(_engine()).search(q, limit)
        return {"query": q, "items": [entry.as_dict() for entry in found]}

    @app.get("/items/popular")
    def popular_items(per_genre: int = Query(8, ge=1, le=MAX_RESULTS),
                      genres: int = Query(12, ge=1, le=100)) -> dict[str, Any]:
        shelves = catalogue_of(_engine()).popular_by_genre(per_genre, max_genres=genres)
        return {"genres": [{"genre": genre, "items": [e.as_dict() for e in entries]}
                           for genre, entries in shelves.items()]}

    @app.get("/viewer/options")
    def viewer_options() -> dict[str, Any]:
        engine = _engine()
        provider = engine.availability
        return {
            "model_version": engine.model.version,
            "default_region": engine.default_region,
            "platforms": sorted(provider.platforms()) if provider is not None else [],
            "regions": provider.regions() if provider is not None else None,
            "attribution": getattr(provider, "attribution", None),
            "availability_hint": engine.hint,
        }

    @app.get("/items/info")
    def item_info(ids: str = Query(..., max_length=2000)) -> dict[str, Any]:
        try:
            wanted = [int(part) for part in ids.split(",") if part.strip()]
        except ValueError:
            raise HTTPException(400, f"ids must be comma-separated integers, got {ids!r}") from None
        if len(wanted) > MAX_INFO_IDS:
            raise HTTPException(400, f"at most {MAX_INFO_IDS} ids per request, got {len(wanted)}")
        return {"items": [e.as_dict() for e in catalogue_of(_engine()).describe(wanted)]}
    return app


def page_routes(current_engine: Callable[[], Any]) -> list[BaseRoute]:
    """``pages_app``'s paths as routes the service appends after its JSON API: one exact
    route per page path (so a wrong method on an API path still gets the API's 405, as a
    mount at ``/`` would turn it into a 404) and the static files under ``/web``."""
    app = pages_app(current_engine)
    paths = [route.path for route in app.routes if isinstance(route, APIRoute)]
    return [*(Route(path, endpoint=app) for path in paths),
            Mount("/web", app=StaticFiles(directory=STATIC), name="web")]
