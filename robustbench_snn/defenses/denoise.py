"""Background-activity filtering of event data (DVS-Attacks' defence).

Marchisio et al., "DVS-Attacks: Adversarial Attacks on Dynamic Vision Sensors
for Spiking Neural Networks" (IJCNN 2021), defend event-based SNNs with the
spatio-temporal background-activity filter of the DVS literature (Delbruck,
2008): an event is kept only if another event fell near it, in space and time,
just before. Isolated events -- sensor noise, and many injected ones -- are
dropped. The mechanism lives in the ``events`` encoder of ``denoise-snn``
(:class:`robustbench_snn.core.encoders.EventEncoder` with ``denoise=True``); training
is ordinary BPTT through the filter, so the network learns on filtered events.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..core.errors import UserInputError
from .base import Defense, register_defense, require_encoder


@register_defense("denoise")
@dataclasses.dataclass
class Denoise(Defense):
    """Cross-entropy through the background-activity filter."""

    paper = "Marchisio et al., DVS-Attacks, IJCNN 2021 (background-activity filter; Delbruck 2008)"

    def check(self, model: nn.Module, model_name: str) -> None:
        require_encoder(self.name, model, model_name, "events", "event-frame", "denoise-snn")
        if not getattr(model.encoder, "denoise", False):
            raise UserInputError(f"defense 'denoise' needs the events encoder with its filter on; {model_name!r} has it off: use denoise-snn")
