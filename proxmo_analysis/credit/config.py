"""Typed configurations of the credit-assignment methods, with the papers' defaults.

Fields left at ``None`` take the default of the chosen ``variant``: ``"paper"`` (the formulas of the
ProxMO / GiGPO papers, spec §2-§4.3) or ``"reference"`` (the released ProxMO code, spec §4.4). An
explicit value always wins over the variant's default, so ``ProxMOConfig(variant="reference", psc=False)``
is the reference code with PSC switched off.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from proxmo_analysis.checks import check_bool as _check_bool
from proxmo_analysis.checks import check_choice as _check_choice
from proxmo_analysis.checks import check_number as _check_number
from proxmo_analysis.errors import InputError

Variant = Literal["paper", "reference"]
StdKind = Literal["population", "sample"]
EpisodeNorm = Literal["trajectory", "row"]
Candidates = Literal["same_step", "all_steps"]
TfidfScope = Literal["batch", "group"]

#: the reference scripts give PSC's beta as a "target range": beta = range / (sigmoid(1) - 0.5)
PSC_RANGE_DENOMINATOR = 1.0 / (1.0 + math.exp(-1.0)) - 0.5


def beta_from_target_range(target_range: float) -> float:
    """PSC's beta from the reference code's ``psc_target_range`` (0.05 -> 0.2164)."""
    return target_range / PSC_RANGE_DENOMINATOR


class MethodConfig:
    """Base of every method's config dataclass: variant defaults, a JSON-ready dict of the resolved values.

    A new method's config subclasses it (``@dataclass(frozen=True) class MyConfig(MethodConfig)``) and
    validates its fields in ``__post_init__``; ``to_dict`` goes into the ``proxmo.credit`` metadata."""

    _VARIANT_DEFAULTS: dict[str, dict[str, Any]] = {"paper": {}, "reference": {}}

    def _resolve(self) -> None:
        _check_choice("variant", getattr(self, "variant", "paper"), ("paper", "reference"))
        defaults = self._VARIANT_DEFAULTS[getattr(self, "variant", "paper")]
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The resolved parameters, JSON-serialisable (written to the ``proxmo.credit`` metadata)."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        return out


_Config = MethodConfig  # the earlier private name


@dataclass(frozen=True)
class ReturnConfig(MethodConfig):
    """Settings shared by every method: how step rewards and returns are formed.

    Used as is by ``grpo_mean`` and ``rloo``.
    """

    gamma: float = 0.95
    """discount of the step returns R_t = sum_k gamma^(k-t) r_k (spec §1)"""
    invalid_penalty: float = 0.0
    """subtracted from r_t on rows whose action was invalid (0 offline, 0.1 in the reference setup)"""

    def __post_init__(self) -> None:
        _check_number("gamma", self.gamma, low=0.0, high=1.0)
        _check_number("invalid_penalty", self.invalid_penalty)


@dataclass(frozen=True)
class GRPOConfig(ReturnConfig):
    """GRPO: ``(R_i - mean) / (std + epsilon)`` over the N trajectories of a task group (spec §2)."""

    std: StdKind = "population"
    """``population`` (1/N, the ProxMO paper) or ``sample`` (1/(N-1), torch.std in the reference code)"""
    epsilon: float = 1e-6
    """added to the std before dividing"""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("std", self.std, ("population", "sample"))
        _check_number("epsilon", self.epsilon, low=0.0)


@dataclass(frozen=True)
class GiGPOConfig(MethodConfig):
    """GiGPO: episode part plus exact anchor-state step groups (spec §3).

    ``variant="reference"`` is the released ProxMO code's ``mean_norm`` / ``mean_std_norm`` modes:
    episode mean (and sample std) over the task group's *step rows*, rewards ``reward_scale * won`` on the
    last step of a won episode with 0.1 subtracted on invalid rows, sample std in the step groups.
    """

    gamma: float = 0.95
    """discount of the step returns the step groups compare"""
    omega: float = 1.0
    """weight of the step part: A = A_episode + omega * A_step"""
    normalize_std: bool = True
    """divide both parts by their group's std (GiGPO w/ std); False is GiGPO w/o std"""
    std: StdKind | None = None
    """std kind: paper ``population``, reference ``sample``"""
    epsilon: float = 1e-6
    episode_norm: EpisodeNorm | None = None
    """``trajectory`` (each trajectory once, paper) or ``row`` (mean over step rows, reference)"""
    reward_scale: float | None = None
    """None: use the logged ``reward``; a number s: r_t = s * won on the last step (reference: 10)"""
    invalid_penalty: float | None = None
    """paper 0.0, reference 0.1"""
    discount_penalty: bool | None = None
    """paper True: the penalty is part of r_t and is discounted back; reference False: it is subtracted
    from the invalid row's own R_t only"""
    variant: Variant = "paper"

    _VARIANT_DEFAULTS = {
        "paper": {"std": "population", "episode_norm": "trajectory", "invalid_penalty": 0.0,
                  "discount_penalty": True},
        "reference": {"std": "sample", "episode_norm": "row", "reward_scale": 10.0, "invalid_penalty": 0.1,
                      "discount_penalty": False},
    }

    def __post_init__(self) -> None:
        self._resolve()
        _check_number("gamma", self.gamma, low=0.0, high=1.0)
        _check_number("omega", self.omega)
        _check_bool("normalize_std", self.normalize_std)
        _check_bool("discount_penalty", self.discount_penalty)
        _check_choice("std", self.std, ("population", "sample"))
        _check_number("epsilon", self.epsilon, low=0.0)
        _check_choice("episode_norm", self.episode_norm, ("trajectory", "row"))
        if self.reward_scale is not None:
            _check_number("reward_scale", self.reward_scale, low=0.0, strict=True)
        _check_number("invalid_penalty", self.invalid_penalty)


