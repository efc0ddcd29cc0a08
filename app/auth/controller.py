from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from app.auth import password_reset, verification
from app.auth.errors import EmailTaken, TokenInvalid
from app.auth.models import Caller, User
from app.auth.schemas import (
    Accepted,
    ChangePasswordIn,
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
from app.core.errors import Forbidden, InvalidReference, RateLimited, Unauthorized, ValidationFailed, raises
from app.core.roles import Role
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
    async def register(self, data: RegisterIn, service: AuthService, state: State) -> Session:
        """Create an account and return a session token; the address's verification e-mail is queued."""
        user, organization, token = await service.register(data)
        await verification.after_register(state.settings, user.id)
        return Session.issued(user, organization, token)

    @post(
        "/login",
        operation_id="login",
        status_code=HTTP_200_OK,
        opt={EXCLUDE_FROM_AUTH: True, RATE_LIMITED: True, **raises(Unauthorized)},  # wrong credentials
    )
    async def login(self, data: LoginIn, service: AuthService) -> Session:
        """Exchange email and password for a session token."""
        return Session.issued(*await service.login(data))

    @get("/me", operation_id="getMe", opt={NAMES_THE_CALLER: True, **requires(Role.VIEWER)})
    async def me(self, current_user: User, caller: Caller) -> UserOut:
        """The signed-in user, with the business profile of the organization the request acts in."""
        assert caller.organization is not None
        return UserOut.of(current_user, caller.organization)

    @patch(
        "/me", operation_id="updateMe", opt={**requires(Role.VIEWER), **raises(Forbidden, InvalidReference)}
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
    async def logout(self, current_user: User, service: AuthService) -> None:
        """Revoke every token issued to this user so far."""
        await service.logout(current_user)

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
