"""verifiers taskset ``proxmo-webshop``: proxmo's WebShop (see :mod:`proxmo_envs.integrations.verifiers`).

verifiers imports a taskset id as a top-level module (``proxmo-webshop`` -> ``proxmo_webshop``) and takes
the one ``Taskset`` and the one ``Env`` subclass it exports.
"""

from proxmo_envs.integrations.verifiers import ProxmoEnv, ProxmoEnvConfig, ProxmoTasksetConfig, WebShopTaskset

__all__ = ["WebShopTaskset", "ProxmoEnv", "ProxmoEnvConfig", "ProxmoTasksetConfig"]
