"""Modules of the user's own code for the PyTorch flavor's tests (importable by reference)."""

from __future__ import annotations

import torch


class TinyNet(torch.nn.Module):
    """Records its constructor's arguments as `init_kwargs`, as the flavor looks for."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 8) -> None:
        super().__init__()
        self.init_kwargs = {"n_in": n_in, "n_out": n_out, "hidden": hidden}
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class NoRecord(torch.nn.Module):
    """Needs an argument it does not record."""

    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
