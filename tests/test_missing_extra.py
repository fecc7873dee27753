"""MissingExtraError lives with the other sqsim errors; sqsim.nn keeps the old name as an alias."""

import pytest

import sqsim
import sqsim.nn
from sqsim import MissingExtraError, SQSimError
from sqsim.nn import _jax


def test_missing_extra_error_is_a_public_sqsim_error():
    assert "MissingExtraError" in sqsim.__all__
    assert sqsim.nn.MissingExtraError is MissingExtraError  # the alias is the same class
    assert issubclass(MissingExtraError, SQSimError) and issubclass(MissingExtraError, ImportError)
    assert MissingExtraError.__module__ == "sqsim._errors"


def test_missing_extra_error_raised_with_the_install_hint():
    with pytest.raises(MissingExtraError, match=r"pip install 'sqsim\[nn\]'") as info:
        _jax._load("sqsim_no_such_module_xyz", "a test")
    assert isinstance(info.value, ImportError)  # `except ImportError` keeps working
