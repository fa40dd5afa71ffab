"""Offline builders of the data the environments ship; run once by maintainers, never at run time.

* ``python -m proxmo_envs.builders.alfworld_games --out data/alfworld``: the ALFWorld games (``<split>.jsonl.gz``)
  generated from alfworld's room layouts and verified by replaying each walkthrough on the real engine.
* ``python -m proxmo_envs.builders.webshop_catalog --seed 0 --out data/webshop``: the synthetic WebShop
  catalogue and its instructions.

The environments only read what these wrote (``proxmo_envs/data/``); nothing here is imported by them.
"""
