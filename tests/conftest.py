"""Fixtures shared by the test modules: the pkpd models, one per hysteresis variant."""

import pytest

from occupancy.models import get_model
from occupancy.models.pkpd_base import HYSTERESIS


@pytest.fixture(scope="module", params=HYSTERESIS)
def ntx(request):
    """The naltrexone pkpd model, each hysteresis variant with its own fitted parameters."""
    return get_model("naltrexone", "pkpd", hysteresis=request.param)


@pytest.fixture(scope="module", params=HYSTERESIS)
def nlx(request):
    """The naloxone pkpd model, each hysteresis variant with its own fitted parameters."""
    return get_model("naloxone", "pkpd", hysteresis=request.param)


@pytest.fixture
def stderr_is_terminal(monkeypatch):
    """Make captured stderr (pytest's capsys and click's CliRunner) claim to be a terminal.

    Progress bars show only on a terminal (tqdm ``disable=None``); tests that check a bar appears use this.
    """
    import sys

    import click.testing

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    monkeypatch.setattr(type(sys.stderr), "isatty", lambda self: True, raising=False)
