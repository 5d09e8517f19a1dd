"""Structured log lines through the host, which tags them with the product and plugin
version. Fields are keyword arguments: ``log.info("check created", order=order.id)``.
Never log a setting's value: it may be a secret."""

from wit_world.imports import host


def write(level: host.LogLevel, message: str, **fields: object) -> None:
    """Writes a log line at ``level``."""
    host.log(level, message, [(k, str(v)) for k, v in fields.items()])


def trace(message: str, **fields: object) -> None:
    write(host.LogLevel.TRACE, message, **fields)


def debug(message: str, **fields: object) -> None:
    write(host.LogLevel.DEBUG, message, **fields)


def info(message: str, **fields: object) -> None:
    write(host.LogLevel.INFO, message, **fields)


def warn(message: str, **fields: object) -> None:
    write(host.LogLevel.WARN, message, **fields)


def error(message: str, **fields: object) -> None:
    write(host.LogLevel.ERROR, message, **fields)
