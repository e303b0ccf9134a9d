"""Attacks, importable as ``robustbench_snn.attacks``.

Every attack has the signature
``attack(model, x, y, ball, *, steps, alpha, random_start, eot) -> x_adv``
(:mod:`.contract`, which also handles the empty ball once for all) and declares
its :class:`~.spec.AttackSpec` where it is defined, registering itself in
:data:`ATTACKS` for ``rbsnn eval --attack``. Importing this package imports
every module in this folder: adding an attack is adding one file here.
"""

import importlib
import pkgutil

from .contract import AttackFn, attack
from .norms import NORMS, EventBall, L2Ball, LinfBall, NormBall, make_ball
from .pgd import default_alpha
from .spec import ATTACKS, PIXEL_NORMS, AttackSpec, check_norm, register_attack

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ATTACKS", "AttackFn", "AttackSpec", "EventBall", "L2Ball", "LinfBall", "NORMS", "NormBall", "PIXEL_NORMS", "attack",
    "check_norm", "default_alpha", "make_ball", "register_attack",
]
