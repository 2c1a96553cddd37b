"""Request and response bodies of the JSON API, and the OpenAPI document built from them.

Requests are validated once, straight from the body bytes (``model_validate_json``);
responses are plain dicts from the engine, encoded with orjson. The response models here
document those dicts (a unit test checks the engine's output against them), so the
OpenAPI document says what is actually sent: nullable fields are nullable, and every
error is ``{"error": str, "detail": list | null}`` (400, 404, 413, 415).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from recsys.availability.provider import DEFAULT_REGION
from recsys.data.schema import ID_MAX

MAX_K = 100
MAX_LIKED_ITEMS = 1_000
MAX_PLATFORMS = 20



def _integral(value: Any) -> Any:
    """``5.0`` is the integer 5 (JSON Schema's ``integer`` admits it); ``5.5``, ``"5"`` and
    ``true`` stay wrong (the strict check after this refuses them)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


Integral = BeforeValidator(_integral)
#: Ids are non-negative and JSON-safe integers (larger ones would overflow int64 look-ups).
UserId = Annotated[int, Field(strict=True, ge=0, le=ID_MAX, description="MovieLens user id"),
                   Integral]
ItemId = Annotated[int, Field(strict=True, ge=0, le=ID_MAX, description="MovieLens movie id"),
                   Integral]
TopK = Annotated[int, Field(strict=True, ge=1, le=MAX_K, description=f"1..{MAX_K}"), Integral]
StrictFlag = Annotated[bool, Field(strict=True)]
#: Printable platform names only: a control character would be echoed into responses,
#: notes and logs.
PlatformName = Annotated[str, Field(min_length=1, max_length=64,
                                    pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
Platforms = Annotated[
    list[PlatformName] | None,
    Field(min_length=1, max_length=MAX_PLATFORMS,
          description="only movies streamable on these platforms, e.g. ['netflix', 'hulu']"),
]
Region = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO-3166-1 alpha-2 code")]
LikedItems = Annotated[list[ItemId],
                       Field(max_length=MAX_LIKED_ITEMS, description="movies the visitor likes")]


class _Request(BaseModel):
    """A request body: an unknown field is a 400 naming it, never silently ignored (a typo
    such as ``platform`` for ``platforms`` would otherwise switch the filter off)."""

    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Request):
    user_id: UserId
    k: TopK = 10
    exclude_seen: StrictFlag = True
    platforms: Platforms = None
    region: Region = DEFAULT_REGION


class NewUserRequest(_Request):
    liked_item_ids: LikedItems
    k: TopK = 10
    platforms: Platforms = None
    region: Region = DEFAULT_REGION


class SimilarItemsRequest(_Request):
    item_id: ItemId
    k: TopK = 10


class PredictRatingRequest(_Request):
    user_id: UserId
    item_id: ItemId


class Offer(BaseModel):
    platform: str
    region: str
    offer_type: str
    source: str | None
    link: str | None


class Reason(BaseModel):
    item_id: int
    title: str | None


class Movie(BaseModel):
    item_id: int
    title: str | None
    year: int | None
    score: float | None
    rank: int
    availability: list[Offer] | None
    because: list[Reason] | None = Field(
        None, max_length=3,
        description="up to 3 movies of the user's history (or liked_item_ids) that "
                    "contributed most to this movie's score")


class Recommendations(BaseModel):
    user_id: int | None = None
    k: int
    region: str
    platforms: list[str] | None = None
    items: list[Movie]
    cold_start: bool
    note: str | None = None
    model_version: str
    availability_hint: str | None = None
    attribution: str | None = None


class NewUserRecommendations(Recommendations):
    unknown_item_ids: list[int]
    fallback: bool


class SimilarItems(BaseModel):
    item_id: int
    title: str | None
    year: int | None
    k: int
    region: str
    items: list[Movie]
    cold_start: bool | None = None
    note: str | None = None
    model_version: str
    availability_hint: str | None = None
    attribution: str | None = None


class RatingPrediction(BaseModel):
    user_id: int
    item_id: int
    title: str | None
    year: int | None
    rating: float | None
    score: float | None
    is_rating: bool
    cold_start: bool
    model_version: str


class Problem(BaseModel):
    """One validation problem (pydantic's error list, without the input)."""

    type: str
    loc: list[str | int]
    msg: str
    url: str | None = None


class ErrorBody(BaseModel):
    error: str = Field(description="what is wrong, readable")
    detail: list[Problem] | None = Field(description="validation problems (400), else null")


def openapi_document(routes: dict[str, tuple[str, type[BaseModel], type[BaseModel], str]],
                     version: str, platforms: list[str] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API.

    Args:
        routes: path -> (operation name, request model, response model, summary).
        version: the API's version string.
        platforms: the platform names a request may filter on, when the service knows
            them all (a catalogue); other names are a 400.
    """

    models: list[type[BaseModel]] = [ErrorBody]
    for _, request, response, _ in routes.values():
        models += [request, response]
    _, schemas = models_json_schema([(m, "validation" if m.__name__.endswith("Request")
                                      else "serialization") for m in dict.fromkeys(models)],
                                    ref_template="#/components/schemas/{model}")

    def ref(model: type[BaseModel]) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": ref(ErrorBody)}}}

    paths: dict[str, Any] = {}
    for path, (name, request, response, summary) in routes.items():
        responses = {
            "200": {"description": "OK", "content": {"application/json": {"schema": ref(response)}}},
            "400": error("invalid JSON, a field out of range or of the wrong type, an unknown "
                         "field or platform"),
            "413": error("request body larger than the limit"),
            "415": error("content type other than application/json"),
        }
        if "item_id" in request.model_fields:
            responses["404"] = error("unknown item_id")
        paths[path] = {"post": {
            "operationId": name, "summary": summary,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref(request)}}},
            "responses": responses,
        }}
    if platforms is not None:
        for schema in schemas.get("$defs", {}).values():
            field = schema.get("properties", {}).get("platforms")
            for option in (field or {}).get("anyOf", ()):
                if option.get("type") == "array":
                    option["items"] = {"type": "string", "enum": sorted(platforms)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "movierec", "version": version,
                 "description": "Movie recommendations with titles, streaming availability "
                                "and explanations."},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }
