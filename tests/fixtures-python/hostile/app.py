"""``hostile`` in Python: the misbehaviours of the Rust fixtures ``spin``, ``hog`` and
``offlist``, chosen by the ``behaviour`` setting, so the host's isolation is proven for plugins
built with componentize-py too (their CPython runs inside the component).

``list-packages`` with ``behaviour`` =

- ``spin``: loops without end; the host's deadline must end the call;
- ``hog``: allocates and fills 1 MiB blocks without end; the host's memory limit must refuse
  the growth, and the call fails however the interpreter reports it;
- ``offlist``: fetches ``target`` (a URL), which the product's ``allowed_hosts`` does not list;
  the host must deny the request, and the plugin reports the denial as its error;
- anything else: answers one package, ``ok``.
"""

from typing import List

from assay_plugin import Plugin
from assay_plugin import errors, http, results, settings
from assay_plugin import types as t


def spin() -> None:
    n = 0
    while True:
        n = (n + 1) & 0xFFFF


def hog() -> None:
    hoard: List[bytearray] = []
    while True:
        hoard.append(bytearray(b"\xa5" * (1 << 20)))


class Product(Plugin):
    def metadata(self) -> t.PluginMetadata:
        return t.PluginMetadata(
            "hostile",
            "0.2.0",
            "Misbehaves on purpose (spin, hog, offlist)",
            [t.OrderKind.ASSESSMENT],
            [
                settings.required("behaviour", "spin, hog, offlist or ok"),
                settings.optional("target", "The URL `offlist` fetches"),
            ],
        )

    def list_packages(self, query: t.PackageQuery) -> t.PackageList:
        behaviour = settings.get("behaviour")
        if behaviour == "spin":
            spin()
        if behaviour == "hog":
            hog()
        if behaviour == "offlist":
            target = settings.require("target")
            http.Client(target).get("/").send()
            raise errors.permanent(f"{target} answered, but it is not an allowed host")
        return results.uncached([t.Package("ok", "OK", None, [])])

    def fulfil_order(self, order: t.Order) -> t.Fulfilment:
        raise errors.permanent("hostile fulfils nothing")

    def handle_callback(self, request: t.CallbackRequest) -> t.CallbackOutcome:
        raise errors.invalid_input("hostile takes no callbacks")

    def poll_results(self, pending: List[t.PendingOrder]) -> List[t.OrderResult]:
        return []
