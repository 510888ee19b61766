"""Users, roles, JWT authentication and the role-based permissions every app reuses."""
