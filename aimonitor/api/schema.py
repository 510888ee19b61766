"""OpenAPI helpers: the shared error shape as a documented response."""
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "code": serializers.CharField(help_text="Stable machine-readable error code."),
        "detail": serializers.CharField(help_text="Human-readable message."),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                        help_text="Field name -> messages."),
    },
)

_DESCRIPTIONS = {
    400: ("invalid", "Invalid input."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "Your role does not allow this action."),
    404: ("not_found", "Not found."),
    409: ("conflict", "The object is in use."),
    413: ("payload_too_large", "The uploaded file is too large."),
    415: ("unsupported_media_type", "Unsupported media type."),
    422: ("unprocessable", "The request cannot be carried out here."),
    429: ("throttled", "Request was throttled."),
    503: ("service_unavailable", "A service this request needs is unavailable."),
}


def ERROR_RESPONSES(*codes: int) -> dict:  # noqa: N802 - reads like a constant at call sites
    """``{status: OpenApiResponse}`` in the shared error shape, for ``extend_schema(responses=...)``."""
    result = {}
    for code in codes:
        err_code, detail = _DESCRIPTIONS[code]
        result[code] = OpenApiResponse(
            response=ErrorSerializer, description=detail,
            examples=[OpenApiExample(err_code, value={"code": err_code, "detail": detail, "errors": {}},
                                     status_codes=[str(code)], response_only=True)],
        )
    return result


# For endpoints anyone may call (login, register, health): the bearer scheme is listed as optional
# (``{}`` = no credentials), so every operation in the schema names the bearer-auth scheme and
# generated clients attach the token uniformly; these endpoints ignore it.
PUBLIC_AUTH = [{"jwtAuth": []}, {}]
