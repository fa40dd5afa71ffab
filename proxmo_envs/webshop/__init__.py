"""Pure-Python WebShop (Yao et al., 2022) text environment: ``proxmo/WebShop-v0``.

Modules: ``loader`` (raw upstream schema), ``goals`` (synthetic/human goals, split), ``search`` (BM25),
``pages`` and ``engine`` (page state machine), ``reward`` (the score and its parts), ``nouns`` (pluggable
noun extractor for r_type), ``env`` (the Gymnasium env), ``oracle`` (scripted agent), ``instruction`` (the instruction in an
observation). The embedded synthetic catalogue is built by ``proxmo_envs.builders.webshop_catalog``. Nothing heavy is
imported here.
"""

__all__ = ["WebShopEnv", "WebShopOracle"]


def __getattr__(name: str):
    if name == "WebShopEnv":
        from .env import WebShopEnv

        return WebShopEnv
    if name == "WebShopOracle":
        from .oracle import WebShopOracle

        return WebShopOracle
    raise AttributeError(name)
