"""The Python SDK for Assay plugins (contract ``assay:plugin@0.2.0``).

A plugin is a Python module with a class ``Product`` implementing the five exports of
``wit/plugin.wit``; ``componentize-py`` turns it into a WebAssembly component. This package
is the typed help around the generated bindings:

- :mod:`assay_plugin.settings`: declaring and reading the product's settings;
- :mod:`assay_plugin.http`: a blocking HTTP client over ``wasi:http``, and what the vendor's
  statuses mean as plugin errors;
- :mod:`assay_plugin.webhook`: the HMAC-SHA256 hex signature check of callbacks;
- :mod:`assay_plugin.results`: results, package lists, callback outcomes, order fields;
- :mod:`assay_plugin.errors`: the plugin errors to raise;
- :mod:`assay_plugin.log`: structured log lines through the host.

``types`` is the generated module of the contract's records and variants; :class:`Plugin`
the base class of the exports. See README.md for a whole plugin and the build command.
"""

import functools
import traceback

from componentize_py_types import Err
from wit_world.exports import Product
from wit_world.imports import assay_plugin_types as types

from . import errors, http, log, results, settings, webhook

#: The five exports of the contract.
EXPORTS = ("metadata", "list_packages", "fulfil_order", "handle_callback", "poll_results")


class Plugin(Product):
    """The base class of a plugin's ``Product``: ``class Product(Plugin): …``.

    A plugin call fails on purpose by raising ``Err(PluginError_…)`` (see :mod:`errors`).
    Any other exception is a bug: componentize-py turns it into a trap, as a Rust panic is,
    and the host answers the call as failed ("the plugin trapped"). The traceback would go
    to stderr, which the host does not keep, so this class logs it through the host first,
    as an error line with the exception and its traceback."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in EXPORTS:
            method = cls.__dict__.get(name)
            if method is not None:
                setattr(cls, name, _logging_bugs(name, method))


def _logging_bugs(name, method):
    @functools.wraps(method)
    def call(self, *args):
        try:
            return method(self, *args)
        except Err:
            raise
        except BaseException as bug:
            log.error(
                f"the plugin failed in {name}: {type(bug).__name__}: {bug}",
                traceback="".join(traceback.format_exception(bug))[-2000:],
            )
            raise

    return call

#: The contract this SDK binds to.
CONTRACT = "assay:plugin@0.2.0"

__all__ = ["CONTRACT", "EXPORTS", "Plugin", "Product", "errors", "http", "log", "results", "settings", "types", "webhook"]
