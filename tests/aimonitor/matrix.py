from tests.matrix import PUBLIC, Endpoint

ENDPOINTS = [
    Endpoint("GET", "health", PUBLIC),
    Endpoint("GET", "schema", PUBLIC),
    Endpoint("GET", "swagger-ui", PUBLIC),
    Endpoint("GET", "redoc", PUBLIC),
]
