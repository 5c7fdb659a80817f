"""What every route module of the service shares: the caller's token and the error table of
the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from entityscan.service.models import ErrorBody
from entityscan.store.tokens import TokenInfo

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not parseable JSON"},
    401: {"model": ErrorBody, "description": "missing, unknown or revoked bearer token"},
    403: {"model": ErrorBody, "description": "the token's scopes do not allow this"},
    413: {"model": ErrorBody, "description": "request body over the size limit"},
    422: {"model": ErrorBody, "description": "the body or a parameter is invalid"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**ERRORS, 404: {"model": ErrorBody}}
Scheme = Annotated[HTTPAuthorizationCredentials | None,
                   Depends(HTTPBearer(auto_error=False, description="entityscan API token"))]


def caller(request: Request, _credentials: Scheme) -> TokenInfo:
    """The token the `Authenticate` layer checked (the scheme dependency documents it)."""
    token = getattr(request.state, "token", None)
    if not isinstance(token, TokenInfo):  # unreachable behind Authenticate; never let through
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token


Caller = Annotated[TokenInfo, Depends(caller)]
