from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.auth.errors import EmailTaken
from app.auth.models import User
from app.auth.schemas import ChangePasswordIn, LoginIn, ProfileUpdate, RegisterIn, Session, UserOut
from app.auth.service import AuthService
from app.core.errors import RateLimited, Unauthorized, ValidationFailed, raises
from app.db.versions import Expected
from app.http.idempotency import never_replayed
from app.http.public import EXCLUDE_FROM_AUTH
from app.http.rate_limit import RATE_LIMITED
from app.http.versioning import NAMES_THE_CALLER


def provide_auth_service(state: State) -> AuthService:
    return AuthService(state.hasher, state.tokens)


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]
    dependencies = {"service": Provide(provide_auth_service, sync_to_thread=False)}

    @post(
        "/register",
        operation_id="register",
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **raises(EmailTaken)},
    )
    async def register(self, data: RegisterIn, service: AuthService) -> Session:
        """Create an account and return a session token."""
        return Session.issued(*await service.register(data))

    @post(
        "/login",
        operation_id="login",
        status_code=HTTP_200_OK,
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **raises(Unauthorized)},  # wrong credentials
    )
    async def login(self, data: LoginIn, service: AuthService) -> Session:
        """Exchange email and password for a session token."""
        return Session.issued(*await service.login(data))

    @get("/me", operation_id="getMe", opt={NAMES_THE_CALLER: True})
    async def me(self, current_user: User) -> UserOut:
        """The signed-in user."""
        return UserOut.from_document(current_user)

    @patch("/me", operation_id="updateMe")
    async def update_me(
        self, data: ProfileUpdate, current_user: User, service: AuthService, expected: Expected
    ) -> UserOut:
        """Change the name or the business profile."""
        return UserOut.from_document(await service.update_profile(current_user, data, expected))

    @post(
        "/change-password",
        operation_id="changePassword",
        status_code=HTTP_204_NO_CONTENT,
        # a wrong current password; too many of them. An auth state change always runs (API.md section 18).
        opt={**raises(ValidationFailed, RateLimited), **never_replayed()},
    )
    async def change_password(self, data: ChangePasswordIn, current_user: User, service: AuthService) -> None:
        """Set a new password; every token issued before stops working."""
        await service.change_password(current_user, data)

    @post("/logout", operation_id="logout", status_code=HTTP_204_NO_CONTENT, opt=never_replayed())
    async def logout(self, current_user: User, service: AuthService) -> None:
        """Revoke every token issued to this user so far."""
        await service.logout(current_user)
