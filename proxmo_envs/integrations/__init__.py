"""Adapters that put proxmo's WebShop and ALFWorld envs into the trainers researchers use.

Every adapter drives the env through the text protocol (:mod:`proxmo_envs.text`) with one shared engine,
:class:`proxmo_envs.integrations.session.TextSession`, so a reply means the same thing everywhere and the
reported ``won``/``task_score`` are the env's own. Each module imports its framework only when imported,
and each framework comes with its own extra:

- :mod:`proxmo_envs.integrations.trl` (``pip install 'proxmo[trl]'``): ``environment_factory(env_id)``
  for ``trl.GRPOTrainer(environment_factory=...)``.
- :mod:`proxmo_envs.integrations.skyrl` (``'proxmo[skyrl]'``): importing it registers ``proxmo-webshop``
  and ``proxmo-alfworld`` in SkyRL-Gym; ``dataset_rows`` writes SkyRL dataset rows.
- :mod:`proxmo_envs.integrations.verifiers` (``'proxmo[verifiers]'``): verifiers v1 taskset and env
  classes, loaded by verifiers as the taskset ids ``proxmo-webshop`` and ``proxmo-alfworld`` (the
  top-level modules ``proxmo_webshop`` and ``proxmo_alfworld``).
- :mod:`proxmo_envs.integrations.gem` (``'proxmo[gem]'``): ``gem.Env`` classes registered as
  ``proxmo:WebShop-v0`` and ``proxmo:ALFWorld-v0``.
"""

from proxmo_envs.integrations.session import TextSession, Turn

__all__ = ["TextSession", "Turn"]
