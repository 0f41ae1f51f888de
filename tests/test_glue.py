"""vxglib.glue stores numbers quoted in the text as plain, rounded Python values."""
import numpy as np
import pytest

import vxglib


@pytest.fixture
def stored(monkeypatch):
    import myst_nb

    calls = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: calls.__setitem__(name, value))
    return calls


def test_floats_are_rounded_to_significant_digits(stored):
    vxglib.glue("a", np.float32(2081.667104891435))
    vxglib.glue("b", 5.2852930981909526e-05)
    vxglib.glue("c", 0.123456789, digits=3)
    assert stored == {"a": 2081.67, "b": 5.28529e-05, "c": 0.123}
    assert type(stored["a"]) is float


def test_integers_and_other_values_pass_through(stored):
    vxglib.glue("n", np.int64(35))
    vxglib.glue("flag", True)
    vxglib.glue("text", "diverged at step 4")
    assert stored == {"n": 35, "flag": True, "text": "diverged at step 4"}
    assert type(stored["n"]) is int
