from tests.matrix import PUBLIC, READ, Endpoint, expect

ENDPOINTS = [
    Endpoint("GET", "health", PUBLIC),
    Endpoint("GET", "schema", PUBLIC),
    Endpoint("GET", "swagger-ui", PUBLIC),
    Endpoint("GET", "redoc", PUBLIC),
    Endpoint("GET", "system:gpus", READ),
    Endpoint("GET", "system:info", expect(401, 403, 200, 200)),
]
