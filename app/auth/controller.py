from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from app.auth import password_reset, sessions, verification
from app.auth.cookies import cleared_cookies, cookie_csrf, device, signed_in_answer
from app.auth.errors import EmailTaken, TokenInvalid
from app.auth.models import Caller, User
from app.auth.schemas import (
    Accepted,
    ChangePasswordIn,
    DeviceSessionOut,
    DeviceSessionPage,
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    ProfileUpdate,
    RegisterIn,
    Session,
    UserOut,
    VerifyEmailIn,
)
from app.auth.service import AuthService
from app.auth.sessions import SORTS as SESSION_SORTS
from app.core import scopes
from app.core.errors import (
    Forbidden,
    InvalidReference,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    raises,
)
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.idempotency import never_replayed
from app.http.public import EXCLUDE_FROM_AUTH
from app.http.rate_limit import RATE_LIMITED
from app.http.tenancy import outside_organization, requires
from app.http.versioning import NAMES_THE_CALLER
from app.mail.errors import EmailUnavailable


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
    async def register(
        self, data: RegisterIn, service: AuthService, request: Request[Any, Any, Any], state: State
    ) -> Response[Session]:
        """Create an account and sign in: a bearer token, or with `"session": "cookie"` a session cookie; the
        address's verification e-mail is queued."""
        signed_in = await service.register(data, device(request, state, data.session))
        await verification.after_register(state.settings, signed_in.user.id)
        return signed_in_answer(signed_in, state.settings, HTTP_201_CREATED)

    @post(
        "/login",
        operation_id="login",
        status_code=HTTP_200_OK,
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **raises(Unauthorized)},  # wrong credentials
    )
    async def login(
        self, data: LoginIn, service: AuthService, request: Request[Any, Any, Any], state: State
    ) -> Response[Session]:
        """Exchange email and password for a session: a bearer token, or with `"session": "cookie"` a
        session cookie."""
        signed_in = await service.login(data, device(request, state, data.session))
        return signed_in_answer(signed_in, state.settings, HTTP_200_OK)

    @get(
        "/me",
        operation_id="getMe",
        opt={NAMES_THE_CALLER: True, **requires(Role.VIEWER, scope=scopes.NO_KEY)},
    )
    async def me(self, current_user: User, caller: Caller, state: State) -> UserOut:
        """The signed-in user, with the business profile of the organization the request acts in (and the
        CSRF token when a session cookie authenticated the request)."""
        assert caller.organization is not None
        return UserOut.of(current_user, caller.organization, cookie_csrf(caller, state.settings))

    @patch(
        "/me",
        operation_id="updateMe",
        opt={**requires(Role.VIEWER, scope=scopes.NO_KEY), **raises(Forbidden, InvalidReference)},
    )
    async def update_me(
        self,
        data: ProfileUpdate,
        current_user: User,
        caller: Caller,
        service: AuthService,
        expected: Expected,
    ) -> UserOut:
        """Change the name, the default organization, or (admins and owners) the organization's business
        profile."""
        return UserOut.of(*await service.update_profile(caller, data, expected))

    @post(
        "/change-password",
        operation_id="changePassword",
        status_code=HTTP_204_NO_CONTENT,
        # a wrong current password; too many of them. An auth state change always runs (API.md section 18).
        opt={**raises(ValidationFailed, RateLimited), **never_replayed(), **outside_organization()},
    )
    async def change_password(self, data: ChangePasswordIn, current_user: User, service: AuthService) -> None:
        """Set a new password; every token issued before stops working."""
        await service.change_password(current_user, data)

    @post(
        "/logout",
        operation_id="logout",
        status_code=HTTP_204_NO_CONTENT,
        opt={**never_replayed(), **outside_organization()},
    )
    async def logout(self, current_user: User, service: AuthService, state: State) -> Response[None]:
        """End every session of this user: every token issued so far stops working; the cookies are
        cleared."""
        await service.logout(current_user)
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=cleared_cookies(state.settings))

    @get(
        "/sessions",
        operation_id="listSessions",
        opt={**outside_organization(), **sorted_by(SESSION_SORTS, "-last_active_at", keyset=False)},
    )
    async def list_sessions(self, current_user: User, owner: Caller, page: PageParams) -> DeviceSessionPage:
        """The devices you are signed in on; `current` is the one asking."""
        found = await sessions.list_sessions(current_user, page)
        return found.map(
            lambda session: DeviceSessionOut.from_document(session, current=str(session.id) == owner.sid)
        )

    @delete(
        "/sessions/{session_id:str}",
        operation_id="endSession",
        opt={**outside_organization(), **raises(NotFound)},
    )
    async def end_session(self, session_id: str, current_user: User) -> None:
        """Sign that device out: its token is refused from its next request; the others keep working."""
        assert current_user.id is not None
        await sessions.end_session(current_user.id, session_id)

    @post(
        "/password-reset",
        operation_id="requestPasswordReset",
        status_code=HTTP_202_ACCEPTED,
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **raises(EmailUnavailable)},
    )
    async def request_password_reset(self, data: PasswordResetIn, state: State) -> Accepted:
        """E-mail a one-time link to choose a new password (30 minutes). The same answer for every address,
        known or not; at most three e-mails an hour per address."""
        await password_reset.request_reset(state.settings, data.email)
        return Accepted()

    @post(
        "/password-reset/confirm",
        operation_id="confirmPasswordReset",
        status_code=HTTP_204_NO_CONTENT,
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **never_replayed(), **raises(TokenInvalid)},
    )
    async def confirm_password_reset(self, data: PasswordResetConfirmIn, state: State) -> None:
        """Set a new password with the e-mailed token (once); every session of the account ends."""
        await password_reset.confirm(state.hasher, data)

    @post(
        "/verify-email",
        operation_id="verifyEmail",
        status_code=HTTP_204_NO_CONTENT,
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **never_replayed(), **raises(TokenInvalid)},
    )
    async def verify_email(self, data: VerifyEmailIn) -> None:
        """Mark the address verified with the e-mailed token (once, within 48 hours)."""
        await verification.verify(data.token)

    @post(
        "/verify-email/resend",
        operation_id="resendVerificationEmail",
        status_code=HTTP_202_ACCEPTED,
        opt={**outside_organization(), **raises(EmailUnavailable, RateLimited)},
    )
    async def resend_verification_email(self, current_user: User, state: State) -> Accepted:
        """E-mail a new verification link (the older one stops working); at most one a minute."""
        await verification.resend(state.settings, current_user.id)
        return Accepted()
