"""Train the snntorch example on digits: python examples/snntorch-cnn/train.py"""

import sys
from pathlib import Path

from snntorch import utils

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from digits_training import train  # noqa: E402

train(Path(__file__).parent, reset=lambda model: utils.reset(model.net), epochs=25)
