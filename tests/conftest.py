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
