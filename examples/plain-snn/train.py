"""Train the plain-PyTorch example on digits: python examples/plain-snn/train.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from digits_training import train  # noqa: E402

train(Path(__file__).parent, epochs=30)
