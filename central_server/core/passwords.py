"""Password hashing with argon2id (argon2-cffi); parameters come from Settings and live in each hash."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from .config import Settings

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
MIN_ADMIN_PASSWORD_LENGTH = 12
ADMIN_ROLES = ("province_admin", "school_admin")
# zxcvbn's list of the 30,000 most common passwords from breach corpora (packaged, no network lookup).
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


class WeakPasswordError(ValueError):
    pass


def configure(settings: Settings) -> None:
    global _hasher
    _hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                             parallelism=settings.argon2_parallelism)


def check_policy(password: str, role: str, username: str = "") -> None:
    """Refuse a password a guesser would try early: too short (12 for admins), one of the common breached
    passwords, containing the username, or (for admins) weak by zxcvbn's estimate. Raises WeakPasswordError
    with a Vietnamese reason."""
    minimum = MIN_ADMIN_PASSWORD_LENGTH if role in ADMIN_ROLES else MIN_PASSWORD_LENGTH
    if len(password) < minimum:
        raise WeakPasswordError(f"Mật khẩu phải có ít nhất {minimum} ký tự.")
    folded = password.lower()
    if folded in _COMMON or folded.rstrip("0123456789!@#.") in _COMMON:
        raise WeakPasswordError("Mật khẩu này nằm trong danh sách mật khẩu phổ biến đã bị lộ; hãy chọn mật khẩu khác.")
    name = username.strip().lower()
    if len(name) >= 3 and name in folded:
        raise WeakPasswordError("Mật khẩu không được chứa tên đăng nhập.")
    if role in ADMIN_ROLES and zxcvbn(password[:100], user_inputs=[name] if name else [])["score"] < 3:
        raise WeakPasswordError("Mật khẩu quá dễ đoán cho tài khoản quản trị; hãy dùng một cụm từ dài hơn.")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự.")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# A fixed hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY = None


def dummy_verify(password: str) -> None:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _hasher.hash("not-a-real-password")
    verify_password(_DUMMY, password)
