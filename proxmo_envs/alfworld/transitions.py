"""An exact transition cache for TextWorld's ``PddlEnv``: the N episodes of a group (and later iterations in
the same process) replay the engine's text instead of regenerating it.

Why it is exact. ``PddlEnv`` is deterministic: what a step returns (feedback text, valid commands and their
actions, admissible commands, ``won``) is a function of the game and of the engine's state, where the state
is the python fact set of ``PddlState`` together with fast-downward's SAS state, and of the command. Two
facts make the python fact set alone a complete key:

* every SAS variable of the game is binary (``Atom p`` / ``NegatedAtom p``), and ``PddlState.apply`` adds
  each effect atom and removes its negation, so ``p`` is in the fact set exactly when the SAS variable of
  ``p`` is true: the fact set determines the SAS state. :func:`binary_sas` checks this per game; a game that
  fails the check is played without the cache.
* text generation reads the state only through conjunctive queries (``all_assignments`` over sorted facts);
  the per-variable counters of ``State`` are read only for placeholders that occur in no precondition,
  which conjunctive queries do not have.

The engine stays the source of truth: every command really runs ``PddlState.apply`` on fast-downward (cheap);
what is cached is what a state *produces* (text generation of the valid commands, ``won``, the feedback of
each command taken from it), computed by the real engine the first time the state is seen. A state is keyed
by ``(game digest, facts ^ initial facts)`` (the symmetric difference is small, so keys stay small).

The cache is a bounded LRU shared by every env of the process (:data:`DEFAULT_MAX_STATES`, setting
``PROXMO_ALFWORLD_STATE_CACHE`` or :func:`configure`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import Counter, OrderedDict, defaultdict
from typing import Any


# ~60-90 kB per state (its key, its valid actions with their mappings, commands, feedback texts): 10000
# states stay under 1 GB; a GRPO group of 8 episodes x 50 steps visits at most 400 states.
DEFAULT_MAX_STATES = 10000
ENV_MAX_STATES = "PROXMO_ALFWORLD_STATE_CACHE"


def _variables_part(sas: str) -> str:
    """The SAS text up to the initial state: the variables (and mutex groups) come first in fast-downward's
    format, the operators (most of the text) after, so the regexes below scan a few kB, not ~1 MB."""
    end = sas.find("\nbegin_state")
    return sas if end < 0 else sas[:end]


def sas_variables(sas: str) -> list[tuple[str, list[str]]]:
    """``(layer, values)`` of every SAS variable block (``begin_variable`` name layer size values
    ``end_variable``), in order; a block whose size line does not match its values gives ``("?", [])``."""
    out = []
    for block in _variables_part(sas).split("begin_variable\n")[1:]:
        body = block.split("\nend_variable", 1)[0]
        lines = body.split("\n")
        if len(lines) < 3 or not lines[2].isdigit() or int(lines[2]) != len(lines) - 3:
            out.append(("?", []))
            continue
        out.append((lines[1], lines[3:]))
    return out


def binary_sas(sas: str, variables: list[tuple[str, list[str]]] | None = None) -> bool:
    """True when every non-derived SAS variable is ``Atom p`` / ``NegatedAtom p`` (see the module docstring).
    ``variables``: :func:`sas_variables` of ``sas`` when already computed."""
    blocks = sas_variables(sas) if variables is None else variables
    if not blocks:
        return False
    for layer, values in blocks:
        if layer == "?":
            return False
        if layer != "-1":
            continue  # derived (axiom) variable: a function of the others
        if len(values) != 2:
            return False
        a, b = values
        if not (a.startswith("Atom ") and b == "Negated" + a):
            return False
    return True


class OperatorRef:
    """What ``PddlState.apply`` reads of a fast-downward operator: its id and number of effect atoms."""

    __slots__ = ("id", "nb_effect_atoms")

    def __init__(self, op_id: int, nb_effect_atoms: int) -> None:
        self.id = op_id
        self.nb_effect_atoms = nb_effect_atoms


class StateEntry:
    """What the engine produced in one state: valid actions and commands, admissible commands, ``won``, and
    the feedback of every command already taken from it (``feedback[i]`` for ``commands[i]``; ``-1``: the
    intro text when the state is a game's initial state)."""

    __slots__ = ("actions", "operators", "commands", "admissible", "won", "feedback", "effects")

    def __init__(self, actions: list, operators: dict, commands: list[str], admissible: list[str], won: bool):
        self.actions = actions
        self.operators = operators
        self.commands = commands
        self.admissible = admissible
        self.won = won
        self.feedback: dict[int, str] = {}
        self.effects: dict[int, tuple] = {}  # effects[i]: the facts fast-downward reported for commands[i]


class StateCache:
    """Bounded LRU ``key -> StateEntry``, thread-safe (Ray actors may step envs from threads)."""

    def __init__(self, max_states: int) -> None:
        if not isinstance(max_states, int) or isinstance(max_states, bool) or max_states < 0:
            raise ValueError(f"the ALFWorld state cache size must be an int >= 0, got {max_states!r}")
        self.max_states = max_states
        self._data: OrderedDict[tuple, StateEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: tuple) -> StateEntry | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple, entry: StateEntry) -> None:
        if self.max_states == 0:
            return
        with self._lock:
            self._data[key] = entry
            self._data.move_to_end(key)
            while len(self._data) > self.max_states:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


