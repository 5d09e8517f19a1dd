"""The product's settings, from ``[products.NAME.settings]`` in the host's configuration, and
the declaration of the settings a plugin reads.

Values are strings and may be secrets: the host resolves ``env:NAME`` and ``file:/path``
references before handing them over and never logs them, so neither should a plugin; the
errors below name the key, never the value. Every call reads them afresh.

``metadata()`` lists every key the plugin reads, built with :func:`required`,
:func:`optional`, :func:`secret` and :func:`optional_secret`. The host checks the product's
table against that list when it loads the configuration.
"""

import json as _json
from typing import Any, Callable, List, Optional, TypeVar

from wit_world.imports import assay_plugin_types as t
from wit_world.imports import host

from . import errors

T = TypeVar("T")


def required(name: str, description: str) -> t.SettingSpec:
    """A setting the product must set; the host refuses a configuration without it."""
    return t.SettingSpec(name, True, False, description)


def optional(name: str, description: str) -> t.SettingSpec:
    """A setting the product may leave out."""
    return t.SettingSpec(name, False, False, description)


def secret(name: str, description: str) -> t.SettingSpec:
    """A required credential: it must be an ``env:``/``file:`` reference, never a literal."""
    return t.SettingSpec(name, True, True, description)


def optional_secret(name: str, description: str) -> t.SettingSpec:
    """A credential the product may leave out; when set, it must be a reference."""
    return t.SettingSpec(name, False, True, description)


def get(key: str) -> Optional[str]:
    """The setting ``key``, if set."""
    return host.setting(key)


def keys() -> List[str]:
    """The names of the product's settings."""
    return host.setting_keys()


def require(key: str) -> str:
    """The setting ``key``; a missing or blank one raises ``misconfigured`` naming it."""
    value = get(key)
    if value is None or not value.strip():
        raise errors.misconfigured(f"the setting `{key}` is not set")
    return value


def parse(key: str, convert: Callable[[str], T]) -> Optional[T]:
    """The setting ``key`` converted by ``convert`` (``int``, ``float``…), ``None`` if it is
    not set. A value ``convert`` refuses raises ``misconfigured`` naming the key: a typo in
    the configuration should stop the call rather than fall back to a default."""
    value = get(key)
    if value is None:
        return None
    try:
        return convert(value.strip())
    except (ValueError, TypeError):
        raise errors.misconfigured(
            f"the setting `{key}` is not a valid {getattr(convert, '__name__', 'value')}"
        ) from None


def json(key: str) -> Optional[Any]:
    """The setting ``key`` parsed as JSON, ``None`` if it is not set. Invalid JSON raises
    ``misconfigured`` naming the key and where the JSON is wrong (never the value)."""
    value = get(key)
    if value is None:
        return None
    try:
        return _json.loads(value)
    except ValueError as e:
        where = f"line {e.lineno} column {e.colno}" if hasattr(e, "lineno") else "somewhere"
        raise errors.misconfigured(f"the setting `{key}` is not valid JSON ({where})") from None
