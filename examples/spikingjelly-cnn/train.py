"""Train the SpikingJelly example on digits: python examples/spikingjelly-cnn/train.py"""

import sys
from pathlib import Path

from spikingjelly.activation_based import functional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from digits_training import train  # noqa: E402

train(Path(__file__).parent, reset=functional.reset_net, epochs=20)