def _max_states_from_env() -> int:
    raw = os.environ.get(ENV_MAX_STATES)
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_STATES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_MAX_STATES} must be an int >= 0 (0 disables the cache), got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{ENV_MAX_STATES} must be an int >= 0 (0 disables the cache), got {raw!r}")
    return value


_shared: StateCache | None = None


def shared_cache() -> StateCache:
    """The process-wide cache (created on first use with ``PROXMO_ALFWORLD_STATE_CACHE`` or the default)."""
    global _shared
    if _shared is None:
        _shared = StateCache(_max_states_from_env())
    return _shared


def configure(max_states: int) -> StateCache:
    """Replace the process-wide cache by an empty one holding at most ``max_states`` states (0 disables)."""
    global _shared
    _shared = StateCache(max_states)
    return _shared


def game_digest(data: dict[str, Any]) -> str:
    """A digest of what defines a game for the engine (domain, grammar, problem)."""
    h = hashlib.blake2b(digest_size=20)
    for part in ("pddl_domain", "grammar", "pddl_problem"):
        h.update(data[part].encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def cached_pddl_env_class(modules: dict[str, Any]) -> type:
    """``CachedPddlEnv``, a subclass of TextWorld's ``PddlEnv`` (built lazily: TextWorld imports slowly).
    ``modules``: ``engine.modules()``, passed in by the engine so this module does not import it back."""
    return _cached_class(modules)


_CLASS: list[type] = []
_STATE_FIELDS = frozenset({"_facts", "_vars_by_name", "_vars_by_type", "_var_counts", "_logic", "downward_lib",
                           "pddl_problem", "task", "sas", "sas_replan", "_actions", "name2type"})
_EVAL_NAME_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_ATOM_RE = re.compile(r"(?:Negated)?Atom ([^(\s]+)\(")


def clone_pddl_state(state: Any) -> Any:
    """A copy of a ``PddlState`` python side (facts and variable indexes copied, translation shared).

    Only for a state whose attributes are exactly :data:`_STATE_FIELDS` (checked by the caller).
    """
    new = object.__new__(type(state))
    d = dict(state.__dict__)
    d.pop("_operators", None)
    d["_facts"] = defaultdict(set, {k: set(v) for k, v in state._facts.items()})
    d["_vars_by_name"] = dict(state._vars_by_name)
    d["_vars_by_type"] = defaultdict(set, {k: set(v) for k, v in state._vars_by_type.items()})
    d["_var_counts"] = Counter(state._var_counts)
    new.__dict__.update(d)
    return new


def predicates_read(template: str, grammar: Any) -> frozenset[str] | None:
    """The predicates whose facts deriving ``template`` can read, or None when it may read anything else.

    Walks the parsed symbols as ``ContextSensitiveGrammar.derive`` would: terminal text reads nothing; an
    ``{expr}`` reads only the action's variables when ``expr`` is a name or dotted attribute (not ``self``
    or ``context``); ``{expr | query}`` reads the query's predicates; ``#rule#`` reads its rules' conditions
    and right-hand sides; ``[...]`` also reads the ``list_*`` rules.
    """
    from textworld.envs.pddl import textgen
    from textworld.logic import Rule

    out: set[str] = set()
    seen: set[str] = set()

    def query(expr: str) -> bool:
        try:
            rule = Rule.parse_conjunctive_query(expr)
        except Exception:  # noqa: BLE001 - unparsable: unknown reads
            return False
        out.update(p.name for p in rule.preconditions)
        return True

    def walk(sym: Any) -> bool:
        kind = type(sym)
        if kind is textgen.TerminalSymbol:
            return True
        if kind is textgen.EvalSymbol:
            expr = str(sym.expression).strip()
            return bool(_EVAL_NAME_RE.fullmatch(expr)) and expr.split(".")[0] not in ("self", "context")
        if kind is textgen.ConditionalSymbol:
            return (not sym.given or query(sym.given)) and walk(sym.expression)
        if kind is textgen.ListSymbol:
            return walk(sym.symbol) and all(rule_name(n) for n in ("list_empty", "list_separator",
                                                                    "list_last_separator"))
        if kind is textgen.NonterminalSymbol:
            return rule_name(str(sym))
        return False

    def rule_name(name: str) -> bool:
        if name in seen:
            return True
        seen.add(name)
        rules = grammar._rules.get(name)
        if not rules:
            return False
        return all((not r.condition or query(r.condition)) and all(walk(x) for x in r.rhs) for r in rules)

    try:
        symbols = textgen._parse_and_convert(template, rule_name="symbols")
    except Exception:  # noqa: BLE001 - an unparsable template takes the engine's own path (which raises)
        return None
    return frozenset(out) if all(walk(x) for x in symbols) else None


def dynamic_predicates(sas: str, variables: list[tuple[str, list[str]]] | None = None) -> frozenset[str]:
    """Predicates whose facts ``PddlState.apply`` can change: those of the SAS variables' atoms (and their
    ``not_`` forms). Every other fact of a game is fixed by its PDDL problem. ``variables``: as
    :func:`binary_sas`."""
    names = set()
    for _layer, values in sas_variables(sas) if variables is None else variables:
        for v in values:
            m = _ATOM_RE.match(v)
            if m:
                names.add(m.group(1))
    return frozenset(names | {"not_" + n for n in names})


def _cached_class(m: dict[str, Any]) -> type:
    if _CLASS:
        return _CLASS[0]
    import fast_downward

    PddlEnv = m["PddlEnv"]
    GameState = m["textworld"].core.GameState

    class CachedPddlEnv(PddlEnv):
        """``PddlEnv`` whose states' products come from :class:`StateCache` (module docstring).

        fast-downward is driven lazily: a reset restores the python side of the initial state from a
        snapshot, and a command whose effects are already known updates the facts exactly as
        ``PddlState.apply`` does; the C engine is brought to the current state (reload + replay of the
        episode's operators) only when a state or transition has to be computed for the first time.
        """

        def __init__(self, infos: Any = None, cache: StateCache | None = None) -> None:
            super().__init__(infos)
            self._cache = cache
            self._use_cache = False
            self._entry: StateEntry | None = None

        def _state_cache(self) -> StateCache:
            return self._cache if self._cache is not None else shared_cache()

        # ------------------------------------------------------------------ load

        def load(self, filename_or_data: Any) -> None:
            super().load(filename_or_data)
            ri = self.request_infos
            st = self._pddl_state
            self._game_key = game_digest(self._game_data)
            self._initial_facts = frozenset(st.facts)
            self._templates = sorted(set(action.template for action in self._logic.actions.values()))
            # the cache fills only what our callers read; facts/replanning requests take the plain path
            variables = sas_variables(st.sas)
            self._use_cache = (binary_sas(st.sas, variables) and set(st.__dict__) == _STATE_FIELDS and not ri.facts
                               and not ri.policy_commands and self._state_cache().max_states > 0)
            self._snapshot = clone_pddl_state(st) if self._use_cache else None
            self._lib_ops: list[tuple[int, int]] | None = []  # operators applied to the C engine since load_sas
            self._ops: list[tuple[int, int]] = []  # operators of the current episode
            self._names = {k: info.name for k, info in self._entity_infos.items()}
            self._commands: dict[tuple, tuple[str, str]] = {}
            self._action_pool: dict[tuple, Any] = {}
            self._free_template: dict[str, bool] = {}
            self._dynamic = dynamic_predicates(st.sas, variables) if self._use_cache else frozenset()
            self._entry = None

        def _context(self, mapping: dict) -> dict:
            """The derivation context ``PddlEnv`` builds for an action's ``mapping`` in the current state."""
            return {
                "state": self._pddl_state,
                "facts": list(self._pddl_state.facts),
                "variables": {ph.name: self._entity_infos[var.name] for ph, var in mapping.items()},
                "mapping": mapping,
                "entity_infos": self._entity_infos,
            }

        def _key(self) -> tuple:
            return (self._game_key, frozenset(self._pddl_state.facts) ^ self._initial_facts)

        def _sync(self) -> None:
            """Bring the C engine to the state reached by this episode's operators."""
            lib, ops, done = self.downward_lib, self._ops, self._lib_ops
            if done is None or len(done) > len(ops) or ops[: len(done)] != done:
                st = self._pddl_state
                lib.load_sas(st.sas.encode("utf-8"))
                lib.load_sas_replan(st.sas_replan.encode("utf-8"))
                done = []
            for op_id, n in ops[len(done):]:
                lib.apply_operator(op_id, (fast_downward.Atom * n)())
            self._lib_ops = list(ops)

        # ------------------------------------------------------------------ state products

        def _gather_infos(self) -> None:
            if not self._use_cache:
                return super()._gather_infos()
            cache = self._state_cache()
            key = self._key()
            entry = cache.get(key)
            st = self.state
            if entry is None:
                self._sync()
                self._fresh_infos()
                ops = self._pddl_state._operators
                # id and effect count only: fast-downward's Operator structs (1 kB each) keep their array alive
                light = {a.id: OperatorRef(a.id, ops[a.id].nb_effect_atoms) for a in st["_valid_actions"]}
                entry = StateEntry(st["_valid_actions"], light, st["_valid_commands"], st["admissible_commands"],
                                   st["won"])
                cache.put(key, entry)
            else:
                self._pddl_state._operators = entry.operators
                st["command_templates"] = list(self._templates)
                st["won"] = entry.won
                st["lost"] = False
                st["_entity_infos"] = dict(self._entity_infos)
                st["_facts"] = list(self._pddl_state.facts)
                st["last_action"] = None
                st["_last_action"] = self._last_action
                st["_valid_actions"] = list(entry.actions)
                st["_valid_commands"] = list(entry.commands)
                st["admissible_commands"] = list(entry.admissible)
                if self.request_infos.moves:
                    st["moves"] = self._moves
            self._entry = entry

        def _fresh_infos(self) -> None:
            """``PddlEnv._gather_infos`` (C engine in sync), with the text of a command memoised per game by
            (template, action mapping) when its derivation reads no fact that can change in this game
            (:func:`predicates_read` disjoint from :func:`dynamic_predicates`)."""
            st = self.state
            pddl_state = self._pddl_state
            st["command_templates"] = list(self._templates)
            st["won"] = pddl_state.check_goal()
            st["lost"] = False
            st["_entity_infos"] = dict(self._entity_infos)
            st["_facts"] = list(pddl_state.facts)
            st["last_action"] = None
            st["_last_action"] = self._last_action
            actions = list(pddl_state.all_applicable_actions())
            st["_valid_actions"] = actions
            commands = []
            for action in actions:
                template = action.command_template
                key = (template, tuple(action.mapping.items()))
                hit = self._commands.get(key)
                if hit is None:
                    action.command_template = self._logic.grammar.derive(template, self._context(action.mapping))
                    command = action.format_command(self._names)
                    free = self._free_template.get(template)
                    if free is None:
                        reads = predicates_read(template, self._logic.grammar)
                        free = self._free_template[template] = reads is not None and not reads & self._dynamic
                    if free:
                        self._commands[key] = (action.command_template, command)
                else:
                    action.command_template, command = hit
                commands.append(command)
            # one Action object per (operator, command) for the game: states share them instead of holding
            # ~2 kB of fresh objects per valid action (equal id, name, mapping, template and feedback rule)
            pool = self._action_pool
            st["_valid_actions"] = [pool.setdefault((a.id, a.command_template), a) for a in actions]
            st["_valid_commands"] = commands
            st["admissible_commands"] = sorted(set(commands))
            if self.request_infos.moves:
                st["moves"] = self._moves

        # ------------------------------------------------------------------ gym-like API

        def reset(self):
            if not self._use_cache:
                return super().reset()
            self._pddl_state = clone_pddl_state(self._snapshot)
            self._ops = []
            self.prev_state = None
            self.state = GameState()
            self._last_action = None
            self._moves = 0
            self._gather_infos()
            entry = self._entry
            intro = entry.feedback.get(-1)
            if intro is None:
                intro = self._logic.grammar.derive("#intro#", self._context({}))
                entry.feedback[-1] = intro
            self.state.feedback = intro
            self.state.raw = intro
            if "walkthrough" in self.request_infos.extras:
                if not self.walkthrough:
                    self._sync()
                self.state["extra.walkthrough"] = self.walkthrough or self._pddl_state.replan(self._entity_infos)
            return self.state

        def step(self, command: str):
            if not self._use_cache:
                return super().step(command)
            command = command.strip()
            self.prev_state = self.state
            self.state = GameState()
            self.state.last_command = command
            self._last_action = None
            entry = self._entry
            try:
                idx = entry.commands.index(command)
            except ValueError:
                idx = -1
            if idx < 0:
                # As PddlEnv: a command that is not valid changes nothing.
                self.state.feedback = "Nothing happens."
            else:
                action = self._last_action = entry.actions[idx]
                pddl_state = self._pddl_state
                op = (action.id, entry.operators[action.id].nb_effect_atoms)
                changes = entry.effects.get(idx)
                if changes is None:
                    self._sync()
                    pddl_state._operators = entry.operators
                    changes = entry.effects[idx] = tuple(pddl_state.apply(action))
                    self._ops.append(op)
                    self._lib_ops.append(op)
                else:
                    # PddlState.apply's python side with the effects fast-downward returned the first time
                    for prop in changes:
                        pddl_state.remove_fact(prop.negate())
                        pddl_state.add_fact(prop)
                    self._ops.append(op)
                feedback = entry.feedback.get(idx)
                if feedback is None:
                    feedback = self._logic.grammar.derive(action.feedback_rule, self._context(action.mapping))
                    entry.feedback[idx] = feedback
                self.state.feedback = feedback
                self._moves += 1
            self.state.raw = self.state.feedback
            self._gather_infos()
            if "walkthrough" in self.request_infos.extras:
                self.state["extra.walkthrough"] = self.prev_state["extra.walkthrough"]
            self.state["score"] = 1 if self.state["won"] else 0
            self.state["done"] = self.state["won"] or self.state["lost"]
            return self.state, self.state["score"], self.state["done"]

    _CLASS.append(CachedPddlEnv)
    return CachedPddlEnv
