"""The route-handler `opt` key of the routes that take no credentials (register, login): the authentication
middleware lets them through and the OpenAPI document marks them public."""

EXCLUDE_FROM_AUTH = "exclude_from_auth"