@dataclass(frozen=True)
class ProxMOConfig(MethodConfig):
    """ProxMO (arXiv 2602.19225): PSC-modulated episode advantage plus PSA soft step baseline (spec §4).

    Paper defaults: alpha 4, beta 0.1, tau 0.1, gamma 0.95, omega 1, both mechanisms on, ``same_step``
    candidates, binary outcomes (``won``), population std, TF-IDF fitted per iteration with no feature cap.
    ``variant="reference"`` switches to the released code (spec §4.4): episode mean over step rows without
    std, rewards on the 10 scale with 0.1 invalid penalty, p = clamped row mean, success = score > 0.5,
    beta from target range 0.05, ``all_steps`` candidates, max_features 1024, extra L2 norm with +1e-8.
    """

    alpha: float = 4.0
    """PSC steepness"""
    beta: float | None = None
    """PSC strength; paper 0.1, reference beta_from_target_range(0.05) = 0.2164"""
    target_range: float | None = None
    """if given (and beta is not), beta = target_range / (sigmoid(1) - 0.5); reference 0.05"""
    tau: float = 0.1
    """PSA softmax temperature (tau -> 0: exact grouping, tau -> inf: candidate mean)"""
    gamma: float = 0.95
    omega: float = 1.0
    psc: bool = True
    """episode-level modulation on (False: the paper's w/o PSC ablation)"""
    psa: bool = True
    """step-level soft aggregation on (False: episode part only, the w/o PSA ablation)"""
    candidates: Candidates | None = None
    """``same_step`` (paper equations) or ``all_steps`` (reference code)"""
    episode_norm: EpisodeNorm | None = None
    """``trajectory`` (paper) or ``row`` (reference: length-weighted mean over step rows)"""
    normalize_std: bool | None = None
    """episode part divided by the population std (paper True, reference False)"""
    std: StdKind = "population"
    epsilon: float = 1e-6
    reward_scale: float | None = None
    """None (paper): outcomes are won in {0,1} and step returns use the logged ``reward``;
    a number s (reference 10): outcome s * won, r_t = s * won on the last step of the episode"""
    invalid_penalty: float | None = None
    """paper 0.0, reference 0.1 (subtracted on invalid rows, from r_t or R_t and from the row score)"""
    discount_penalty: bool | None = None
    """paper True: the penalty is part of r_t and is discounted back; reference False: it is subtracted
    from the invalid row's own R_t only"""
    success_threshold: float = 0.5
    """a row / trajectory counts as a success when its score exceeds this"""
    similarity: str = "tfidf"
    """``tfidf`` (scikit-learn analyser) or ``minilm`` (all-MiniLM-L6-v2 sentence embeddings, offline)"""
    tfidf_scope: TfidfScope = "batch"
    """fit IDF per iteration over all groups (``batch``, as the reference) or per task group (``group``)"""
    max_features: int | None = None
    """TF-IDF vocabulary cap; paper 0 (= no cap), reference 1024"""
    norm_eps: float | None = None
    """extra L2 normalisation v / (|v| + norm_eps) after scikit-learn's; paper 0 (none), reference 1e-8"""
    variant: Variant = "paper"

    _VARIANT_DEFAULTS = {
        "paper": {
            "beta": 0.1, "candidates": "same_step", "episode_norm": "trajectory", "normalize_std": True,
            "invalid_penalty": 0.0, "discount_penalty": True, "max_features": 0, "norm_eps": 0.0,
        },
        "reference": {
            "target_range": 0.05, "candidates": "all_steps", "episode_norm": "row", "normalize_std": False,
            "reward_scale": 10.0, "invalid_penalty": 0.1, "discount_penalty": False, "max_features": 1024,
            "norm_eps": 1e-8,
        },
    }

    def __post_init__(self) -> None:
        if self.beta is not None and self.target_range is not None:
            raise InputError("give either beta or target_range, not both")
        explicit_beta = self.beta is not None
        self._resolve()
        if not explicit_beta and self.target_range is not None:
            _check_number("target_range", self.target_range, low=0.0)
            object.__setattr__(self, "beta", beta_from_target_range(self.target_range))
        elif self.beta is None:  # reference variant with an explicit beta=None never reaches here
            object.__setattr__(self, "beta", 0.1)
        _check_number("alpha", self.alpha, low=0.0)
        _check_number("beta", self.beta)
        _check_number("tau", self.tau, low=0.0, strict=True)
        _check_number("gamma", self.gamma, low=0.0, high=1.0)
        _check_number("omega", self.omega)
        for name in ("psc", "psa", "normalize_std", "discount_penalty"):
            _check_bool(name, getattr(self, name))
        _check_choice("candidates", self.candidates, ("same_step", "all_steps"))
        _check_choice("episode_norm", self.episode_norm, ("trajectory", "row"))
        _check_choice("std", self.std, ("population", "sample"))
        _check_number("epsilon", self.epsilon, low=0.0)
        if self.reward_scale is not None:
            _check_number("reward_scale", self.reward_scale, low=0.0, strict=True)
        _check_number("invalid_penalty", self.invalid_penalty)
        _check_number("success_threshold", self.success_threshold)
        _check_choice("similarity", self.similarity, ("tfidf", "minilm"))
        _check_choice("tfidf_scope", self.tfidf_scope, ("batch", "group"))
        if isinstance(self.max_features, bool) or not isinstance(self.max_features, int) or self.max_features < 0:
            raise InputError(f"max_features must be an int >= 0 (0 = no cap), got {self.max_features!r}")
        _check_number("norm_eps", self.norm_eps, low=0.0)
