"""A game's grammar document parsed from the parse of alfworld's grammar, not from its own text.

Every generated game's grammar is alfworld's ``alfred.twl2`` with the literal ``UNKNOWN GOAL`` of its
``task`` rule replaced by the goal text (:func:`~proxmo_envs.alfworld.engine.grammar_for`). TextWorld parses
the whole document per game (``textworld.envs.pddl.logic._parse_and_convert``, a TatSu parse, ~0.15 s):
its actions and the JSON of its grammar blocks, merged into one dict that
``ContextSensitiveGrammar.parse(json.dumps(merged))`` turns into production rules.

For a goal text made of printable ASCII characters other than ``"`` and ``\\`` (:data:`SAFE_TASK`), the
document parses into the same tokens as the template: the goal sits inside a JSON string of a ``\"\"\"``
block, which ends only at ``\"\"\"``, JSON decodes it unchanged, and ``json.dumps`` re-encodes it unchanged.
So the game's actions are the template's, and the JSON text the converter hands to
``ContextSensitiveGrammar.parse`` is the template's with the placeholder replaced by the goal text. This
holds when the placeholder occurs once in the template, once in that JSON text and in no action (checked
when the template is parsed); otherwise, or for other documents, the document is parsed as before.

:class:`TemplateParse` parses the template once (the real TextWorld parse, recording the JSON text the
converter produces) and then derives a game's parse by running ``ContextSensitiveGrammar.parse`` on the
substituted JSON (the grammar's symbol strings are memoised, so that costs milliseconds).
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any, Callable

from proxmo_envs.alfworld import diskcache

PLACEHOLDER = "UNKNOWN GOAL"
SAFE_TASK = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' (0x22) and '\' (0x5c)


class TemplateParse:
    """The parse of a template document with one placeholder, and of its instances (module docstring).

    ``parse``: TextWorld's document parser, ``parse(text) -> (actions, grammar)``.
    """

    def __init__(self, template: str, parse: Callable[[str], Any], placeholder: str = PLACEHOLDER) -> None:
        self.template = template
        self.placeholder = placeholder
        self._parse = parse
        self._lock = threading.Lock()
        self._product: tuple[dict, str] | None = None
        self.usable = template.count(placeholder) == 1
        self._prefix, _, self._suffix = template.partition(placeholder)

    def task_of(self, text: str) -> str | None:
        """The goal text when ``text`` is the template with a safe goal text in place of the placeholder."""
        if not self.usable or len(text) < len(self._prefix) + len(self._suffix):
            return None
        if not (text.startswith(self._prefix) and text.endswith(self._suffix)):
            return None
        task = text[len(self._prefix): len(text) - len(self._suffix)]
        return task if SAFE_TASK.fullmatch(task) else None

    def _record(self) -> tuple[dict, str] | None:
        """(actions, grammar JSON text) of the template, recorded from TextWorld's own parse; None when the
        placeholder is not where the substitution needs it (module docstring)."""
        from textworld.envs.pddl.textgen import ContextSensitiveGrammar

        recorded: list[str] = []
        original = ContextSensitiveGrammar.__dict__["parse"]

        def recording(cls: type, text: str) -> Any:
            recorded.append(text)
            return original.__func__(cls, text)

        ContextSensitiveGrammar.parse = classmethod(recording)
        try:
            actions, _grammar = self._parse(self.template)
        finally:
            ContextSensitiveGrammar.parse = original
        in_actions = any(self.placeholder in str(v) for a in actions.values() for v in vars(a).values())
        if len(recorded) != 1 or recorded[0].count(self.placeholder) != 1 or in_actions:
            return None
        return actions, recorded[0]

    def _template_product(self) -> tuple[dict, str] | None:
        with self._lock:
            if self._product is None and self.usable:
                # parsed once per machine: the product is stored in the disk cache (diskcache.py)
                self._product = diskcache.cached("twl2-template", (self.template, self.placeholder), self._record,
                                                 storable=lambda v: v is not None)
                self.usable = self._product is not None
            return self._product

    def parse(self, text: str) -> Any | None:
        """``(actions, grammar)`` of ``text`` derived from the template's parse, or None when not applicable."""
        task = self.task_of(text)
        if task is None:
            return None
        product = self._template_product()
        if product is None:
            return None
        from textworld.envs.pddl.textgen import ContextSensitiveGrammar

        actions, grammar_json = product
        # fresh Action objects per game, as a parse of the game's own text gives
        return {k: copy.copy(a) for k, a in actions.items()}, ContextSensitiveGrammar.parse(grammar_json.replace(self.placeholder, task))
