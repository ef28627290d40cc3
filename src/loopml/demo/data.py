"""Seeded card transactions whose fraud pattern drifts: the demo's data, made on the spot.

Two regimes. In the `old` one, fraud is large amounts at night through the web shop. In the
`new` one, amounts have grown (prices rose) and fraudsters moved to the app, so a model that
learned the old pattern misses much of the new fraud. `chargeback_filed` is known only weeks
after a payment: historical rows carry it, live requests always send 0 (a label leak that looks
great offline and fails online).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["amount", "hour", "age", "tenure_months", "channel", "chargeback_filed"]
LABEL = "is_fraud"
CHANNELS = np.array(["web", "app", "store"])


def transactions(n: int, *, regime: str = "old", seed: int = 0, live: bool = False) -> pd.DataFrame:
    """`n` labelled transactions of the `old` or `new` regime; `live` zeroes the leak."""
    if regime not in ("old", "new"):
        raise ValueError(f"regime must be 'old' or 'new', got {regime!r}")
    rng = np.random.default_rng(seed)
    new = regime == "new"
    amount = rng.lognormal(4.3 if new else 3.6, 0.7, n).round(2)
    hour = rng.integers(0, 24, n)
    age = rng.integers(18, 80, n)
    tenure = rng.integers(0, 120, n)
    channel = CHANNELS[rng.choice(3, n, p=[0.3, 0.5, 0.2] if new else [0.45, 0.3, 0.25])]
    night = (hour < 6) | (hour >= 22)
    if new:
        score = 1.8 * (np.log(amount) - 4.6) + 2.2 * (channel == "app") - 0.02 * tenure + 0.4
    else:
        score = 1.8 * (np.log(amount) - 3.9) + 2.0 * night + 1.6 * (channel == "web") - 1.4
    score = score - 0.015 * (age - 45) + rng.normal(0, 0.6, n)
    fraud = (score > 0.8).astype(int)
    leak = np.where(fraud == 1, rng.random(n) < 0.95, rng.random(n) < 0.02).astype(int)
    frame = pd.DataFrame({
        "amount": amount, "hour": hour, "age": age, "tenure_months": tenure,
        "channel": channel, "chargeback_filed": 0 if live else leak, LABEL: fraud,
    })  # fmt: skip
    return frame
