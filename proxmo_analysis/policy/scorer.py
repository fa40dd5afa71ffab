"""The small, fast backend: an MLP scoring (goal, observation, last action, candidate) text embeddings.

For a candidate with text embedding ``c`` in a step with goal ``g``, observation ``o`` and last action
``p`` (all from one encoder, see :mod:`proxmo_analysis.policy.encoders`), the score is

    logit = MLP([g⊙c, o⊙c, p⊙c, c, f]) + w · f,   f = [overlap, phrase, taken_before, is_last, position, pending]

``overlap`` is the fraction of the candidate text's content words that occur in the goal, ``phrase``
whether the clicked label occurs in the goal as a whole phrase (a WebShop option value such as ``3 ft``),
``taken_before`` how often the episode already took this exact action (/3, capped at 1), ``is_last_action``
whether it was the previous action, ``position`` the candidate's place in the environment's list
(0 first, 1 last; WebShop lists search results by relevance), ``pending`` whether some goal-phrase
candidate of the step is still untaken (lets the MLP learn "buy once the goal's options are chosen"). The
MLP's output layer starts at zero and ``w`` at
``(overlap_prior, 0, 0)``, so with the default ``overlap_prior = 0`` the untrained policy is uniform over the
candidates.

**Memory** (``history = k > 0``): like the paper's prompt, which shows the last k observations and actions
of the episode (verl-agent's ``env.history_length``, 2 in its released ALFWorld and WebShop scripts), the
scorer reads a window of the last k ``(observation, action)`` pairs: each pair's two text embeddings are
concatenated, a one-layer GRU runs over the window (oldest first, zero vectors where the episode is
shorter than k) and its last hidden state ``m`` enters the MLP as one more product ``m⊙c``. With
``history = 0`` (the default) the scorer is the memoryless one above, parameter for parameter.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch import nn

from proxmo_analysis.policy.base import CandidatePolicy
from proxmo_analysis.policy.context import StepContext
from proxmo_analysis.policy.encoders import HashedNgramEncoder, MiniLMEncoder

_WORD = re.compile(r"[a-z0-9]+")
_IGNORED = frozenset(
    "click search product a an the and or of for to in on with i me my need want is are it this that "
    "price lower than dollars".split()
)
N_SCALARS = 6
_BRACKET = re.compile(r"^[a-z_ ]+\[(.*)\]$", re.S)


@dataclass
class ScorerConfig:
    """Configuration of :class:`ActionScorer`."""

    encoder: str = "hashed"  # "hashed" (trainable n-grams) or "minilm" (frozen all-MiniLM-L6-v2, cached)
    hidden: int = 64  # width of the MLP's hidden layer
    hashed_dim: int = 32  # embedding width of the hashed encoder
    hashed_buckets: int = 1 << 14  # hash buckets of the hashed encoder
    max_length: int = 128  # MiniLM tokens per text
    overlap_prior: float = 0.0  # initial weight of the goal/candidate word-overlap feature
    init_seed: int = 0  # seed of the weight initialisation
    history: int = 0  # k > 0: a GRU reads the last k (observation, action) pairs (see the module docstring)

    def __post_init__(self) -> None:
        from proxmo_analysis.checks import check_choice, check_int, check_number

        check_choice("scorer encoder", self.encoder, ("hashed", "minilm"))
        for name in ("hidden", "hashed_dim", "hashed_buckets", "max_length"):
            check_int(f"scorer {name}", getattr(self, name), low=1)
        check_number("scorer overlap_prior", self.overlap_prior)
        check_int("scorer init_seed", self.init_seed)
        check_int("scorer history", self.history, low=0)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _IGNORED}


def _label(action: str) -> str:
    m = _BRACKET.match(action)
    return (m.group(1) if m else action).strip().lower()


# The goal- and candidate-only parts of the features are pure functions of their strings and the same
# strings recur at almost every step of a rollout and in every PPO minibatch: cached, they cost a dict
# lookup instead of regex work (these features were 60 % of an ALFWorld step's policy time). The caches are
# bounded, so a long run's memory stays flat.
@functools.lru_cache(maxsize=1 << 14)
def _goal_terms(goal: str) -> tuple[str, frozenset[str]]:
    """The goal as `` w1 w2 ... `` (words, single-spaced, padded) and its content-word set."""
    return " " + " ".join(_WORD.findall(goal.lower())) + " ", frozenset(_content_words(goal))


@functools.lru_cache(maxsize=1 << 17)
def _candidate_terms(action: str, text: str) -> tuple[frozenset[str], str | None]:
    """The candidate text's content words and the clicked label as `` w1 w2 `` (``None``: no label, or
    a search action, whose label is never a goal phrase)."""
    words = _WORD.findall(_label(action))
    label = None if action.startswith("search[") or not words else " " + " ".join(words) + " "
    return frozenset(_content_words(text)), label


def scalar_features(ctx: StepContext) -> torch.Tensor:
    """``(K, 6)`` hand features of each candidate (see the module docstring): goal word overlap, label
    phrase in the goal, taken-before count, is-last-action, position in the list, and (same for every
    candidate of the step) whether a goal-phrase candidate is still untaken.

    The label is a phrase of the goal when its words occur consecutively as whole words of the goal:
    with both reduced to single-spaced words, that is a substring test on the space-padded strings.
    """
    goal_text, goal = _goal_terms(ctx.goal)
    taken = [a for _, a in ctx.history]
    counts: dict[str, int] = {}
    for a in taken:
        counts[a] = counts.get(a, 0) + 1
    last = taken[-1] if taken else None
    span = max(1, len(ctx.candidates) - 1)
    rows = []
    pending = 0.0
    for k, (action, text) in enumerate(zip(ctx.candidates, ctx.candidate_texts)):
        words, label = _candidate_terms(action, text)
        overlap = len(words & goal) / len(words) if words else 0.0
        phrase = float(label is not None and label in goal_text)
        before = min(counts.get(action, 0), 3) / 3.0
        if phrase == 1.0 and before == 0.0:
            pending = 1.0
        rows.append([overlap, phrase, before, float(action == last), k / span])
    for r in rows:
        r.append(pending)
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, N_SCALARS)


class ActionScorer(CandidatePolicy):
    """MLP action scorer over text embeddings (see the module docstring)."""

    backend = "scorer"

    def __init__(self, config: ScorerConfig | None = None, seed: int = 0, greedy: bool = False, encoder=None):
        super().__init__(seed=seed, greedy=greedy)
        self.config = config = config or ScorerConfig()
        if encoder is not None:
            self.encoder = encoder
        elif config.encoder == "minilm":
            self.encoder = MiniLMEncoder(max_length=config.max_length)
        elif config.encoder == "hashed":
            self.encoder = HashedNgramEncoder(config.hashed_dim, config.hashed_buckets, seed=config.init_seed)
        else:
            raise ValueError(f"ScorerConfig.encoder must be 'minilm' or 'hashed', got {config.encoder!r}")
        d = self.encoder.dim
        g = torch.Generator().manual_seed(config.init_seed)
        parts = 5 if config.history else 4
        self.mlp = nn.Sequential(nn.Linear(parts * d + N_SCALARS, config.hidden), nn.Tanh(), nn.Linear(config.hidden, 1))
        self.linear = nn.Linear(N_SCALARS, 1, bias=False)
        if config.history:
            self.memory = nn.GRU(2 * d, d, batch_first=True)
            with torch.no_grad():
                for p in self.memory.parameters():
                    bound_m = 1.0 / d**0.5
                    p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound_m)
        with torch.no_grad():
            first = self.mlp[0]
            bound = 1.0 / (parts * d + N_SCALARS) ** 0.5
            first.weight.copy_((torch.rand(first.weight.shape, generator=g) * 2 - 1) * bound)
            first.bias.zero_()
            self.mlp[2].weight.zero_()
            self.mlp[2].bias.zero_()
            self.linear.weight.zero_()
            self.linear.weight[0, 0] = config.overlap_prior

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def clone_frozen(self) -> "ActionScorer":
        # A frozen MiniLM encoder holds no trainable state: share it (and its cache) with the copy.
        shared = self.encoder if isinstance(self.encoder, MiniLMEncoder) else None
        twin = ActionScorer(self.config, greedy=self.greedy, encoder=shared)
        twin.load_state_dict(self.state_dict())
        for p in twin.parameters():
            p.requires_grad_(False)
        return twin

    def candidate_logits(self, contexts: Sequence[StepContext]) -> list[torch.Tensor]:
        if not contexts:
            return []
        texts: list[str] = []
        index: dict[str, int] = {}

        def ref(t: str) -> int:
            if t not in index:
                index[t] = len(texts)
                texts.append(t)
            return index[t]

        k_mem = self.config.history
        gi, oi, pi, ci, sizes, wi = [], [], [], [], [], []
        for ctx in contexts:
            if k_mem:
                window = list(ctx.history[-k_mem:])
                pad = [-1] * (2 * (k_mem - len(window)))
                wi.append(pad + [ix for o_t, a_t in window for ix in (ref(o_t), ref(a_t))])
            k = len(ctx.candidates)
            sizes.append(k)
            g = ref(ctx.goal)
            o = ref(ctx.observation)
            p = ref(ctx.history[-1][1] if ctx.history else "")
            gi += [g] * k
            oi += [o] * k
            pi += [p] * k
            ci += [ref(t) for t in ctx.candidate_texts]
        emb = self.encoder(texts)
        g, o, p, c = (emb[torch.tensor(ix, dtype=torch.long)] for ix in (gi, oi, pi, ci))
        scalars = torch.cat([scalar_features(ctx) for ctx in contexts])
        feats = [g * c, o * c, p * c, c]
        if k_mem:
            # window texts -> (B, k, 2d), padding rows are zero vectors; GRU's last state per context
            padded = torch.cat([emb, torch.zeros(1, emb.shape[1])])
            win = padded[torch.tensor(wi, dtype=torch.long)].reshape(len(contexts), k_mem, 2 * emb.shape[1])
            _, h = self.memory(win)
            m = h[-1].repeat_interleave(torch.tensor(sizes), dim=0)
            feats.append(m * c)
        x = torch.cat([*feats, scalars], dim=1)
        logits = self.mlp(x).squeeze(1) + self.linear(scalars).squeeze(1)
        return list(torch.split(logits, sizes))
