"""verifiers taskset ``proxmo-alfworld``: proxmo's ALFWorld (see :mod:`proxmo_envs.integrations.verifiers`).

verifiers imports a taskset id as a top-level module (``proxmo-alfworld`` -> ``proxmo_alfworld``) and takes
the one ``Taskset`` and the one ``Env`` subclass it exports.
"""

from proxmo_envs.integrations.verifiers import ALFWorldTaskset, ProxmoEnv, ProxmoEnvConfig, ProxmoTasksetConfig

__all__ = ["ALFWorldTaskset", "ProxmoEnv", "ProxmoEnvConfig", "ProxmoTasksetConfig"]
