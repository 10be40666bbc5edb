"""The key that signs pickled objects, kept outside the store.

A pickle runs code when it is loaded, so the store only loads pickles signed (HMAC-SHA256)
with a key that who can write to the store cannot read:

* ``NB2PIPE_SIGNING_KEY`` (read when the store is opened; an environment's
  ``signing_key = "VAR"`` names another variable), else
* the user's key file ``$XDG_CONFIG_HOME/nb2pipe/signing-key`` (``~/.config/...``),
  created with mode 0600 on first use.

Keys of steps never depend on it (a pickled value's data version is recorded apart), so
a pickle signed with another key is only a miss: recomputed, with one warning.  The key is
never written into the store nor exported.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from .errors import StoreError

ENV_VAR = "NB2PIPE_SIGNING_KEY"
PICKLE_VAR = "NB2PIPE_PICKLE"
PICKLE_MODES = ("allow", "refuse")


def key_file(environ=os.environ) -> str:
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "nb2pipe", "signing-key")


def _user_key(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:           # another process made it first: use theirs
            return _user_key(path)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
        return _user_key(path)
    if len(data.strip()) < 16:
        raise StoreError(f"the signing key {path} is damaged (shorter than 16 bytes)",
                         fix="delete it (a new one is made; pickled results are then recomputed),"
                             f" or set {ENV_VAR}")
    return data.strip()


def load_key(value: str | bytes | None, environ=os.environ) -> bytes:
    """The signing key: ``value`` (from the environment, captured when the store was opened)
    or the user's key file."""
    if value:
        data = value.encode() if isinstance(value, str) else value
        if len(data) < 16:
            raise StoreError("the pickle signing key is shorter than 16 characters",
                             fix=f"set {ENV_VAR} (or the variable your environment's signing_key"
                                 " names) to a long random value, e.g. `openssl rand -hex 32`")
        return data
    path = key_file(environ)
    try:
        return _user_key(path)
    except OSError as e:
        raise StoreError(f"cannot read or create the pickle signing key {path}: {e.strerror or e}",
                         fix=f"set {ENV_VAR} to a long random value, or make {os.path.dirname(path)}"
                             " writable") from None


def signer_id(key: bytes) -> str:
    """A public name of a key (reveals nothing of it): recorded with each pickled object so
    that an object signed with another key is a miss found at planning, not a failure."""
    return hmac.new(key, b"nb2pipe signer id", hashlib.sha256).hexdigest()[:16]


def pickle_mode(value: str | None, where: str) -> str:
    mode = value or "allow"
    if mode not in PICKLE_MODES:
        raise StoreError(f"{where}: pickle = {mode!r} is not a pickle mode",
                         fix='use pickle = "refuse" (never store or load pickles) or "allow"')
    return mode
